"""Entry point: compose the config, build the task's module (physics, prior, loss, optimizer) and the
trainer, fit, record. Bad input is answered in one line (exit 2); a job of a sweep that fails is
recorded as failed and the sweep goes on."""

import functools
import json
import logging
import sys
import warnings
from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig
from omegaconf.errors import MissingMandatoryValue

from dip_lightning.atomic import write_atomically
from dip_lightning.callbacks.checkpointer import Checkpointer
from dip_lightning.callbacks.result_writer import ResultWriter
from dip_lightning.callbacks.resumed_metrics import ResumedMetrics
from dip_lightning.dip_module import DeepImagePrior
from dip_lightning.errors import InputError
from dip_lightning.images import load_image
from dip_lightning.nets.checkpointing import build_network
from dip_lightning.physics.operator import Identity
from dip_lightning.plots import learning_curve
from dip_lightning.precision import compute_dtype, resolve_accelerator, resolve_precision
from dip_lightning.preflight import preflight
from dip_lightning.priors.pixels import PixelPrior
from dip_lightning.resolvers import register_resolvers
from dip_lightning.run_folder import RESULTS_FILE
from dip_lightning.sure import SureLoss
from dip_lightning.tracking import log_result, log_setup, quiet_wandb

log = logging.getLogger(__name__)
# Lightning 2.6 with torch >= 2.10 warns about its own use of a deprecated torch API at every fit.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
# A resumed run restarts its one-item dataset mid-epoch: harmless, every item is the same z.
warnings.filterwarnings("ignore", message=r".*resuming from a checkpoint that ended before the epoch ended")
warnings.filterwarnings("ignore", message=r".*Experiment logs directory .* exists and is not empty")
# The last step is always logged (the module stops the trainer there), whatever log_every_n_steps says.
warnings.filterwarnings("ignore", message=r".*is smaller than the logging interval")
# Lightning's tips and hardware lines on every run: the run's own log says what is fitted where.
logging.getLogger("pytorch_lightning.utilities.rank_zero").setLevel(logging.WARNING)

EXIT_BAD_INPUT, EXIT_FAILED, EXIT_CTRL_C, EXIT_SIGTERM = 2, 1, 130, 143


def config_dir() -> Path:
    """The configs ship inside the wheel; in a source checkout they are the top-level conf/."""
    packaged = Path(__file__).resolve().parent / "conf"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "conf"


def _choice(group: str, fallback: str | None) -> str | None:
    return HydraConfig.get().runtime.choices.get(group, fallback) if HydraConfig.initialized() else fallback


def _check_optimizer(optimizer) -> None:
    """Build the optimizer once on a dummy parameter, so a bad setting (lr=nan) is caught before the fit."""
    try:
        optimizer([torch.nn.Parameter(torch.zeros(1))])
    except (ValueError, TypeError) as error:
        raise InputError(f"optimizer: {error}") from None


def build_module(cfg: DictConfig, dtype: torch.dtype = torch.float32) -> DeepImagePrior:
    """The LightningModule of the task, with its physics, parametrisation, loss, optimizer and images,
    from the config alone; with cfg.check_fit, refused before it allocates when it cannot fit in memory
    (`dtype`: the precision the fit computes in)."""
    try:
        task = cfg.task
        physics, prior, optimizer = instantiate(task.physics), instantiate(cfg.prior), instantiate(cfg.optimizer)
        loss = instantiate(cfg.loss)
        _check_optimizer(optimizer)
        _check_combination(cfg, physics, prior, loss)
        # image.center_crop cuts every image read; image.max_size shrinks only a clean image (shrinking an
        # observation would change its noise), see conf/image.
        load = functools.partial(load_image, max_size=None, center_crop=cfg.image.get("center_crop"))
        if cfg.observed is None:
            if cfg.ground_truth is not None:
                raise InputError("ground_truth= scores a user's observed= image; give observed= too")
            images = {"image": instantiate(cfg.image)}
        else:
            if cfg.ground_truth is not None and physics.scale > 1 and cfg.image.get("center_crop"):
                raise InputError("image.center_crop would cut a low-resolution observation and its ground truth apart")
            truth = load(cfg.ground_truth) if cfg.ground_truth is not None else None
            images = {"observed": load(cfg.observed), "ground_truth": truth}
        settings = dict(prior.keywords)  # the prior's settings (a partial: the module gives the channels)
        if settings.get("input_image"):  # a picture fed to the network: read as the others
            prior = functools.partial(prior, input_image=load(settings["input_image"]))
        if cfg.check_fit and _choice("prior", "deep") == "deep":
            _preflight(cfg, settings, physics.scale, images, dtype)
        return DeepImagePrior(
            name=task.name,
            physics=physics,
            prior=prior,
            loss=loss,
            optimizer=optimizer,
            scheduler=instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
            num_iter=task.num_iter,
            exp_weight=task.exp_weight,
            backtrack_db=task.backtrack_db,
            eval_every=task.eval_every,
            seed=cfg.seed,
            restarts=cfg.restarts,
            restarts_batched=_restarts_batched(cfg),
            **images,
        )
    except InstantiationException as error:  # say what was wrong with the input, not where Hydra called it
        cause = error.__cause__
        if isinstance(cause, MissingMandatoryValue):
            raise _missing(cause) from None
        if isinstance(cause, (InputError, FileNotFoundError)):
            raise cause from None
        raise
    except MissingMandatoryValue as error:
        raise _missing(error) from None


