"""One progress bar over the whole DIP run: named after the task, counting optimisation steps (also
across a resume), with short metric names, and refreshed every `refresh_rate` steps or every few
seconds, whichever comes first, so that a slow run shows its rate and time left from the start."""

import sys
import time

import pytorch_lightning as pl
from pytorch_lightning.callbacks import TQDMProgressBar
from pytorch_lightning.callbacks.progress.tqdm_progress import Tqdm

from dip_lightning.limits import check_limits, integer

MAX_SECONDS_BETWEEN_UPDATES = 2.0


class DipProgressBar(TQDMProgressBar):
    limits = {"refresh_rate": integer(0)}  # 0: no bar

    def __init__(self, refresh_rate: int):
        check_limits(self, refresh_rate=refresh_rate)
        super().__init__(refresh_rate=refresh_rate)
        self.last_update = 0.0

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.train_progress_bar = Tqdm(
            desc=getattr(module, "name", "fit"),
            total=trainer.max_steps,
            initial=trainer.global_step,
            disable=self.is_disabled,
            dynamic_ncols=True,
            file=sys.stdout,
            smoothing=0,
            bar_format=self.BAR_FORMAT,
        )
        self.last_update = time.monotonic()

    def on_train_epoch_start(self, trainer: pl.Trainer, *_) -> None:
        """A run is one epoch: the bar made at the start of training stays."""

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        step, now = trainer.global_step, time.monotonic()
        due = self._should_update(step, trainer.max_steps) or now - self.last_update > MAX_SECONDS_BETWEEN_UPDATES
        if self.train_progress_bar is not None and not self.train_progress_bar.disable and (due or step == 1):
            self.train_progress_bar.n = step
            self.train_progress_bar.set_postfix(self.get_metrics(trainer, module))  # also redraws the bar
            self.last_update = now

    def get_metrics(self, trainer: pl.Trainer, module: pl.LightningModule) -> dict:
        """The PSNRs only, under their own names (the loss and the step are in the log)."""
        metrics = super().get_metrics(trainer, module)
        return {name: value for name, value in metrics.items() if name.startswith("psnr")}
