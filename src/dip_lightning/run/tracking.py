"""What the experiment loggers (W&B, TensorBoard, CSV) get beyond the metrics of each step: the whole
resolved config flattened to dotted keys (so that the runs of a sweep can be filtered, grouped and
compared key by key), the facts of the fit, and, at the end, the run's result as its summary. A photo
restored in tiles gets one W&B run more, beside its tiles' runs: the stitched photo and the tile table."""

import json
import logging
import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger

from dip_lightning.run.results import RunRecord

log = logging.getLogger(__name__)
HIDDEN = ("_partial_", "_convert_", "_recursive_")  # Hydra's instructions, not settings


def flatten(tree: dict, prefix: str = "") -> dict[str, str | int | float | bool | None]:
    """{"optimizer": {"lr": 0.01}} -> {"optimizer.lr": 0.01}; lists become their text ("[128, 128]"), so
    that every value is one a dashboard can filter on and draw in a parallel-coordinates plot."""
    flat = {}
    for key, value in tree.items():
        if key in HIDDEN:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            flat[name] = json.dumps(value)
        else:
            flat[name] = value
    return flat


def run_facts(module, trainer) -> dict:
    """What the config alone does not say: the network's size, the image's size and crop, where it ran."""
    height, width = module.outputs.output_avg.shape[-2:]
    return flatten(
        {
            "num_params": module.num_params,
            "size": f"{height}x{width}",
            "crop": module.crop.as_dict(),
            "device": str(trainer.strategy.root_device),
            "precision": str(trainer.precision),
        }
    )


def settings(cfg: DictConfig) -> dict:
    """The run's settings, resolved and flattened (a composed config may hold Hydra's own: left out)."""
    config = {
        key: OmegaConf.to_container(cfg[key], resolve=True) if OmegaConf.is_config(cfg[key]) else cfg[key]
        for key in cfg
        if key != "hydra"
    }
    return flatten(config)


def log_setup(loggers: list, cfg: DictConfig, module, trainer) -> None:
    """Every logger gets the resolved config and the facts of the fit as its hyper-parameters."""
    if not loggers:
        return
    settings_and_facts = {**settings(cfg), **run_facts(module, trainer)}
    for logger in loggers:
        logger.log_hyperparams(settings_and_facts)
        if isinstance(logger, WandbLogger):
            for name in ("psnr", "psnr_avg", "psnr_observed"):  # the curve's peak, beside the result
                logger.experiment.define_metric(name, summary="max,last")


def log_result(loggers: list, record: RunRecord | None) -> None:
    """The run's summary is its result: every results.json field (W&B summary; TensorBoard text)."""
    if record is None:
        return
    results = record.to_json()
    flat = flatten(results)
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            logger.experiment.summary.update(flat)
            folder = Path(logger.experiment.dir).parent
            if logger.experiment.settings.mode == "offline":
                log.info(f"W&B run saved offline in {folder}: upload it with `make wandb-sync` (or wandb sync)")
        elif isinstance(logger, TensorBoardLogger):
            logger.experiment.add_text("results", "    " + json.dumps(results, indent=2).replace("\n", "\n    "))


def quiet_wandb() -> None:
    """W&B's banners and console capture say nothing the run's own log does not; errors still show."""
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_CONSOLE", "off")


TILE_COLUMNS = ("index", "top", "left", "height", "width", "status", "steps", "stop_step", "seconds")
TILE_SCORES = ("psnr_observed", "psnr_avg")  # psnr_avg: with a ground truth


def log_tiled_photo(cfg: DictConfig, record: RunRecord, pictures: dict) -> None:
    """The W&B run of a photo restored in tiles (when logger=wandb), in its tiles' group: its settings,
    the stitched pictures (`pictures`: name -> PIL image, the tile grid among them), one row per tile, and
    its results.json as its summary."""
    wandb_config = (cfg.get("logger") or {}).get("wandb")
    if wandb_config is None:
        return
    from hydra.utils import instantiate

    quiet_wandb()
    logger = instantiate(wandb_config)
    try:
        logger.log_hyperparams(settings(cfg))
        for name, picture in pictures.items():
            logger.log_image(key=f"images/{name}", images=[picture])
        columns = [*TILE_COLUMNS, *TILE_SCORES]
        rows = [[getattr(entry, column) for column in columns] for entry in record.tiles]
        logger.log_table(key="tile_table", columns=columns, data=rows)
        log_result([logger], record)
    finally:
        logger.experiment.finish()
