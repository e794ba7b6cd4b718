"""A photo too large to fit whole, restored in overlapping tiles (data/tiles.py): each tile is a run of its
own in `<run>/tiles/<k>/` (its own z, seed `seed + k`, stopping rule, checkpoint and results.json), fitted
one after another, and the restorations are blended into one photo of exactly the input's size, written as
a run's restoration is (`restored.png`, `restored_avg.png` in the photo's mode and depth, `comparison.png`,
`tiles.png` with the grid drawn, `results.json` with one entry per tile; with logger=wandb, a W&B run of
the photo beside its tiles' runs: the stitched pictures and the tile table).

A tile that has finished is never fitted again: the same command in the same folder (or
`python -m dip_lightning resume RUN_DIR`) goes on with the first unfinished tile, from its checkpoint. A tile
that fails ends the run: its record says which, and one line says how to go on."""

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict
from PIL import Image, ImageDraw

from dip_lightning.build import describe
from dip_lightning.data.images import save_png, to_pil
from dip_lightning.data.photo import PLAIN, PhotoFormat
from dip_lightning.data.tiles import Tile, TileGrid
from dip_lightning.errors import InputError
from dip_lightning.fitting.metrics import psnr
from dip_lightning.run.comparison import side_by_side
from dip_lightning.run.results import RunRecord, TileEntry
from dip_lightning.run.tiles import RESTORATION_FILE, finished_tile, save_pictures, write_tile
from dip_lightning.run.tracking import log_tiled_photo

log = logging.getLogger(__name__)

TILES_DIR = "tiles"
SCORES = {"restored": "psnr", "restored_avg": "psnr_avg"}  # each stitched picture and its score's name
PICTURES = tuple(SCORES)
Fit = Callable[[DictConfig, dict, list[pl.Callback]], RunRecord]  # train.fit_one: (cfg, given pictures, callbacks)


class KeepRestoration(pl.Callback):
    """Saves a tile's restoration at full precision when its fit ends, for the stitching."""

    def __init__(self, path: Path):
        self.path = path

    def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        save_pictures(
            {name: image[0].detach().float().cpu() for name, image in module.restoration().items()}, self.path
        )


def tile_folder(cfg: DictConfig, index: int) -> Path:
    return Path(cfg.output_dir) / TILES_DIR / f"{index:03d}"


def tile_config(cfg: DictConfig, index: int, pictures: dict, folder: Path) -> DictConfig:
    """The run of tile `index` in `folder`: its seed, no further tiling; an inpainting mask's tile goes
    through a picture in its folder (mask=file)."""
    tile_cfg = copy.deepcopy(cfg)
    with open_dict(tile_cfg):
        tile_cfg.output_dir = str(folder)
        tile_cfg.seed = cfg.seed + index
        tile_cfg.tile, tile_cfg.tile_index = "none", None
        tile_cfg.resume = None
        if "wandb" in (cfg.get("logger") or {}):  # the tiles' W&B runs, in the photo's group
            tile_cfg.logger.wandb.name = f"{cfg.logger.wandb.name} tile {index}"
        if "mask" in pictures:
            path = folder / "mask_of_the_tile.png"
            save_png(pictures["mask"], path)
            tile_cfg.mask = {"_target_": "dip_lightning.data.masks.FileMask", "path": str(path)}
            tile_cfg.mask.max_size, tile_cfg.mask.center_crop = None, None
    return tile_cfg


def cut_pictures(pictures: dict, tile: Tile, scale: int) -> dict:
    """The tile's part of each picture: the observation and its mask at the observation's scale, the
    ground truth `scale` times larger (SR); an alpha channel cut with its picture."""
    cut = {}
    for name, value in pictures.items():
        image, photo = value if isinstance(value, tuple) else (value, None)
        part = tile(image, scale if name == "ground_truth" else 1)
        if photo is not None and photo.alpha is not None:
            photo = replace(photo, alpha=tile(photo.alpha))
        cut[name] = part if photo is None else (part, photo)
    return cut


