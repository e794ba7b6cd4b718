"""Checkpoints for resuming a run killed half way (even by SIGKILL): everything the fit needs to go on
exactly as if it had never stopped, written atomically every few steps and on SIGTERM (which stops a
run between two steps; Ctrl-C may land inside one, so it keeps the last periodic checkpoint); removed
once the run has finished."""

import logging
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.utilities.exceptions import SIGTERMException

from dip_lightning.run.folder import CHECKPOINT_FILE

log = logging.getLogger(__name__)


class Checkpointer(pl.Callback):
    def __init__(self, dirpath: str | Path, every_n_steps: int | None):
        self.path = Path(dirpath) / CHECKPOINT_FILE
        self.every_n_steps = every_n_steps

    def save(self, trainer: pl.Trainer) -> None:
        try:
            trainer.save_checkpoint(
                self.path, weights_only=False
            )  # Lightning writes to a temporary file, then renames it
        except OSError as error:
            log.error(f"cannot write the checkpoint {self.path}: {error}")

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if self.every_n_steps and step % self.every_n_steps == 0 and step < trainer.max_steps:
            self.save(trainer)

    def on_exception(self, trainer: pl.Trainer, module: pl.LightningModule, exception: BaseException) -> None:
        if self.every_n_steps and isinstance(exception, SIGTERMException):
            self.save(trainer)
        if self.path.is_file():
            log.warning(f"resume it with: python -m dip_lightning resume {self.path.parent}")

    def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError as error:  # the folder went away: the results writer says where the result is
            log.warning(f"cannot remove {self.path}: {error}")
