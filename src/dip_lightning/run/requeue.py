"""A job that its scheduler stops and starts again loses nothing. SLURM requeues a job it preempts (or
that `scontrol requeue` names), and submitit, the SLURM launcher, requeues one that reaches its time
limit (hydra.launcher.max_num_timeout times); Ray starts a task again on another node when its node
dies. Each time the job's command starts from the beginning, in the same run folder. So:

- every checkpoint holds the config of its run, and a run whose folder holds a checkpoint of its own
  config goes on from it by itself, as `python -m dip_lightning resume` does by hand; a checkpoint of
  another config is refused in one line (two runs must not share a folder);
- SIGTERM, which SLURM sends on preemption and requeue, already stops the fit after its step with a
  checkpoint (Lightning's handler and callbacks/checkpointer.py);
- the warning SLURM sends `signal_delay_s` before the time limit (SIGUSR2, as submitit asks) is turned
  into that same stop, and only then handed to submitit's own handler, which requeues the job (counting
  max_num_timeout) and ends it. Alone, submitit's handler would requeue at once, in the middle of a step,
  losing the steps since the last periodic checkpoint.

Lightning's own SLURM requeue (its SLURMEnvironment, on SIGUSR1) stays idle: submitit sends SIGUSR2, and
where SUBMITIT_PREEMPT_SIGNAL names another signal, submitit's handler is there first and Lightning
leaves it to submitit."""

import logging
import os
import signal
import threading
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from dip_lightning.errors import InputError
from dip_lightning.run.folder import CHECKPOINT_FILE
from dip_lightning.run.tracking import flatten

log = logging.getLogger(__name__)

CONFIG_KEY = "dip_lightning_config"  # the run's config, in each checkpoint
NOT_COMPARED = ("hydra", "resume", "output_dir")  # where a run writes and what it resumes: not its config
SHOWN_KEYS = 5  # differing keys named in the refusal


def run_config(cfg: DictConfig) -> dict:
    """The resolved settings of a run, the ones its checkpoint must share with a run that goes on from it."""
    return {
        key: OmegaConf.to_container(cfg[key], resolve=True) if OmegaConf.is_config(cfg[key]) else cfg[key]
        for key in cfg
        if key not in NOT_COMPARED
    }


def preempt_signal() -> signal.Signals:
    """The signal submitit asks SLURM to send before the time limit (submitit's own setting, USR2 by default)."""
    return getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"), signal.SIGUSR2)


def resume_own_checkpoint(cfg: DictConfig) -> None:
    """Sets cfg.resume to the checkpoint in the run's folder when it belongs to this config (a job that
    was stopped and started again); refuses one of another config. A resume given on the command line
    (python -m dip_lightning resume) is kept as it is."""
    if cfg.get("resume"):
        return
    path = Path(cfg.output_dir) / CHECKPOINT_FILE
    if not path.is_file():
        return
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:
        raise InputError(
            f"{path} cannot be read ({type(error).__name__}): remove it, or choose another hydra.run.dir"
        ) from None
    saved = checkpoint.get(CONFIG_KEY)
    if saved != run_config(cfg):
        raise InputError(
            f"{path.parent} holds the checkpoint of a run with other settings ({_difference(saved, run_config(cfg))}): "
            "start that run again to go on with it, or choose another hydra.run.dir"
        )
    log.info(f"{path.parent} holds a checkpoint of this run at step {checkpoint.get('global_step')}: going on from it")
    cfg.resume = str(path)


def _difference(saved: dict | None, current: dict) -> str:
    """The checkpoint's values of the keys where it differs: `seed=0, task.sigma=25 there`."""
    if not isinstance(saved, dict):
        return "the checkpoint does not say which: it predates this check"
    before, now = flatten(saved), flatten(current)
    keys = sorted(key for key in before.keys() | now.keys() if before.get(key, "<unset>") != now.get(key, "<unset>"))
    more = f" and {len(keys) - SHOWN_KEYS} more" if len(keys) > SHOWN_KEYS else ""
    return ", ".join(f"{key}={before.get(key, '<unset>')}" for key in keys[:SHOWN_KEYS]) + more + " there"


class Requeue(pl.Callback):
    """Puts the run's config in each checkpoint, and, in a job whose launcher handles the time-limit
    signal (submitit's handler is installed), stops the fit after its step with a checkpoint before
    handing the signal to that handler."""

    def __init__(self, cfg: DictConfig):
        self.config = run_config(cfg)
        self.signal = preempt_signal()
        self._launcher_handler = None  # submitit's handler of the signal, while the fit has replaced it
        self._received: int | None = None

    def on_save_checkpoint(self, trainer: pl.Trainer, module: pl.LightningModule, checkpoint: dict) -> None:
        checkpoint[CONFIG_KEY] = self.config

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        handler = signal.getsignal(self.signal)
        if callable(handler) and threading.current_thread() is threading.main_thread():
            self._launcher_handler = handler
            signal.signal(self.signal, self._stop_after_step)

    def _stop_after_step(self, signum: int, frame) -> None:
        log.warning(f"{signal.Signals(signum).name}: the job's time is nearly up; it stops after this step")
        self._received = signum
        os.kill(os.getpid(), signal.SIGTERM)  # Lightning's way to stop after a step; the checkpointer saves

    def on_exception(self, trainer: pl.Trainer, module: pl.LightningModule, exception: BaseException) -> None:
        handler = self._restore()
        if self._received is None or handler is None:
            return
        for logger in trainer.loggers:  # Lightning would do it after this hook, which the handler ends
            logger.finalize("failed")
        log.warning("checkpoint saved: the launcher requeues the job, which goes on from it")
        handler(self._received, None)  # submitit: requeues the job (or says why not) and exits

    def teardown(self, trainer: pl.Trainer, module: pl.LightningModule, stage: str) -> None:
        self._restore()

    def _restore(self):
        handler, self._launcher_handler = self._launcher_handler, None
        if handler is not None and threading.current_thread() is threading.main_thread():
            signal.signal(self.signal, handler)
        return handler
