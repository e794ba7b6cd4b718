"""What every setting may be, checked on the composed config before anything is built: a wrong type or
a value out of range anywhere is refused in one line that names the key, the value and what is allowed
(`restarts must be an integer >= 1, got 'two'`), instead of a traceback deep in the fit.

The yaml files hold every default; the classes hold what their settings may be. The objects the config
builds (a network, a loss, a mask...) are found by their `_target_`, wherever they sit, and checked with
the `limits` their class declares and checks its own arguments with (dip_lightning/limits.py), read from
the class the target names: a renamed class, a subclass, or a class of the user's of any name is
checked the same. Targets that declare no limits of their own (third-party ones: torch's optimizer and
schedulers, Lightning's Trainer; functions such as load_photo) are in BY_TARGET, by name, and a subclass
of one of them keeps its entry. The top level and the task are found by their path (`task.num_iter`,
BY_PATH); a task key that feeds one class's argument takes that class's limits. A key neither names is
not checked here (its class still checks what it is given), and a key that refers to another
(`${task.num_iter}`) is checked where it points.

A class of this package goes out of BY_TARGET: it declares `limits` and calls `check_limits` in its
constructor (see dip_lightning/limits.py); the test that every name in BY_TARGET is importable says when
an entry names a class that moved."""

import functools
import inspect

from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig, OmegaConf

from dip_lightning.errors import InputError
from dip_lightning.limits import (
    BOOLEAN,
    PATH,
    TEXT,
    Allowed,
    Limits,
    declared_limits,
    integer,
    list_of,
    number,
    one_of,
    optional,
    shown,
)
from dip_lightning.physics.blur import Blur
from dip_lightning.physics.downsample import Downsample
from dip_lightning.physics.noise import GaussianNoise, JpegCompression

STEPS = integer(1)
EVERY = optional(integer(1))  # every N steps, null: never (or only at the end)
SIZE = optional(integer(1))  # pixels, null: as it is
FIT_SIZES = ("pad", "crop")  # see conf/config.yaml's fit_size

BY_PATH: dict[str, Allowed] = {
    "seed": integer(0, 2**32 - 1),
    "restarts": integer(1),
    "restarts_batched": one_of("auto", True, False),
    "threads": optional(integer(1)),
    "check_fit": BOOLEAN,
    "fit_size": one_of(*FIT_SIZES),
    "tile": one_of("auto", "none") | integer(8),
    "tile_overlap": integer(0),
    "tile_index": optional(integer(0)),
    "observed": optional(PATH),
    "ground_truth": optional(PATH),
    "observed_dir": optional(PATH),
    "mask_dir": optional(PATH),
    "output_dir": PATH,
    "save_every": EVERY,
    "checkpoint_every": EVERY,
    "resume": optional(PATH),
    "optimized_metric": optional(TEXT),
    "dataset_dir": PATH,
    "task.name": TEXT,
    "task.num_iter": STEPS,
    "task.exp_weight": optional(number(0, below=1)),
    "task.backtrack_db": optional(number(above=0)),
    "task.eval_every": STEPS,
    "task.sigma": GaussianNoise.limits["sigma"],
    "task.quality": JpegCompression.limits["quality"],
    "task.factor": Downsample.limits["factor"],
    "task.blur_sigma": Blur.limits["sigma"],
    "task.kernel": Blur.limits["kernel_path"],
}

# The targets that declare no limits of their own, by name: third-party classes and functions.
BY_TARGET: dict[str, dict[str, Allowed]] = {
    "torch.optim.Adam": {
        "lr": number(above=0),
        "betas": list_of(number(0, below=1), length=2),
        "eps": number(0),
        "weight_decay": number(0),
    },
    "torch.optim.lr_scheduler.CosineAnnealingLR": {"T_max": STEPS, "eta_min": number(0)},
    "torch.optim.lr_scheduler.StepLR": {"step_size": STEPS, "gamma": number(above=0)},
    "torch.optim.lr_scheduler.LinearLR": {
        "start_factor": number(above=0, high=1),
        "end_factor": number(0, high=1),
        "total_iters": STEPS,
    },
    "pytorch_lightning.Trainer": {
        "accelerator": one_of("auto", "cpu", "gpu", "cuda", "mps"),
        "devices": integer(1) | one_of("auto"),
        "precision": one_of("auto", "32-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true"),
        "max_steps": STEPS,
        "max_epochs": one_of(-1) | integer(1),
        "log_every_n_steps": STEPS,
        "enable_checkpointing": BOOLEAN,
        "num_sanity_val_steps": integer(0),
        "deterministic": BOOLEAN | one_of("warn"),
        "enable_model_summary": BOOLEAN,
    },
    "dip_lightning.data.images.load_photo": {"source": PATH, "max_size": SIZE, "center_crop": SIZE},
}


@functools.cache
def limits_of(target: str) -> Limits:
    """What each argument of the `_target_` named `target` may be: BY_TARGET's entry for it, or for a class
    it derives from, and what the object itself declares (its `limits`, which win). {} for a target that
    cannot be imported here: instantiating it will say why."""
    try:
        found = get_object(target)
    except Exception:  # any import error is the build's to report, in its own words
        return BY_TARGET.get(target, {})
    limits = dict(BY_TARGET.get(target, {}))
    for base in reversed(inspect.getmro(found)) if isinstance(found, type) else [found]:
        limits.update(_tabled().get(base, {}))
    return {**limits, **declared_limits(found)}


@functools.cache
def _tabled() -> dict[object, dict[str, Allowed]]:
    """BY_TARGET by the objects its names import (pytorch_lightning.Trainer is ...trainer.trainer.Trainer)."""
    objects = {}
    for name, limits in BY_TARGET.items():
        try:
            objects[get_object(name)] = limits
        except Exception:  # a name that does not import is still found by its name
            continue
    return objects


def check_config(cfg: DictConfig) -> None:
    """Raise InputError naming every setting of `cfg` that its table refuses (one line, `; ` between)."""
    problems = [f"{key} must be {allowed.words}, got {shown(value)}" for key, value, allowed in refused(cfg)]
    if problems:
        raise InputError("; ".join(problems))


def refused(cfg: DictConfig) -> list[tuple[str, object, Allowed]]:
    """(key, value, what is allowed) of each setting the tables refuse, in the config's order."""
    return list(_refused(cfg, ""))


def _refused(node: DictConfig, prefix: str):
    literal = "_target_" in node and not OmegaConf.is_interpolation(node, "_target_")
    by_target = limits_of(str(node["_target_"])) if literal else {}
    for key in node:
        if not prefix and key == "hydra":  # Hydra's own settings: Hydra checks them
            continue
        path = f"{prefix}{key}"
        if OmegaConf.is_missing(node, key) or OmegaConf.is_interpolation(node, key):
            continue  # a mandatory value left out is said elsewhere; a reference is checked where it points
        value, allowed = node[key], BY_PATH.get(path) or by_target.get(str(key))
        if isinstance(value, DictConfig) and allowed is None:
            yield from _refused(value, f"{path}.")
            continue
        if allowed is None:
            continue
        if isinstance(value, ListConfig) and any(OmegaConf.is_interpolation(value, i) for i in range(len(value))):
            continue
        if isinstance(value, (DictConfig, ListConfig)):
            value = OmegaConf.to_container(value)
        if not allowed.accepts(value):
            yield path, value, allowed
