"""Entry point: compose the config, build the task's module (physics, prior, loss, optimizer) and the
trainer, fit, record. Bad input is answered in one line (exit 2); a job of a sweep that fails is
recorded as failed and the sweep goes on."""

import functools
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig

from dip_lightning.build import (
    build_module,
    build_stopping,
    describe,
    estimate_noise,
    flat_optimizer,
    plan_tiles,
    read_pictures,
    restarts_batched,
)
from dip_lightning.callbacks.checkpointer import Checkpointer
from dip_lightning.callbacks.result_writer import ResultWriter
from dip_lightning.callbacks.resumed_metrics import ResumedMetrics
from dip_lightning.config.command_line import command_line
from dip_lightning.config.location import config_dir
from dip_lightning.config.resolvers import register_resolvers
from dip_lightning.config.schema import check_config
from dip_lightning.errors import InputError
from dip_lightning.hardware.device import check_accelerator
from dip_lightning.hardware.layout import resolve_memory_format, torch_format
from dip_lightning.hardware.precision import compute_dtype, resolve_precision
from dip_lightning.module import DeepImagePrior
from dip_lightning.reporting.plots import learning_curve
from dip_lightning.run.folder import RESULTS_FILE
from dip_lightning.run.placement import placement
from dip_lightning.run.requeue import Requeue, resume_own_checkpoint
from dip_lightning.run.results import RunRecord
from dip_lightning.run.tracking import log_result, log_setup, quiet_wandb
from dip_lightning.tiled import fit_tile_job, fit_tiles

log = logging.getLogger(__name__)
# Lightning 2.6 with torch >= 2.10 warns about its own use of a deprecated torch API at every fit.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
# A resumed run restarts its one-item dataset mid-epoch: harmless, every item is the same z.
warnings.filterwarnings("ignore", message=r".*resuming from a checkpoint that ended before the epoch ended")
warnings.filterwarnings("ignore", message=r".*Experiment logs directory .* exists and is not empty")
# The last step is always logged (the module stops the trainer there), whatever log_every_n_steps says.
warnings.filterwarnings("ignore", message=r".*is smaller than the logging interval")
# Lightning's hint on every fit where SLURM's tools are installed: the SLURM launcher runs its jobs under srun.
warnings.filterwarnings("ignore", message=r".*The `srun` command is available on your system but is not used")
# Lightning's tips and hardware lines on every run: the run's own log says what is fitted where.
logging.getLogger("pytorch_lightning.utilities.rank_zero").setLevel(logging.WARNING)

EXIT_BAD_INPUT, EXIT_FAILED, EXIT_CTRL_C, EXIT_SIGTERM = 2, 1, 130, 143


def run(cfg: DictConfig, images: dict | None = None, extra_callbacks: Sequence[pl.Callback] = ()) -> dict:
    """Restore one image, whole or in tiles (tiled.py); return its record as results.json holds it (the
    JSON object of run/results.py's RunRecord). The Python API (api.py) gives `images` already in memory
    (see data/run_pictures.py) and callbacks of its own, after the run's."""
    check_accelerator(cfg.trainer.accelerator)  # a device that is not here: one line, before anything is chosen for it
    if where := placement():
        log.info(f"running as {where}")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    pictures = read_pictures(cfg, images)
    estimate_noise(cfg, pictures)  # noise.NAME=auto, from the photo
    precision = resolve_precision(cfg.trainer.precision, cfg.trainer.accelerator)
    tiles = plan_tiles(cfg, pictures, compute_dtype(precision))
    if tiles is None and cfg.tile_index is not None:
        raise InputError(f"tile_index={cfg.tile_index} fits one tile of a photo in tiles: give tile=N too")
    if tiles is None:
        return fit_one(cfg, pictures, list(extra_callbacks), precision).to_json()
    fit = functools.partial(fit_one, precision=precision)
    if cfg.tile_index is not None:  # a job of a sweep over the photo's tiles
        return fit_tile_job(cfg, *tiles, pictures, fit, list(extra_callbacks)).to_json()
    return fit_tiles(cfg, *tiles, pictures, fit, list(extra_callbacks)).to_json()


def _pair(module: pl.LightningModule) -> str:
    """The noise model and the data term a run pairs (a mismatched pair is an experiment: the log says so)."""
    noise = module.physics.noise
    if noise is None:
        return ""
    settings = ", ".join(f"{name}={value}" for name, value in vars(noise).items())
    return f"; noise {type(noise).__name__}({settings}), data term {module.loss.data_term.name}"


