"""Writes the run's record at the end, every few steps on the way, and when the run is interrupted
or fails, so that a finished (or partly finished) restoration is never lost: if the run's folder
cannot be written, the record goes to a rescue folder and the log says where."""

import logging
import os
import socket
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pytorch_lightning as pl
import torch

from dip_lightning.run.folder import RESULTS_FILE
from dip_lightning.run.record import write_results
from dip_lightning.run.results import RunRecord

log = logging.getLogger(__name__)


def rescue_folder(folder: Path) -> Path:
    """Where a run's record goes when its own folder cannot be written."""
    return Path(tempfile.gettempdir()) / "dip_lightning-rescued" / f"{folder.name}_{os.getpid()}"


class ResultWriter(pl.Callback):
    def __init__(self, dirpath: str | Path, record: dict, every_n_steps: int | None):
        """record: the RunRecord fields that describe the run (build.describe's task, arch, image, seed...)."""
        self.dirpath = Path(dirpath)
        self.record = dict(record)
        self.every_n_steps = every_n_steps
        self.started: float | None = None
        self.seconds_before = 0.0  # fitting time of the earlier sessions of a resumed run
        self.resumed_from: list[int] = []  # the steps this run was resumed from
        self.results: RunRecord | None = None  # the record last written

    def seconds(self) -> float:
        return self.seconds_before + (time.perf_counter() - self.started if self.started is not None else 0.0)

    def write(self, trainer: pl.Trainer, module: pl.LightningModule, status: str) -> RunRecord:
        """Write the fit's record (run/record.py) with this session's facts: status, time, where it runs."""
        known = {
            **self.record,
            "status": status,
            "seconds": round(self.seconds(), 3),
            "device": str(module.device),
            "precision": str(trainer.precision),
            "threads": torch.get_num_threads(),
            "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "pid": os.getpid(),
            "host": socket.gethostname(),
        }
        if self.resumed_from:
            known["resumed_from"] = self.resumed_from
        try:
            self.results = write_results(module, self.dirpath, known)
        except OSError as error:
            rescue = rescue_folder(self.dirpath)
            log.error(f"cannot write the results to {self.dirpath} ({error}): they go to {rescue} instead")
            self.dirpath = rescue
            self.results = write_results(module, rescue, known)
        return self.results

    def state_dict(self) -> dict:
        return {"seconds": self.seconds(), "resumed_from": list(self.resumed_from)}

    def load_state_dict(self, state_dict: dict) -> None:
        self.seconds_before = state_dict["seconds"]
        self.resumed_from = list(state_dict["resumed_from"])

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.started = time.perf_counter()
        if trainer.global_step > 0:
            self.resumed_from.append(trainer.global_step)
            log.info(f"resumed at step {trainer.global_step} of {trainer.max_steps}")

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if self.every_n_steps and step % self.every_n_steps == 0 and step < trainer.max_steps:
            self.write(trainer, module, "running")

    def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        results = self.write(trainer, module, "finished")
        log.info("results in %s: %s", self.dirpath / RESULTS_FILE, _summary(results))

    def on_exception(self, trainer: pl.Trainer, module: pl.LightningModule, exception: BaseException) -> None:
        interrupted = isinstance(exception, (KeyboardInterrupt, SystemExit))  # Ctrl-C; SIGTERM (SIGTERMException)
        status = "interrupted" if interrupted else f"failed: {type(exception).__name__}: {exception}"
        self.write(trainer, module, status)
        log.warning("run %s at step %d; what it had is saved in %s", status, trainer.global_step, self.dirpath)


def _summary(results: RunRecord) -> str:
    keys = ("psnr_input", "psnr", "psnr_avg", "psnr_observed", "steps", "seconds")
    return ", ".join(f"{key}={getattr(results, key)}" for key in keys if getattr(results, key) is not None)
