"""Entry point: compose the config, build the task's module (physics, prior, loss, optimizer) and the
trainer, fit, record."""

import logging
import sys
import warnings
from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning.accelerators import CPUAccelerator

from dip_lightning.callbacks.result_writer import ResultWriter
from dip_lightning.dip_module import DeepImagePrior
from dip_lightning.errors import InputError
from dip_lightning.images import read_image
from dip_lightning.loggers import register_resolvers

log = logging.getLogger(__name__)
# Lightning 2.6 with torch >= 2.10 warns about its own use of a deprecated torch API at every fit.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


def config_dir() -> Path:
    """The configs ship inside the wheel; in a source checkout they are the top-level conf/."""
    packaged = Path(__file__).resolve().parent / "conf"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "conf"


def _choice(group: str, fallback: str) -> str:
    return HydraConfig.get().runtime.choices.get(group, fallback) if HydraConfig.initialized() else fallback


def build_module(cfg: DictConfig) -> DeepImagePrior:
    """The LightningModule of the task, with its physics, parametrisation, loss, optimizer and images,
    from the config alone."""
    if cfg.observed is None:
        if cfg.ground_truth is not None:
            raise InputError("ground_truth= scores a user's observed= image; give observed= too")
        images = {"image": instantiate(cfg.image)}
    else:
        truth = read_image(cfg.ground_truth) if cfg.ground_truth is not None else None
        images = {"observed": read_image(cfg.observed), "ground_truth": truth}
    task = cfg.task
    try:
        return DeepImagePrior(
            name=task.name,
            physics=instantiate(task.physics),
            prior=instantiate(cfg.prior),
            loss=instantiate(cfg.loss),
            optimizer=instantiate(cfg.optimizer),
            scheduler=instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
            num_iter=task.num_iter,
            exp_weight=task.exp_weight,
            backtrack_db=task.backtrack_db,
            eval_every=task.eval_every,
            seed=cfg.seed,
            **images,
        )
    except InstantiationException as error:  # say what was wrong with the input, not where Hydra called it
        if isinstance(error.__cause__, (InputError, FileNotFoundError)):
            raise error.__cause__ from None
        raise


def run(cfg: DictConfig) -> dict:
    """Fit one image; return its record (what results.json holds)."""
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    module = build_module(cfg)
    deep = _choice("prior", "deep") == "deep"
    record = {
        "task": module.name,
        "prior": _choice("prior", type(module.prior).__name__.lower()),
        "arch": _choice("arch", type(module.prior.net).__name__.lower()) if deep else None,
        "image": str(cfg.observed if cfg.observed is not None else cfg.image.source),
        "seed": cfg.seed,
    }
    writer = ResultWriter(cfg.output_dir, record, every_n_steps=cfg.save_every)
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values()] + [writer]
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values()]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    _warn_if_slow_precision(trainer)
    fitted = f"{record['prior']} prior" if not deep else record["arch"]
    log.info(f"{record['task']} with {fitted} ({module.num_params:,} parameters) on {record['image']}")
    try:
        trainer.fit(module)
    finally:
        if "wandb" in sys.modules and sys.modules["wandb"].run is not None:
            sys.modules["wandb"].finish()
    return writer.results


def _warn_if_slow_precision(trainer: pl.Trainer) -> None:
    """bf16 convolutions are only fast on CPUs with AVX-512 (BF16 / AMX); elsewhere they are far slower."""
    on_cpu = isinstance(trainer.accelerator, CPUAccelerator)
    if on_cpu and str(trainer.precision).startswith("bf16") and torch.backends.cpu.get_cpu_capability() != "AVX512":
        log.warning(
            f"trainer.precision={trainer.precision} on a CPU without AVX-512 "
            f"({torch.backends.cpu.get_cpu_capability()}): bf16 convolutions run tens of times slower than "
            "32-true here"
        )


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Returns the metric a Hydra sweeper optimises (cfg.optimized_metric)."""
    try:
        results = run(cfg)
    except (InputError, FileNotFoundError) as error:
        log.error(f"{type(error).__name__}: {error}")
        sys.exit(2)
    return results.get(cfg.optimized_metric) if cfg.get("optimized_metric") else None


register_resolvers()