def fit_one(cfg: DictConfig, pictures: dict, extra_callbacks: list[pl.Callback], precision: str | int) -> RunRecord:
    """Fit one image (`pictures`: build.read_pictures's); return its record."""
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    resume_own_checkpoint(cfg)  # a job its scheduler stopped and started again goes on from its checkpoint
    module, layout = module_for(cfg, pictures, precision)
    description = {**describe(cfg, module), "memory_format": layout}
    writer = ResultWriter(cfg.output_dir, description, every_n_steps=cfg.save_every)
    checkpointer = Checkpointer(cfg.output_dir, every_n_steps=cfg.checkpoint_every)
    if "wandb" in (cfg.get("logger") or {}):
        quiet_wandb()
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values()]
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values()]
    callbacks += [writer, checkpointer, *extra_callbacks, Requeue(cfg)]  # Requeue after the checkpointer
    if (rule := build_stopping(cfg, module.observed)) is not None:
        callbacks.insert(0, rule)  # before the writer: a stop's result is what it saves
    if cfg.resume:
        callbacks.append(ResumedMetrics(loggers))
    trainer = instantiate(cfg.trainer, precision=precision, callbacks=callbacks, logger=loggers or False)
    log_setup(trainer.loggers, cfg, module, trainer)
    fitted = description["arch"] or f"{description['prior']} prior"
    what = f"{description['task']} with {fitted} ({module.num_params:,} parameters) on {description['image']}"
    what += f", profile={description['profile']}" if description["profile"] else ""
    log.info(what + _pair(module))
    try:
        trainer.fit(module, ckpt_path=cfg.resume, weights_only=True)
    except SystemExit:  # Lightning ends Ctrl-C with exit 1 and SIGTERM with exit 0: say which, after saving
        raise SystemExit(EXIT_SIGTERM if trainer.received_sigterm else EXIT_CTRL_C) from None
    finally:
        _draw_learning_curve(writer.dirpath)  # after the fit: the loggers write their last rows at its end
        log_result(trainer.loggers, writer.results)
        if "wandb" in sys.modules and sys.modules["wandb"].run is not None:
            sys.modules["wandb"].finish()
    return writer.results


def module_for(cfg: DictConfig, pictures: dict | None, precision: str | int) -> tuple[DeepImagePrior, str]:
    """The run's module as it fits at `precision` (its compute dtype, the deep prior's layout chosen for the
    machine) and that layout's name: what every fit of the config is, a benchmark's too."""
    batched = cfg.restarts > 1 and restarts_batched(cfg)
    requested = cfg.prior.get("memory_format", "auto")  # the deep prior's; prior=pixels has no network
    layout = resolve_memory_format(requested, cfg.trainer.accelerator, precision, batched, flat_optimizer(cfg))
    return build_module(cfg, compute_dtype(precision), pictures, torch_format(layout)), layout


def _draw_learning_curve(folder: Path) -> None:
    try:
        learning_curve(folder)
    except Exception as error:  # a picture must never cost the run its result
        log.warning(f"no learning curve: {type(error).__name__}: {error}")


def record_failure(cfg: DictConfig, error: BaseException) -> None:
    """A run that failed before its first step still leaves a results.json that says why."""
    path = Path(cfg.output_dir) / RESULTS_FILE
    if path.is_file():  # the fit had started: the results writer has saved what it had
        return
    try:
        RunRecord(**describe(cfg), status=f"failed: {type(error).__name__}: {error}").write(path.parent)
    except OSError:
        pass


@command_line(bad_input_exit=EXIT_BAD_INPUT)  # GROUP=null means GROUP=none; arch=foo: one line
@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Returns the metric a Hydra sweeper optimises (cfg.optimized_metric); None for a failed job."""
    in_sweep = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        check_config(cfg)  # every setting's type and range, before anything is built
        results = run(cfg)
    except (InputError, FileNotFoundError, FloatingPointError) as error:
        log.error(f"{type(error).__name__}: {error}")
        record_failure(cfg, error)
        if in_sweep:
            return None
        sys.exit(EXIT_FAILED if isinstance(error, FloatingPointError) else EXIT_BAD_INPUT)
    except Exception as error:
        if not in_sweep:
            raise
        log.exception(f"this job failed; the sweep goes on: {type(error).__name__}: {error}")
        record_failure(cfg, error)
        return None
    return results.get(cfg.optimized_metric) if cfg.get("optimized_metric") else None


register_resolvers()
