"""Where the Hydra configs are: inside the wheel (dip_lightning/conf), or the top-level conf/ of a source
checkout."""

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]


def config_dir() -> Path:
    packaged = PACKAGE / "conf"
    return packaged if packaged.is_dir() else PACKAGE.parents[1] / "conf"
