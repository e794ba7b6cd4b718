"""The one stopping callback: it runs a stopping criterion (stopping/criterion.py) inside a Lightning fit.

The rules, each a criterion chosen by `stopping=...` (conf/stopping/):
- `LowestVariance` (wmv, emv): ES-WMV / ES-EMV, without ground truth, gated by held-out pixels by default;
- `LowestHeldOutError` (validation, and auto's choice on a user's photo): held-out validation;
- `BestAgainstGroundTruth` (oracle): for research only, it reads the ground truth."""

import pytorch_lightning as pl
import torch

from dip_lightning.fitting.metrics import psnr_from_mse
from dip_lightning.stopping.criterion import StoppingCriterion


class StoppingCallback(pl.Callback):
    """Gives the criterion each step with a new output (an undone step brings none), logs what it
    reports, keeps what it chooses in the module's outputs (fitting/outputs.py), stops the fit when it
    says so (results.json's stop_reason is its `reason`), and saves its state in the checkpoint. One host
    synchronisation a step: the decision's flags and logged values in one transfer."""

    def __init__(self, criterion: StoppingCriterion):
        self.criterion = criterion

    def setup(self, trainer: pl.Trainer, module, stage: str) -> None:
        self.criterion.setup(module)

    def on_train_start(self, trainer: pl.Trainer, module) -> None:
        module.outputs.rule = self.criterion.start(module)

    def on_train_batch_end(self, trainer: pl.Trainer, module, outputs, batch, batch_idx: int) -> None:
        if outputs is None or not any(outputs["valid"]):
            return
        step, output = module.outputs.step, outputs["output"]
        decision = self.criterion.decide(step, output, outputs["output_avg"], trainer.should_stop)
        flags = [decision.keep_output, decision.keep_average]
        flags = [torch.zeros((), dtype=torch.bool) if flag is None else flag.any() for flag in flags]
        flags.append(torch.as_tensor(decision.stop))
        logged = {**decision.errors, **decision.values}
        values = [value.to(output.device).double() for value in (*flags, *logged.values())]
        keep_output, keep_average, stop, *statistics = torch.stack(values).tolist()  # the one host sync
        for name, value in zip(logged, statistics, strict=True):  # why it stops, in every logger and on curves.png
            module.log(name, psnr_from_mse(value) if name in decision.errors else value)
        if keep_output:
            module.outputs.keep(decision.keep_output, ("output",), average_waits=decision.average_waits)
        if keep_average:
            module.outputs.keep(decision.keep_average, ("output_avg",))
        if stop:
            module.outputs.stop_reason = self.criterion.reason()
            trainer.should_stop = True

    def state_dict(self) -> dict:
        return self.criterion.state_dict()

    def load_state_dict(self, state_dict: dict) -> None:
        self.criterion.load_state_dict(state_dict)
