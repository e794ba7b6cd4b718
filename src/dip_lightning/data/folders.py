"""A folder of images as the values of a sweep. The paper presets sweep their datasets with
    hydra.sweeper.params: {image.source: "${dataset_files:FOLDER}"}
and `observed_dir=FOLDER` (conf/hydra/default.yaml) sweeps a user's photos the same way, with their masks
matched by name from `mask_dir=FOLDER`: one job per image, on any launcher."""

import functools
import logging
import re
from pathlib import Path

from dip_lightning.data.masks import FileMask
from dip_lightning.data.tiles import tile_jobs
from dip_lightning.errors import InputError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
DATASET_HINT = "the paper's images: dataset_dir=PATH or DIP_DATA=PATH"


def image_files(folder: str | Path, what: str = "dataset folder", hint: str = DATASET_HINT) -> list[Path]:
    """The images directly in `folder`, by name; other files are skipped, with one line that names them."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        missing = "is a file, not a folder" if folder.exists() else "not found"
        raise InputError(f"{what} {folder} {missing} ({hint})")
    entries = sorted(path for path in folder.iterdir() if not path.name.startswith("."))
    files = [path for path in entries if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()]
    if not files:
        raise InputError(f"{what} {folder} holds no image ({', '.join(IMAGE_SUFFIXES)})")
    _report_skipped(folder, tuple(path.name for path in entries if path not in files))
    return files


@functools.cache  # once per folder and process: the sweep's config is resolved several times
def _report_skipped(folder: Path, names: tuple[str, ...]) -> None:
    if names:
        log.warning(
            f"{folder}: skipped {len(names)} that {'is' if len(names) == 1 else 'are'} not images: " + ", ".join(names)
        )


def quoted(value: str) -> str:
    """`value` as one quoted string of Hydra's override grammar: a quote escaped, and the backslashes
    before a quote or the end doubled (the only ones it reads as escapes: C:\\photos stays as it is)."""
    return "'" + re.sub(r"(\\*)('|$)", lambda match: match[1] * 2 + ("\\'" if match[2] else ""), value) + "'"


def _quoted(paths: list[Path]) -> str:
    """Paths as one sweep value: 'a.png','b.png'."""
    return ",".join(quoted(str(path)) for path in paths)


def dataset_files(folder: str) -> str:
    """The images of `folder` as one sweep value: 'a.png','b.png',... (quoted for Hydra's parser)."""
    return _quoted(image_files(folder))


def folder_sweep(observed_dir: str | None, mask_dir: str | None) -> dict[str, str]:
    """hydra.sweeper.params of `observed_dir=FOLDER`: one job per image (observed=PATH), each with the mask
    of the same name from `mask_dir` (mask=folder); nothing without observed_dir."""
    if observed_dir is None:
        if mask_dir is not None:
            raise InputError("mask_dir= gives the masks of the photos of observed_dir=FOLDER: give observed_dir too")
        return {}
    hint = "observed_dir=FOLDER: the folder of your photos, one job per image"
    files = [path.resolve() for path in image_files(observed_dir, "observed_dir", hint)]
    params = {"observed": _quoted(files)}
    if mask_dir is not None:
        image_files(mask_dir, "mask_dir", "mask_dir=FOLDER: a mask per photo, of the same name")
        params["mask"] = "folder"
    return params


def sweep_params(
    observed_dir: str | None, mask_dir: str | None, observed: str | None, tile, tile_overlap: int
) -> dict[str, str]:
    """hydra.sweeper.params: a folder's photos (folder_sweep), or a photo's tiles (`-m observed=PATH tile=N`:
    one job per tile, data/tiles.py's tile_jobs); used only where the run is a sweep."""
    return {**folder_sweep(observed_dir, mask_dir), **tile_jobs(observed, tile, tile_overlap)}


def sweep_mode(observed_dir: str | None) -> str | None:
    """hydra.mode: `observed_dir=FOLDER` is a sweep (one job per image) even without -m."""
    return "MULTIRUN" if observed_dir is not None else None


def folder_mask(folder: str | None, image: str | None, max_size: int | None, center_crop: int | None) -> FileMask:
    """mask=folder: the mask in `folder` (mask_dir) named as the photo `image` (observed), whatever its
    suffix (photo.jpg -> photo.png)."""
    if folder is None or image is None:
        raise InputError("mask=folder takes the mask of observed=PATH from mask_dir=FOLDER: give both")
    stem = Path(str(image)).stem
    matches = [path for path in image_files(folder, "mask_dir", "a mask per photo") if path.stem == stem]
    if not matches:
        raise InputError(f"no mask named {stem} in {folder} for {image} (mask_dir: a mask per photo, of its name)")
    return FileMask(matches[0], max_size, center_crop)