def fit_tiles(cfg: DictConfig, grid: TileGrid, scale: int, pictures: dict, fit: Fit, callbacks=()) -> RunRecord:
    """Restore the photo of `pictures` (build.read_pictures) tile by tile with `fit`; stitch; record."""
    started, entries, pieces = time.perf_counter(), [], {name: [] for name in PICTURES}
    mask = _full_mask(cfg, pictures)
    fitted_seconds = []
    for index, tile in enumerate(grid.tiles):
        done = finished_tile(tile_folder(cfg, index))
        where = f"rows {tile.top}-{tile.top + tile.height}, columns {tile.left}-{tile.left + tile.width}"
        if done is None:
            left = len(grid) - index
            eta = f", about {_minutes(left * sum(fitted_seconds) / len(fitted_seconds))} left" if fitted_seconds else ""
            log.info(f"tile {index + 1} of {len(grid)} ({where}){eta}")
            tic = time.perf_counter()
            try:
                record = _fit_tile(cfg, grid, scale, pictures, mask, index, tile_folder(cfg, index), fit, callbacks)
            except (InputError, FileNotFoundError, FloatingPointError) as error:  # the tile's run has recorded it
                record = RunRecord(status=f"failed: {type(error).__name__}: {error}")
            fitted_seconds.append(time.perf_counter() - tic)
            done = finished_tile(tile_folder(cfg, index))
            if done is None:
                entry = TileEntry.of(index, tile.as_dict(), record)
                _record(cfg, grid, [*entries, entry], pictures, None, started, scale)
                raise InputError(
                    f"tile {index + 1} of {len(grid)} did not finish ({entry.status}); the finished "
                    f"tiles are kept: go on with python -m dip_lightning resume {cfg.output_dir}"
                )
        else:
            log.info(f"tile {index + 1} of {len(grid)} ({where}) had finished: kept")
        record, restored = done
        entries.append(TileEntry.of(index, tile.as_dict(), record))
        for name in PICTURES:
            if name in restored:
                pieces[name].append(restored[name])
    stitched = {name: grid.stitch(parts, scale) for name, parts in pieces.items() if len(parts) == len(grid)}
    return _record(cfg, grid, entries, pictures, stitched, started, scale)


def fit_tile_job(cfg: DictConfig, grid: TileGrid, scale: int, pictures: dict, fit: Fit, callbacks=()) -> RunRecord:
    """Tile `cfg.tile_index` alone, a job of a sweep over the photo's tiles (`-m observed=PATH tile=N`),
    fitted into the job's folder and left there with its box for the sweep's stitching
    (reporting/stitched.py); a tile that had finished there is kept, not fitted again."""
    index, folder = cfg.tile_index, Path(cfg.output_dir)
    if not 0 <= index < len(grid):
        raise InputError(
            f"tile_index={index}, but the photo has {len(grid)} tiles of {grid.tile} px (0 to {len(grid) - 1})"
        )
    if (done := finished_tile(folder)) is not None:
        log.info(f"tile {index + 1} of {len(grid)} had finished in {folder}: kept")
        return done[0]
    write_tile(folder, grid, index, scale, str(Path(str(cfg.observed)).resolve()), _varies(cfg))
    return _fit_tile(cfg, grid, scale, pictures, _full_mask(cfg, pictures), index, folder, fit, callbacks)


def _varies(cfg: DictConfig) -> list[str]:
    """The overrides of this job of a sweep but its tile: what its photo's other tiles share."""
    if not HydraConfig.initialized():
        return []
    return sorted(str(item) for item in HydraConfig.get().overrides.task if not str(item).startswith("tile_index="))


def _fit_tile(cfg, grid: TileGrid, scale: int, pictures: dict, mask, index: int, folder: Path, fit: Fit, callbacks):
    """Fit tile `index` into `folder`, its restoration kept there at full precision."""
    given = cut_pictures({**pictures, **({"mask": mask} if mask is not None else {})}, grid.tiles[index], scale)
    tile_cfg = tile_config(cfg, index, given, folder)
    given.pop("mask", None)
    return fit(tile_cfg, given, [*callbacks, KeepRestoration(folder / RESTORATION_FILE)])


