"""What every setting may be, checked on the composed config before anything is built: a wrong type or
a value out of range anywhere is refused in one line that names the key, the value and what is allowed
(`restarts must be an integer >= 1, got 'two'`), instead of a traceback deep in the fit.

The yaml files hold every default; this file holds only what each key may hold. The top level and the
task are found by their path (`task.num_iter`); the objects the config builds (a network, an optimizer,
a stopping rule, a mask...) by their `_target_`, wherever they sit, so a preset or a new stopping rule
that moves them is checked the same. A key neither table names is not checked here (its class still
checks what it is given), and a key that refers to another (`${task.num_iter}`) is checked where it
points."""

from omegaconf import DictConfig, ListConfig, OmegaConf

from dip_lightning.config.allowed import (
    BOOLEAN,
    PATH,
    TEXT,
    Allowed,
    integer,
    list_of,
    number,
    one_of,
    optional,
    per_level,
    shown,
)
from dip_lightning.errors import InputError
from dip_lightning.hardware.layout import MEMORY_FORMATS
from dip_lightning.nets.layers import ACTIVATIONS, DOWNSAMPLE_MODES, NORMS, PADDINGS
from dip_lightning.priors.inputs import INPUT_TYPES

STEPS = integer(1)
EVERY = optional(integer(1))  # every N steps, null: never (or only at the end)
SIZE = optional(integer(1))  # pixels, null: as it is
PAD, ACTIVATION, NORM = one_of(*PADDINGS), one_of(*ACTIVATIONS), one_of(*NORMS)
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
    "task.input_type": one_of(*INPUT_TYPES),
    "task.input_depth": integer(1),
    "task.input_image": optional(PATH),
    "task.reg_noise_std": number(0),
    "task.exp_weight": optional(number(0, below=1)),
    "task.backtrack_db": optional(number(above=0)),
    "task.held_out_block": integer(1),
    "task.eval_every": STEPS,
    "task.sigma": number(0),
    "task.quality": integer(1, 100),
    "task.factor": integer(2),
    "task.blur_sigma": number(above=0),
    "task.kernel": optional(PATH),
}

_SKIP_UPSAMPLE = one_of("nearest", "bilinear", "bicubic")
_NETWORK = {"pad": PAD, "act_fun": ACTIVATION, "need_sigmoid": BOOLEAN, "need_bias": BOOLEAN}
_DETECTOR = {"patience": STEPS, "max_pixels": optional(integer(1))}

BY_TARGET: dict[str, dict[str, Allowed]] = {
    "dip_lightning.priors.deep.DeepPrior": {"activation_checkpointing": optional(one_of("all") | integer(0))},
    "dip_lightning.nets.skip.Skip": {
        **_NETWORK,
        "num_channels_down": list_of(integer(1)),
        "num_channels_up": list_of(integer(1)),
        "num_channels_skip": list_of(integer(0)),
        "filter_size_down": per_level(integer(1)),
        "filter_size_up": per_level(integer(1)),
        "filter_skip_size": per_level(integer(1)),
        "upsample_mode": per_level(_SKIP_UPSAMPLE),
        "downsample_mode": per_level(one_of(*DOWNSAMPLE_MODES)),
        "need1x1_up": BOOLEAN,
    },
    "dip_lightning.nets.unet.UNet": {
        **_NETWORK,
        "feature_scale": integer(1),
        "more_layers": integer(0),
        "upsample_mode": one_of("deconv", "nearest", "bilinear"),
        "norm_layer": NORM,
    },
    "dip_lightning.nets.resnet.ResNet": {
        **_NETWORK,
        "num_blocks": integer(1),
        "num_channels": integer(1),
        "need_residual": BOOLEAN,
        "norm_layer": NORM,
    },
    "dip_lightning.losses.loss.Loss": {"weight": number(0)},
    "dip_lightning.losses.regularizers.TotalVariation": {"beta": number(above=0)},
    "dip_lightning.losses.sure.SureLoss": {"eps_per_sigma": optional(number(above=0))},
    "torch.optim.Adam": {
        "lr": number(above=0),
        "betas": list_of(number(0, below=1), length=2),
        "eps": number(0),
        "weight_decay": number(0),
    },
    "dip_lightning.fitting.optim.AdamThenLBFGS": {
        "lr": number(above=0),
        "warmup_steps": integer(0),
        "warmup_lr": number(above=0),
        "history_size": integer(1),
    },
    "torch.optim.lr_scheduler.CosineAnnealingLR": {"T_max": STEPS, "eta_min": number(0)},
    "torch.optim.lr_scheduler.StepLR": {"step_size": STEPS, "gamma": number(above=0)},
    "dip_lightning.stopping.callback.EarlyStopping": {
        "name": TEXT,
        "average_lag": one_of("auto") | integer(0),
        "smoothing": number(above=0, high=1),
    },
    "dip_lightning.stopping.detectors.WindowedVariance": {
        **_DETECTOR,
        "window": integer(2),
        "window_dtype": one_of("float32", "float16", "bfloat16"),
    },
    "dip_lightning.stopping.detectors.ExponentialVariance": {
        **_DETECTOR,
        "alpha": number(above=0, below=1),
        "start": STEPS,
    },
    "dip_lightning.stopping.callback.OracleStopping": {
        "metric": one_of("psnr_avg", "psnr"),
        "every": STEPS,
        "patience": optional(STEPS),
    },
    "dip_lightning.stopping.callback.ValidationStopping": {
        "name": TEXT,
        "patience": STEPS,
        "smoothing": number(above=0, high=1),
    },
    "dip_lightning.stopping.held_out.HeldOutPixels": {"fraction": number(above=0, below=0.5), "block": integer(1)},
    "dip_lightning.physics.noise.GaussianNoise": {"sigma": number(0)},
    "dip_lightning.data.images.load_photo": {"source": PATH, "max_size": SIZE, "center_crop": SIZE},
    "dip_lightning.data.masks.BernoulliMask": {"missing_fraction": number(0, below=1)},
    "dip_lightning.data.masks.RectangleMask": {
        "height_fraction": number(above=0, below=1),
        "width_fraction": number(above=0, below=1),
    },
    "dip_lightning.data.masks.TextMask": {"text": TEXT, "lines_per_image": integer(1)},
    "dip_lightning.data.masks.FileMask": {"path": PATH, "max_size": SIZE, "center_crop": SIZE},
    "pytorch_lightning.Trainer": {
        "accelerator": one_of("auto", "cpu", "gpu", "cuda", "mps"),
        "devices": integer(1) | one_of("auto"),
        "precision": one_of("auto", "32-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true"),
        "memory_format": one_of(*MEMORY_FORMATS),
        "max_steps": STEPS,
        "max_epochs": one_of(-1) | integer(1),
        "log_every_n_steps": STEPS,
        "enable_checkpointing": BOOLEAN,
        "num_sanity_val_steps": integer(0),
        "deterministic": BOOLEAN | one_of("warn"),
        "enable_model_summary": BOOLEAN,
    },
    "dip_lightning.callbacks.progress_bar.DipProgressBar": {"refresh_rate": integer(0)},
    "dip_lightning.callbacks.image_logger.ImageLogger": {"every_n_steps": EVERY},
}


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
    by_target = BY_TARGET.get(str(node["_target_"]), {}) if literal else {}
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
