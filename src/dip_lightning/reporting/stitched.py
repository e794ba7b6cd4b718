"""The photo of a sweep over its tiles (`-m observed=PATH tile=N`, one job per tile on any launcher),
stitched into `<sweep>/restored/<photo>.png` as soon as its last tile has finished, wherever that job ran;
at the sweep's end, one line names the tiles that did not finish and how to fit them."""

import logging
import re
from collections import defaultdict
from pathlib import Path

from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from dip_lightning.data.images import load_photo
from dip_lightning.reporting.restored import RESTORED_DIR
from dip_lightning.reporting.sweep import find_jobs
from dip_lightning.run.tiles import finished_tile, read_tile, save_pictures

log = logging.getLogger(__name__)
SEPARATORS = re.compile(r"[/\\\s]+")  # not in a file's name


def stitch_tiles(sweep_dir: str | Path) -> tuple[list[Path], dict[str, list[int]]]:
    """Stitch each photo of the sweep whose tiles have all finished (its average where the task keeps one);
    return the photos written and, for the others, the tiles still missing. Jobs that differ in more than
    their tile (-m ... seed=1,2) are photos of their own, named after what they vary."""
    photos = defaultdict(dict)  # (photo, scale, what else the jobs vary) -> index -> (grid, the tile's folder)
    for folder in find_jobs(Path(sweep_dir)):
        if (tile := read_tile(folder)) is not None:
            fields, grid, _ = tile
            photos[(fields["photo"], fields["scale"], tuple(fields["varies"]))][fields["index"]] = (grid, folder)
    shared = defaultdict(list)  # photo -> the overrides of each of its groups of jobs
    for photo, _, varies in photos:
        shared[photo].append(set(varies))
    written, missing = [], {}
    for (photo, scale, varies), tiles in photos.items():
        grid = next(iter(tiles.values()))[0]
        done = {index: finished_tile(folder) for index, (_, folder) in tiles.items()}
        own = [item for item in varies if item not in set.intersection(*shared[photo])]  # seed=1 of seed=1,2
        label = "_".join([Path(photo).stem, *own])
        absent = [index for index in range(len(grid)) if done.get(index) is None]
        if absent:
            missing[label] = absent
            continue
        pieces = [done[index][1] for index in range(len(grid))]
        name = "restored_avg" if all("restored_avg" in piece for piece in pieces) else "restored"
        stitched = grid.stitch([piece[name] for piece in pieces], scale)
        target = Path(sweep_dir) / RESTORED_DIR / (SEPARATORS.sub("_", label) + ".png")
        load_photo(photo)[1].save(stitched, target)  # in the photo's own mode and depth
        save_pictures({name: stitched}, target.with_suffix(".pt"))
        written.append(target)
    return written, missing


class StitchTiles(Callback):
    """Hydra callback: in a sweep over a photo's tiles, stitches it after each job (on any launcher, where
    the job runs) and when the sweep ends; never raises: the sweep's result stands."""

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs) -> None:
        self._stitch(config, final=False)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        self._stitch(config, final=True)

    @staticmethod
    def _stitch(config: DictConfig, final: bool) -> None:
        if OmegaConf.select(config, "hydra.mode") != RunMode.MULTIRUN:
            return
        sweep_dir = Path(config.hydra.runtime.cwd) / str(config.hydra.sweep.dir)
        if not sweep_dir.is_dir() or not any(read_tile(folder) for folder in find_jobs(sweep_dir)):
            return
        try:
            written, missing = stitch_tiles(sweep_dir)
        except Exception as error:
            log.warning("tiles not stitched: %s: %s", type(error).__name__, error)
            return
        for path in written:
            (log.info if final else log.debug)("stitched from its tiles: %s", path)
        if final:
            for photo, tiles in missing.items():
                log.error(
                    f"{photo}: tiles {', '.join(str(index) for index in tiles)} did not finish (summary.md says why): "
                    f"run the same command again with hydra.sweep.dir={sweep_dir} to fit them, the finished tiles "
                    "are kept"
                )
