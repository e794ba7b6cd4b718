"""The DIP loop itself: averaging, input noise, backtracking, NaN, interruption, optimizers."""

import json
import math
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from conftest import TINY_NET

from dip_lightning.build import build_module
from dip_lightning.fitting.backtracking import Backtracking
from dip_lightning.fitting.metrics import psnr_from_mse
from dip_lightning.losses.loss import Loss, LossTerms
from dip_lightning.train import run


def test_psnr_from_mse():
    assert psnr_from_mse(0.01) == pytest.approx(20.0)
    assert psnr_from_mse(0.0) == math.inf
    assert math.isnan(psnr_from_mse(float("nan")))


def test_backtracking_restores_the_last_good_parameters():
    weight = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    guard = Backtracking(drop_db=5.0)
    assert not guard.check(0.01, [weight])  # 20 dB: remembered
    with torch.no_grad():
        weight.add_(10)
    assert not guard.check(0.02, [weight])  # 17 dB: a drop of 3 dB is allowed, remembered
    with torch.no_grad():
        weight.mul_(100)
    weight.grad = torch.ones(2)
    assert guard.check(0.2, [weight])  # 7 dB: restore
    assert weight.tolist() == [11.0, 12.0]
    assert weight.grad is not None  # the reference still applies this step's gradient
    assert guard.check(float("nan"), [weight])
    assert weight.grad is None and guard.restores == 2


def test_output_average_is_the_exponential_average_of_the_outputs(configure):
    module = build_module(configure("task.num_iter=3", *TINY_NET, "prior.reg_noise_std=0"))
    outputs = []

    class Record(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, batch_outputs, batch, batch_idx):
            outputs.append(batch_outputs["output"].clone())

    pl.Trainer(
        max_steps=3,
        logger=False,
        callbacks=[Record()],
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    ).fit(module)
    expected = outputs[0]
    for output in outputs[1:]:
        expected = expected * 0.99 + output * 0.01
    assert torch.allclose(module.outputs.output_avg, expected, atol=1e-6)
    assert not torch.equal(outputs[0], outputs[1])


def test_input_noise_is_redrawn_every_step_and_seeded(configure):
    prior = build_module(configure("prior.reg_noise_std=0.05")).prior
    prior.net = torch.nn.Identity()  # to see the perturbed input itself
    generator = torch.Generator().manual_seed(1)
    first, second = prior(prior.z, generator), prior(prior.z, generator)
    assert not torch.equal(first, second)
    assert (first - prior.z).std().item() == pytest.approx(0.05, rel=0.05)
    assert torch.equal(prior(prior.z), prior.z)  # no generator: the clean input
    assert torch.equal(first, prior(prior.z, torch.Generator().manual_seed(1)))


def nan_from_step(monkeypatch, step: int, every_step: bool) -> None:
    """Make the loss NaN at the `step`-th call (and every later one with `every_step`)."""
    original, calls = Loss.forward, []

    def forward(self, network, observed, operator, generator, weight=None):
        calls.append(None)
        terms = original(self, network, observed, operator, generator, weight)
        if len(calls) == step + 1 or (every_step and len(calls) > step):
            return LossTerms(terms.total * float("nan"), terms.data * float("nan"), {}, terms.output)
        return terms

    monkeypatch.setattr(Loss, "forward", forward)


def test_nan_loss_stops_with_advice_and_keeps_what_was_done(configure, tmp_path, monkeypatch):
    cfg = configure("task.num_iter=10", *TINY_NET, "task.backtrack_db=null")
    nan_from_step(monkeypatch, 4, every_step=True)
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        run(cfg)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["status"].startswith("failed: FloatingPointError")
    assert results["steps"] == 4 and results["psnr_avg"] is not None


def test_backtracking_recovers_from_a_nan_loss(fit, monkeypatch):
    nan_from_step(monkeypatch, 4, every_step=False)
    results = fit("task.num_iter=8", *TINY_NET, "task.backtrack_db=5")
    assert results["status"] == "finished" and results["backtracks"] == 1
    assert math.isfinite(results["psnr"])


class Interrupt(pl.Callback):
    """Presses Ctrl-C after the third step."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == 3:
            raise KeyboardInterrupt


def test_interrupted_run_saves_its_result(configure, tmp_path):
    cfg = configure("task.num_iter=10", *TINY_NET, "+callbacks.interrupt._target_=test_loop.Interrupt")
    with pytest.raises(SystemExit):
        run(cfg)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["status"] == "interrupted" and results["steps"] == 3
    assert (tmp_path / "run" / "restored_avg.png").is_file()


class PeekResults(pl.Callback):
    """Reads results.json at the start of every step, as another program could during a run."""

    seen: list[tuple[int, str, int]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        path = Path(trainer.default_root_dir) / "results.json"
        if path.is_file():
            record = json.loads(path.read_text())
            PeekResults.seen.append((trainer.global_step, record["status"], record["steps"]))


def test_snapshots_are_written_while_running(fit):
    PeekResults.seen.clear()
    fit("task.num_iter=5", *TINY_NET, "save_every=2", "+callbacks.peek._target_=test_loop.PeekResults")
    assert PeekResults.seen == [(2, "running", 2), (3, "running", 2), (4, "running", 4)]


def test_lbfgs_option_keeps_fitting_after_its_adam_warm_up(fit):
    common = ["optimizer=lbfgs", "optimizer.warmup_steps=3", *TINY_NET, "prior.reg_noise_std=0"]
    warmed_up = fit(*common, "task.num_iter=3")
    results = fit(*common, "task.num_iter=15")
    assert results["steps"] == 15
    assert results["psnr_observed"] > warmed_up["psnr_observed"] + 0.2


def test_learning_rate_schedule_is_stepped_every_step(configure):
    module = build_module(
        configure("scheduler=step", "scheduler.step_size=2", "scheduler.gamma=0.1", "task.num_iter=4", *TINY_NET)
    )
    trainer = pl.Trainer(
        max_steps=4, logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False
    )
    trainer.fit(module)
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.01 * 0.1**2)


def test_warm_up_rises_linearly_to_the_learning_rate(configure):
    cfg = configure("scheduler=warmup", "scheduler.total_iters=4", "task.num_iter=2", *TINY_NET)
    module = build_module(cfg)
    quiet = dict(logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
    trainer = pl.Trainer(max_steps=2, **quiet)
    trainer.fit(module)
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.01 * (0.1 + 0.9 * 2 / 4))
