"""The config `python -m dip_lightning ARGUMENTS` composes, composed outside a Hydra run (Hydra's compose
API over the same conf/): for the Python API, and for the command line to answer before Hydra does, in
one line, a config that cannot be composed (a key that does not exist, `task.num_ite=3`: with the nearest
keys) or a sweep whose jobs cannot be listed (a preset's dataset folder that is missing), which Hydra
answers in several lines or a traceback. Hydra's global state is the caller's again afterwards."""

import contextlib
import difflib
import re
from collections.abc import Iterator

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.initialize import get_gh_backup, restore_gh_from_backup
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError

from dip_lightning.config.location import config_dir
from dip_lightning.config.resolvers import register_resolvers
from dip_lightning.errors import InputError

UNKNOWN_KEY = re.compile(r"Could not override '([^']+)'")


@contextlib.contextmanager
def composed(arguments: list[str]) -> Iterator[DictConfig]:
    """The config, with Hydra's own node (run folder, choices) set as it is during a run; InputError (one
    line) where it cannot be composed."""
    register_resolvers()
    backup, previous = get_gh_backup(), HydraConfig.instance().cfg
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(config_dir()), version_base="1.3", job_name="dip_lightning"):
            try:
                cfg = compose("config", overrides=arguments, return_hydra_config=True)
            except HydraException as error:
                raise InputError(_explained(str(error), arguments)) from None
        HydraConfig.instance().set_config(cfg)
        yield cfg
    finally:
        restore_gh_from_backup(backup)
        HydraConfig.instance().cfg = previous


def check_composes(arguments: list[str], sweep: bool = False) -> None:
    """InputError (one line) where `arguments` do not compose into a config, or, for a sweep (or a config
    that makes itself one: observed_dir=), where its jobs cannot be listed (a preset's dataset folder or
    observed_dir= that is missing or holds no image)."""
    with composed(arguments) as cfg:
        if sweep or cfg.hydra.mode == RunMode.MULTIRUN:
            try:
                params = cfg.hydra.sweeper.get("params")
                swept = OmegaConf.to_container(params, resolve=True) if isinstance(params, DictConfig) else params or {}
            except InterpolationResolutionError as error:
                if (cause := _bad_input(error)) is None:
                    raise
                raise InputError(str(cause)) from None
            if cfg.get("observed_dir") is not None and "observed" not in swept:
                raise InputError(
                    f"observed_dir= sweeps your photos, and this config sweeps {', '.join(swept) or 'nothing'} "
                    "instead (a preset's own sweep): give observed_dir= without it"
                )


def _bad_input(error: BaseException) -> BaseException | None:
    """The project's own InputError or FileNotFoundError that a resolver raised, under OmegaConf's."""
    while error is not None and not isinstance(error, (InputError, FileNotFoundError)):
        error = error.__cause__ or error.__context__
    return error


def _explained(message: str, arguments: list[str]) -> str:
    """Hydra's message in one line; for a key that does not exist, the keys nearest to it."""
    unknown = UNKNOWN_KEY.search(message)
    if unknown is None:
        return _one_line(message)
    key = unknown.group(1)
    given = next((argument for argument in arguments if argument.split("=")[0] == key), f"{key}=...")
    rest = [argument for argument in arguments if argument.split("=")[0] != key]
    try:
        keys = _keys(OmegaConf.to_container(compose("config", overrides=rest)))
    except HydraException:
        keys = []
    nearest = difflib.get_close_matches(key, keys, n=2, cutoff=0.75)
    guess = f" (did you mean {' or '.join(nearest)}?)" if nearest else ""
    return f"{key} is not a setting{guess}: to add a new key, write +{given}"


def _keys(node, prefix: str = "") -> list[str]:
    """Every key of a config (as plain containers, unresolved), dotted (task.num_iter); lists are values."""
    if not isinstance(node, dict):
        return []
    keys = []
    for name, value in node.items():
        keys += [f"{prefix}{name}", *_keys(value, f"{prefix}{name}.")]
    return keys


def _one_line(message: str) -> str:
    """Hydra's message without its indented details (full_key, object_type)."""
    lines = [line.strip() for line in message.strip().splitlines()]
    return " ".join(line for line in lines if line and not line.startswith(("full_key:", "object_type=", "reference")))