def _check_combination(cfg: DictConfig, physics, prior, loss) -> None:
    """Settings that work alone but not together, refused before anything is built."""
    if prior.func is PixelPrior and cfg.restarts > 1:
        raise InputError("prior=pixels has nothing random to restart: use restarts=1")
    if isinstance(loss, SureLoss):
        if not isinstance(physics.operator, Identity):
            raise InputError("loss=sure is for denoising: it needs the identity operator (task=denoise)")
        if cfg.task.input_type != "observation":
            raise InputError("loss=sure differentiates the network by its input: set task.input_type=observation")
        if cfg.restarts > 1:
            raise InputError("loss=sure fits one network: it does not combine with restarts")


def _preflight(cfg: DictConfig, settings: dict, scale: int, images: dict, dtype: torch.dtype) -> None:
    source = images.get("image")
    if source is None:  # a user's observation: the restoration is `scale` times larger
        source = images["observed"]
    else:
        scale = 1
    channels = source.shape[0]
    input_depth = channels if cfg.task.input_type == "observation" else cfg.task.input_depth
    make_net = functools.partial(build_network, settings["net"], settings["activation_checkpointing"])
    size = (source.shape[-2] * scale, source.shape[-1] * scale)
    device = resolve_accelerator(cfg.trainer.accelerator)
    preflight(make_net, channels, input_depth, size, cfg.task.num_iter, cfg.restarts, device, dtype)


def _restarts_batched(cfg: DictConfig) -> bool:
    """Batched restarts (one vmapped computation) pay off on a GPU; on a CPU the sequential networks are
    faster (experiments/benchmarks/suite.md). restarts_batched=true|false decides instead of `auto`."""
    if cfg.restarts_batched != "auto":
        return bool(cfg.restarts_batched)
    return resolve_accelerator(cfg.trainer.accelerator) == "cuda"


def _missing(error: MissingMandatoryValue) -> InputError:
    key = error.full_key
    return InputError(f"{key} is not set: give {key}=... on the command line")


def describe(cfg: DictConfig, module: DeepImagePrior | None = None) -> dict:
    """The fields that say what a run is, first in its results.json."""
    deep = _choice("prior", "deep") == "deep"
    return {
        "task": module.name if module is not None else cfg.task.get("name"),
        "prior": _choice("prior", None if module is None else type(module.prior).__name__.lower()),
        "arch": _choice("arch", None) if deep else None,
        "image": str(cfg.observed if cfg.observed is not None else cfg.image.get("source")),
        "seed": cfg.seed,
    }


def run(cfg: DictConfig) -> dict:
    """Fit one image; return its record (what results.json holds)."""
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    precision = resolve_precision(cfg.trainer.precision, cfg.trainer.accelerator)
    module = build_module(cfg, compute_dtype(precision))
    record = describe(cfg, module)
    writer = ResultWriter(cfg.output_dir, record, every_n_steps=cfg.save_every)
    checkpointer = Checkpointer(cfg.output_dir, every_n_steps=cfg.checkpoint_every)
    if "wandb" in (cfg.get("logger") or {}):
        quiet_wandb()
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values()]
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values()] + [writer, checkpointer]
    if cfg.get("stopping"):
        callbacks.insert(0, instantiate(cfg.stopping))  # before the writer: a stop's result is what it saves
    if cfg.resume:
        callbacks.append(ResumedMetrics(loggers))
    trainer = instantiate(cfg.trainer, precision=precision, callbacks=callbacks, logger=loggers or False)
    log_setup(trainer.loggers, cfg, module, trainer)
    fitted = record["arch"] or f"{record['prior']} prior"
    log.info(f"{record['task']} with {fitted} ({module.num_params:,} parameters) on {record['image']}")
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


def _draw_learning_curve(folder: Path) -> None:
    try:
        learning_curve(folder)
    except Exception as error:  # a picture must never cost the run its result
        log.warning(f"no learning curve: {type(error).__name__}: {error}")


def _record_failure(cfg: DictConfig, error: BaseException) -> None:
    """A run that failed before its first step still leaves a results.json that says why."""
    path = Path(cfg.output_dir) / RESULTS_FILE
    if path.is_file():  # the fit had started: the results writer has saved what it had
        return
    record = {**describe(cfg), "status": f"failed: {type(error).__name__}: {error}"}
    try:
        write_atomically(path, lambda handle: handle.write((json.dumps(record, indent=2) + "\n").encode()))
    except OSError:
        pass


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Returns the metric a Hydra sweeper optimises (cfg.optimized_metric); None for a failed job."""
    in_sweep = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        results = run(cfg)
    except (InputError, FileNotFoundError, FloatingPointError) as error:
        log.error(f"{type(error).__name__}: {error}")
        _record_failure(cfg, error)
        if in_sweep:
            return None
        sys.exit(EXIT_FAILED if isinstance(error, FloatingPointError) else EXIT_BAD_INPUT)
    except Exception as error:
        if not in_sweep:
            raise
        log.exception(f"this job failed; the sweep goes on: {type(error).__name__}: {error}")
        _record_failure(cfg, error)
        return None
    return results.get(cfg.optimized_metric) if cfg.get("optimized_metric") else None


register_resolvers()
