"""Writes the run's record at the end, every few steps on the way, and when the run is interrupted
or fails, so that a finished (or partly finished) restoration is never lost."""

import logging
import time
from pathlib import Path

import pytorch_lightning as pl

from dip_lightning.results import RESULTS_FILE, write_results

log = logging.getLogger(__name__)


class ResultWriter(pl.Callback):
    def __init__(self, dirpath: str | Path, record: dict, every_n_steps: int | None = 500):
        """record: fields that describe the run (task, arch, image, seed...), copied into results.json."""
        self.dirpath = Path(dirpath)
        self.record = dict(record)
        self.every_n_steps = every_n_steps
        self.started = None
        self.results: dict | None = None

    def write(self, trainer: pl.Trainer, module: pl.LightningModule, status: str) -> dict:
        record = {
            **self.record,
            "status": status,
            "seconds": round(time.perf_counter() - self.started, 3),
            "device": str(module.device),
            "precision": str(trainer.precision),
        }
        self.results = write_results(module, self.dirpath, record)
        return self.results

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.started = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if self.every_n_steps and step % self.every_n_steps == 0 and step < trainer.max_steps:
            self.write(trainer, module, "running")

    def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        results = self.write(trainer, module, "finished")
        log.info("results in %s: %s", self.dirpath / RESULTS_FILE, _summary(results))

    def on_exception(self, trainer: pl.Trainer, module: pl.LightningModule, exception: BaseException) -> None:
        if self.started is None or module.output is None:
            return
        interrupted = isinstance(exception, KeyboardInterrupt) or type(exception).__name__ == "SIGTERMException"
        status = "interrupted" if interrupted else f"failed: {type(exception).__name__}: {exception}"
        self.write(trainer, module, status)
        log.warning("run %s at step %d; what it had is saved in %s", status, trainer.global_step, self.dirpath)


def _summary(results: dict) -> str:
    keys = ("psnr_input", "psnr", "psnr_avg", "psnr_observed", "steps", "seconds")
    return ", ".join(f"{key}={results[key]}" for key in keys if results.get(key) is not None)