def _full_mask(cfg: DictConfig, pictures: dict) -> torch.Tensor | None:
    """The whole photo's inpainting mask (the task's physics has one), read once for the tiles."""
    operator = cfg.task.physics.operator
    if "mask" not in operator:
        return None
    from hydra.utils import instantiate

    observed = pictures["observed"][0]
    return instantiate(cfg.mask)(*observed.shape[-2:], torch.Generator().manual_seed(cfg.seed))


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _record(
    cfg: DictConfig,
    grid: TileGrid,
    entries: list[TileEntry],
    pictures: dict,
    stitched: dict | None,
    started: float,
    scale: int,
) -> RunRecord:
    """Write the tiled run's record (and, once every tile has finished, its pictures); return the record."""
    folder = Path(cfg.output_dir)
    observed, photo = pictures["observed"]
    truth = pictures.get("ground_truth", (None,))[0]
    failed = next((entry for entry in entries if entry.status != "finished"), None)
    shown = drawn = None
    scores = {}  # of the stitched pictures, with a ground truth
    if stitched and truth is not None:
        scores = {SCORES[name]: round(psnr(image[None], truth[None]), 4) for name, image in stitched.items()}
        if scale == 1:
            scores["psnr_input"] = round(psnr(observed[None], truth[None]), 4)
    record = RunRecord(
        **describe(cfg),
        status="finished" if failed is None else f"failed: tile {failed.index}: {failed.status}",
        seconds=round(sum(entry.seconds or 0 for entry in entries), 3),
        wall_seconds=round(time.perf_counter() - started, 3),
        size=[observed.shape[-2] * scale, observed.shape[-1] * scale],
        tile=grid.tile,
        tile_overlap=grid.overlap,
        tiles=entries,
        **scores,
    )
    if stitched:
        shown = stitched.get("restored_avg", stitched["restored"])
        drawn = grid_picture(shown, grid, scale)
        record.files = _write_pictures(folder, grid, stitched, observed, truth, photo or PLAIN, record, drawn)
    record.write(folder)
    if drawn is not None:  # after the record: a logger must never cost the photo its result
        try:
            log_tiled_photo(
                cfg, record, {"restored_avg": to_pil(shown), "tiles": drawn, "observation": to_pil(observed)}
            )
        except Exception as error:
            log.warning(f"the photo's W&B run was not logged: {type(error).__name__}: {error}")
    return record


def _write_pictures(
    folder: Path,
    grid: TileGrid,
    stitched: dict,
    observed: torch.Tensor,
    truth: torch.Tensor | None,
    photo: PhotoFormat,
    record: RunRecord,
    drawn: Image.Image,
) -> list[str]:
    for name, image in stitched.items():
        photo.save(image, folder / f"{name}.png")
    save_png(observed, folder / "observation.png")
    panels = [("observation", observed), *((name, image) for name, image in stitched.items())]
    if truth is not None:
        save_png(truth, folder / "ground_truth.png")
        panels.append(("ground truth", truth))
    title = f"{record.task}, {len(grid)} tiles of {grid.tile} px: {record.status}"
    save_png(side_by_side(panels, title), folder / "comparison.png")
    save_png(drawn, folder / "tiles.png")
    pictures = {**stitched, "observation": observed, **({"ground_truth": truth} if truth is not None else {})}
    save_pictures(pictures, folder / RESTORATION_FILE)
    return sorted(f"{name}.png" for name in [*pictures, "comparison", "tiles"])


def grid_picture(image: torch.Tensor, grid: TileGrid, scale: int) -> Image.Image:
    """The restoration with each tile's box drawn on it."""
    picture = to_pil(image).convert("RGB")
    draw = ImageDraw.Draw(picture)
    for tile in grid.tiles:
        box = [
            tile.left * scale,
            tile.top * scale,
            (tile.left + tile.width) * scale - 1,
            (tile.top + tile.height) * scale - 1,
        ]
        draw.rectangle(box, outline=(255, 64, 0))
    return picture
