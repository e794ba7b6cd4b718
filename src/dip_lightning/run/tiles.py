"""What a tile's run leaves in its folder beside a run's own files, for the stitching: its restoration at
full precision (`restoration.pt`) and where it lies in its photo (`tile.json`: its box and the grid's)."""

import json
from pathlib import Path

import torch

from dip_lightning.atomic import write_atomically
from dip_lightning.data.tiles import Tile, TileGrid
from dip_lightning.run.folder import RESULTS_FILE
from dip_lightning.run.results import RunRecord

RESTORATION_FILE = "restoration.pt"  # a tile's (and a stitched photo's) pictures at full precision
TILE_FILE = "tile.json"


def save_pictures(pictures: dict[str, torch.Tensor], path: Path) -> None:
    write_atomically(path, lambda handle: torch.save(pictures, handle))


def finished_tile(folder: Path) -> tuple[RunRecord, dict] | None:
    """A tile's record and pictures when its fit has finished, else None."""
    if not ((folder / RESULTS_FILE).is_file() and (folder / RESTORATION_FILE).is_file()):
        return None
    record = RunRecord.read(folder)
    if record.status != "finished":
        return None
    return record, torch.load(folder / RESTORATION_FILE, weights_only=True)


def write_tile(folder: Path, grid: TileGrid, index: int, scale: int, photo: str, varies: list[str]) -> None:
    """tile.json: the tile's index and box, the grid it belongs to, the photo it is cut from and what else
    its job of a sweep varies (`seed=1`: the tiles of one photo are the jobs that vary nothing else)."""
    text = json.dumps(
        {
            "index": index,
            "box": grid.tiles[index].as_dict(),
            "grid": {"height": grid.height, "width": grid.width, "tile": grid.tile, "overlap": grid.overlap},
            "scale": scale,
            "photo": photo,
            "varies": varies,
        },
        indent=2,
    )
    write_atomically(folder / TILE_FILE, lambda handle: handle.write(text.encode()))


def read_tile(folder: Path) -> tuple[dict, TileGrid, Tile] | None:
    """tile.json's fields, its grid and its box; None where the folder holds no tile."""
    path = folder / TILE_FILE
    if not path.is_file():
        return None
    fields = json.loads(path.read_text())
    grid = TileGrid(**fields["grid"])
    return fields, grid, grid.tiles[fields["index"]]
