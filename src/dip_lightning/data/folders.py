"""A folder of images as the values of a sweep: with
    hydra.sweeper.params: {image.source: "${dataset_files:FOLDER}"}
a multirun runs one job per image of FOLDER, on any launcher (the paper presets do)."""

from pathlib import Path

from dip_lightning.errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def image_files(folder: str | Path) -> list[Path]:
    """The images directly in `folder`, by name."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise InputError(f"dataset folder {folder} not found (the paper's images: dataset_dir=PATH or DIP_DATA=PATH)")
    files = sorted(path for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file())
    if not files:
        raise InputError(f"dataset folder {folder} holds no image ({', '.join(IMAGE_SUFFIXES)})")
    return files


def dataset_files(folder: str) -> str:
    """The images of `folder` as one sweep value: 'a.png','b.png',... (quoted for Hydra's parser)."""
    return ",".join(f"'{path}'" for path in image_files(folder))
