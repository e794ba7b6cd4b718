"""`python -m dip_lightning resume RUN_DIR [OVERRIDES...]`: go on with a run that was killed half way,
from the last checkpoint in its folder, with the overrides it was started with (a job of a sweep too).
The run ends as it would have without the interruption, in the same folder."""

import sys
from pathlib import Path

from omegaconf import OmegaConf

from dip_lightning.run.folder import CHECKPOINT_FILE
from dip_lightning.tiled import TILES_DIR


def resume_arguments(run_dir: Path, extra: list[str]) -> list[str]:
    """The command line that continues the run in `run_dir`."""
    checkpoint = run_dir / CHECKPOINT_FILE
    overrides_file = run_dir / ".hydra" / "overrides.yaml"
    tiled = (run_dir / TILES_DIR).is_dir()  # the run goes on with its first unfinished tile (tiled.py)
    if not checkpoint.is_file() and not tiled:
        raise FileNotFoundError(f"no {CHECKPOINT_FILE} in {run_dir}: nothing to resume (checkpoint_every=null?)")
    if not overrides_file.is_file():
        raise FileNotFoundError(f"{overrides_file} not found: {run_dir} is not a run's folder")
    overrides = [str(item) for item in OmegaConf.load(overrides_file) if not str(item).startswith("resume=")]
    resume = [] if tiled else [f"resume={checkpoint}"]
    return [*overrides, f"hydra.run.dir={run_dir}", *resume, *extra]


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    try:
        arguments = resume_arguments(Path(argv[0]).expanduser().resolve(), argv[1:])
    except FileNotFoundError as error:
        print(f"FileNotFoundError: {error}", file=sys.stderr)
        return 2
    from dip_lightning.train import main as train

    sys.argv = [sys.argv[0], *arguments]
    train()  # ends the process with the fit's exit code
    return 0
