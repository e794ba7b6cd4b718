"""The folder of a run: a unique name (two runs started in the same second never share one), a name
for each job of a sweep that says what makes it different, a clear error when it cannot be made, and
the names of the files in it that other tools read."""

import logging
import os
import re
import sys
from datetime import datetime
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)
MAX_NAME = 120  # characters of the overrides in a folder name

# The files of a run's folder that other tools read.
RESULTS_FILE = "results.json"
METRICS_FILE = Path("csv") / "metrics.csv"
CURVES_FILE = "curves.png"
CHECKPOINT_FILE = "checkpoint.ckpt"


def run_stamp() -> str:
    """The date and time to the millisecond, and the process id: unique on one machine."""
    return f"{datetime.now():%Y-%m-%d_%H-%M-%S-%f}"[:-3] + f"_{os.getpid()}"


def _sweep_overrides(sweep_dir: str) -> set[str] | None:
    """The command line of the sweep (e.g. `seed=0,1`), from the multirun.yaml Hydra's sweeper writes."""
    path = Path(sweep_dir) / "multirun.yaml"
    try:
        return set(OmegaConf.load(path).hydra.overrides.task)
    except (OSError, AttributeError, ValueError):
        return None


def differing_overrides(overrides: list[str], sweep_dir: str | None) -> list[str]:
    """The overrides of a job that the sweep varies (`lr=0.001`, `seed=1`), with the shortest key that
    stays unambiguous; all of them when the sweep's own command line cannot be read."""
    common = _sweep_overrides(sweep_dir) if sweep_dir else None
    varied = [item for item in overrides if common is None or item not in common]
    pairs = [item.lstrip("+~").split("=", 1) for item in varied]
    short = [key.rsplit(".", 1)[-1] for key, *_ in pairs]
    names = []
    for (key, *value), name in zip(pairs, short, strict=True):
        label = name if short.count(name) == 1 else key
        names.append(f"{label}={value[0]}" if value else label)
    return names


def job_dirname(num: int, overrides: list[str], sweep_dir: str) -> str:
    """`3_lr=0.001,seed=1`: the job's number (the order it was launched in) and what it varies."""
    name = ",".join(differing_overrides(list(overrides), sweep_dir))
    name = re.sub(r"[/\\\s]+", "_", name)[:MAX_NAME]
    return f"{num}_{name}" if name else str(num)


class CheckRunFolder(Callback):
    """Hydra callback: make the run's folder before Hydra does, and stop with one line if it cannot."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        folder = Path(str(config.hydra.run.dir))
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / ".write_test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            print(
                f"InputError: cannot write the run's folder {folder}: {error.strerror or error}; "
                "choose another with hydra.run.dir=PATH",
                file=sys.stderr,
            )
            sys.exit(2)
