"""The folder of a run: a unique name (two runs started in the same second never share one), a name
for each job of a sweep that says what makes it different, a clear error when it cannot be made, and
the names of the files in it that other tools read."""

import logging
import os
import re
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
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
        return {_as_launched(str(item)) for item in OmegaConf.load(path).hydra.overrides.task}
    except (OSError, AttributeError, ValueError):
        return None


def _as_launched(override: str) -> str:
    """An override as the sweeper passes it to each job (`check_fit=false` -> `check_fit=False`)."""
    try:
        parsed = OverridesParser.create().parse_override(override)
    except HydraException:
        return override
    if parsed.is_sweep_override() or parsed.value_type is None:
        return override
    return f"{parsed.get_key_element()}={parsed.get_value_element_as_str()}"


def _short_value(value: str) -> str:
    """0.008558894657793087 -> 0.008559, a sampled number, and ../data/Set5/bird.png -> bird: readable
    in a name."""
    if "/" in value:
        return Path(value.strip("'\"")).stem
    try:
        number = float(value)
    except ValueError:
        return value
    return value if len(value) <= 8 or not number == number else f"{number:.4g}"


def differing_overrides(overrides: list[str], sweep_dir: str | None, swept_keys=None) -> list[str]:
    """The overrides of a job that the sweep varies (`lr=0.001`, `seed=1`): those not on the sweep's own
    command line as they are, plus the keys a sweeper samples (`swept_keys`: hydra.sweeper.params),
    each with the shortest key that stays unambiguous; all of them when neither is known."""
    common = _sweep_overrides(sweep_dir) if sweep_dir else None
    sampled, fixed = _sweeper_params(swept_keys)
    if common is not None:
        common |= fixed
    pairs = [item.lstrip("+~").split("=", 1) for item in overrides]
    varied = [
        pair
        for item, pair in zip(overrides, pairs, strict=True)
        if common is None or item not in common or pair[0] in sampled
    ]
    if sampled and common is None:  # a sweeper that writes no multirun.yaml (optuna): its own keys
        varied = [pair for pair in pairs if pair[0] in sampled]
    short = [key.rsplit(".", 1)[-1] for key, *_ in varied]
    names = []
    for (key, *value), name in zip(varied, short, strict=True):
        label = name if short.count(name) == 1 else key
        names.append(f"{label}={_short_value(value[0])}" if value else label)
    return names


def _sweeper_params(params) -> tuple[set[str], set[str]]:
    """hydra.sweeper.params (a mapping of key -> values, or just the keys): the keys the sweeper varies,
    and the overrides it gives every job alike (the mask=folder of a folder sweep), which tell no job
    from another."""
    if not isinstance(params, Mapping):
        return set(params or ()), set()
    parser = OverridesParser.create()
    swept, fixed = set(), set()
    for key, value in params.items():
        try:
            override = parser.parse_override(f"{key}={value}")
        except HydraException:  # a sweeper's own syntax: it varies the key
            swept.add(str(key))
            continue
        if override.is_sweep_override():
            swept.add(str(key))
        else:
            fixed.add(_as_launched(f"{key}={value}"))
    return swept, fixed


def job_dirname(num: int, overrides: list[str], sweep_dir: str, swept_keys=None) -> str:
    """`3_lr=0.001,seed=1`: the job's number (the order it was launched in) and what it varies."""
    name = ",".join(differing_overrides(list(overrides), sweep_dir, swept_keys))
    name = re.sub(r"[/\\\s]+", "_", name)[:MAX_NAME]
    return f"{num}_{name}" if name else str(num)


def _in_sweep(mode) -> bool:
    return str(mode).endswith("MULTIRUN")


def run_group(mode, sweep_dir: str, task: str, arch: str) -> str:
    """A dashboard's group: the sweep (its folder's name), or task-arch for single runs."""
    return Path(sweep_dir).name if _in_sweep(mode) else f"{task}-{arch}"


def run_name(mode, overrides: list[str], sweep_dir: str, swept_keys=None) -> str:
    """A dashboard's name for the run: what this job of a sweep varies (`lr=0.001,seed=1`), or the
    overrides of a single run ("defaults" without any)."""
    in_sweep = _in_sweep(mode)
    names = differing_overrides(list(overrides), sweep_dir if in_sweep else None, swept_keys if in_sweep else None)
    return ",".join(names)[:MAX_NAME] or "defaults"


def image_name(observed: str | None, source: str | None) -> str:
    """The image a run restores, by name: the embedded photo's, or the file's stem."""
    return Path(str(observed if observed is not None else source)).stem


class CheckRunFolder(Callback):
    """Hydra callback: make the run's folder before Hydra does, and stop with one line if it cannot."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        HydraConfig.instance().set_config(config)  # as Hydra does next: the folder's name reads ${hydra:...}
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
