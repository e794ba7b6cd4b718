"""From a composed config to the objects of a fit: the task's LightningModule (physics, prior, loss,
optimizer, images), refused before it allocates when it cannot fit; `build_problem` gives the physics and
the observation alone, without a network. Importing it registers nothing and changes no global state."""

import contextlib
import functools
import logging

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import MissingMandatoryValue

from dip_lightning.data.photo import PLAIN
from dip_lightning.data.run_pictures import read_images, read_input_image
from dip_lightning.data.tiles import TileGrid
from dip_lightning.errors import InputError
from dip_lightning.fitting.optim import flattens_gradients
from dip_lightning.hardware.precision import resolve_accelerator
from dip_lightning.hardware.preflight import largest_tile, preflight, tiles_estimate
from dip_lightning.losses.sure import SureLoss
from dip_lightning.module import DeepImagePrior
from dip_lightning.nets.checkpointing import build_network
from dip_lightning.physics.noise import ESTIMATED
from dip_lightning.physics.operator import Identity
from dip_lightning.physics.physics import Physics
from dip_lightning.physics.problem import Problem, make_problem
from dip_lightning.priors.pixels import PixelPrior
from dip_lightning.stopping.callback import StoppingCallback
from dip_lightning.stopping.criterion import StoppingCriterion

log = logging.getLogger(__name__)
# where a rule with `when` applies: a user's image (observed=PATH) only, or synthetic observations too
STOPPING_WHEN = ("observed", "every_image")


def choice(group: str, fallback: str | None) -> str | None:
    return HydraConfig.get().runtime.choices.get(group, fallback) if HydraConfig.initialized() else fallback


def flat_optimizer(cfg: DictConfig) -> bool:
    """Whether the config's optimizer views each gradient as one flat vector (L-BFGS: NCHW only)."""
    with _input_errors():
        return flattens_gradients(instantiate(cfg.optimizer))


def _check_optimizer(optimizer) -> None:
    """Build the optimizer once on a dummy parameter, so a bad setting (lr=nan) is caught before the fit."""
    try:
        optimizer([torch.nn.Parameter(torch.zeros(1))])
    except (ValueError, TypeError) as error:
        raise InputError(f"optimizer: {error}") from None


@contextlib.contextmanager
def _input_errors():
    """Say what was wrong with the input, not where Hydra called it."""
    try:
        yield
    except InstantiationException as error:
        cause = error.__cause__
        while isinstance(cause, InstantiationException):  # a constructor that instantiates in its turn
            cause = cause.__cause__
        if isinstance(cause, MissingMandatoryValue):
            raise _missing(cause) from None
        if isinstance(cause, (InputError, FileNotFoundError)):
            raise cause from None
        raise
    except MissingMandatoryValue as error:
        raise _missing(error) from None


def build_problem(cfg: DictConfig) -> tuple[Physics, Problem]:
    """The task's physics and its problem (the observation the fit would see, its ground truth, the crop),
    as the module of the same config makes them, without building the module."""
    with _input_errors():
        physics, prior = instantiate(cfg.task.physics), instantiate_prior(cfg)
        images = read_images(cfg, physics.scale)
        source = images.get("image", images.get("observed"))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)  # as the module: the network's shape is what matters here
            network = prior(channels=source.shape[0])
        generator = torch.Generator().manual_seed(cfg.seed)  # the module's: the degradation's draws
        image, observed, truth = images.get("image"), images.get("observed"), images.get("ground_truth")
        stride, min_size = network.total_stride, network.min_input_size
        crop = cfg.fit_size == "crop"
        return physics, make_problem(physics, image, observed, truth, stride, min_size, generator, crop)


def instantiate_prior(cfg: DictConfig, memory_format: torch.memory_format = torch.contiguous_format):
    """The prior's constructor, a partial (the module gives the channels); the deep prior's layout is
    `memory_format`, the one resolved for the fit (the config's prior.memory_format is the request:
    hardware/layout.py; batched restarts run NCHW whatever they are given)."""
    layout = {"memory_format": memory_format} if "memory_format" in cfg.prior else {}  # prior=pixels: no network
    return instantiate(cfg.prior, **layout)


def build_module(
    cfg: DictConfig,
    dtype: torch.dtype = torch.float32,
    images: dict | None = None,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> DeepImagePrior:
    """The LightningModule of the task, with its physics, parametrisation, loss, optimizer and images,
    from the config alone; with cfg.check_fit, refused before it allocates when it cannot fit in memory
    (`dtype`: the precision the fit computes in; `images`: pictures in memory, see data/run_pictures.py;
    `memory_format`: the deep prior's layout, see hardware/layout.py)."""
    with _input_errors():
        task = cfg.task
        physics, optimizer = instantiate(task.physics), instantiate(cfg.optimizer)
        batched = cfg.restarts > 1 and restarts_batched(cfg)
        prior = instantiate_prior(cfg, torch.contiguous_format if batched else memory_format)
        loss = instantiate(cfg.loss)
        _check_optimizer(optimizer)
        _check_combination(cfg, physics, prior, loss)
        images = read_images(cfg, physics.scale, images)
        settings = dict(prior.keywords)  # the prior's settings (a partial: the module gives the channels)
        if settings.get("input_image"):  # a picture fed to the network: read as the others
            prior = functools.partial(prior, input_image=read_input_image(cfg, settings["input_image"]))
        if cfg.check_fit and choice("prior", "deep") == "deep":
            _preflight(cfg, settings, physics.scale, images, dtype)
        return DeepImagePrior(
            name=task.name,
            physics=physics,
            prior=prior,
            loss=loss,
            optimizer=optimizer,
            scheduler=instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
            num_iter=task.num_iter,
            exp_weight=task.exp_weight,
            backtrack_db=task.backtrack_db,
            eval_every=task.eval_every,
            seed=cfg.seed,
            restarts=cfg.restarts,
            restarts_batched=restarts_batched(cfg),
            crop_to_stride=cfg.fit_size == "crop",
            **images,
        )


def build_stopping(cfg: DictConfig, observed: torch.Tensor | None = None) -> StoppingCallback | None:
    """The stopping rule, its criterion in the one stopping callback, or None. `stopping=auto`
    (conf/stopping/auto.yaml) holds a rule with `when: observed`: it applies to a user's image
    (observed=PATH) only, where the task's physics adds noise (denoise, deblur, jpeg: on the noiseless
    inpaint and sr the paper's budget ends at the peak, experiments/stopping_benchmark.md), and not with
    a loss that does not overfit the noise (loss=sure).
    `when: every_image` applies the same rule to synthetic observations too (the mini paper presets)."""
    node = cfg.get("stopping")
    if not node:
        return None
    settings = OmegaConf.to_container(node, resolve=True)
    when = settings.pop("when", None)
    if when not in (None, *STOPPING_WHEN):
        raise InputError(f"stopping.when must be one of {STOPPING_WHEN}, got {when!r}")
    if not settings:  # stopping=none under a preset that sets `when` (the mini presets)
        return None
    if when is not None:
        with _input_errors():
            overfits_noise = instantiate(cfg.loss).overfits_noise
        if (when == "observed" and cfg.observed is None) or not overfits_noise:
            return None
        if cfg.task.physics.get("noise") is None:
            log.info(
                f"stopping=auto: task {cfg.task.name}'s observation is modelled without noise, so the network has "
                "no noise to overfit: the task's budget stands (stopping=validation stops it anyway)"
            )
            return None
        if observed is not None and observed.shape[-2] * observed.shape[-1] < 2:
            log.info("stopping=auto: a one-pixel picture has no pixel to hold out: the task's budget stands")
            return None
    with _input_errors():
        criterion = instantiate(settings)
    if not isinstance(criterion, StoppingCriterion):
        raise InputError(f"stopping: {type(criterion).__name__} is not a stopping criterion (stopping/criterion.py)")
    return StoppingCallback(criterion)


def _check_combination(cfg: DictConfig, physics, prior, loss) -> None:
    """Settings that work alone but not together, refused before anything is built."""
    chosen_noise = choice("noise", "gaussian")
    if chosen_noise != "gaussian" and type(physics.noise) is not get_class(cfg.noise._target_):
        raise InputError(
            f"noise={chosen_noise} is the noise of task=denoise and deblur; task={cfg.task.name}'s observation "
            "is made its own way (conf/task)"
        )
    if prior.func is PixelPrior and cfg.restarts > 1:
        raise InputError("prior=pixels has nothing random to restart: use restarts=1")
    if isinstance(loss, SureLoss):
        if not isinstance(physics.operator, Identity):
            raise InputError("loss=sure is for denoising: it needs the identity operator (task=denoise)")
        if cfg.prior.get("input_type") != "observation":
            raise InputError("loss=sure differentiates the network by its input: set prior.input_type=observation")
        if cfg.restarts > 1:
            raise InputError("loss=sure fits one network: it does not combine with restarts")


def _preflight(cfg: DictConfig, settings: dict, scale: int, images: dict, dtype: torch.dtype) -> None:
    source = images.get("image")
    if source is None:  # a user's observation: the restoration is `scale` times larger
        source = images["observed"]
    else:
        scale = 1
    size = (source.shape[-2] * scale, source.shape[-1] * scale)
    device = resolve_accelerator(cfg.trainer.accelerator)
    preflight(*_network_of(cfg, settings, source.shape[0]), size, cfg.task.num_iter, cfg.restarts, device, dtype)


def _network_of(cfg: DictConfig, settings: dict, channels: int) -> tuple:
    """(make_net, channels, input_depth): what the memory and time estimates build."""
    input_depth = channels if settings["input_type"] == "observation" else settings["input_depth"]
    make_net = functools.partial(build_network, settings["net"], settings["activation_checkpointing"])
    return make_net, channels, input_depth


def read_pictures(cfg: DictConfig, given: dict | None = None) -> dict:
    """The run's pictures, read once, as the `given` pictures build_module and the tiles take (name ->
    (tensor, PhotoFormat)): the clean image, or the observation and its ground truth."""
    with _input_errors():
        # the operator alone: the noise model may still wait for its estimate from these pictures (noise.NAME=auto)
        images = read_images(cfg, instantiate(cfg.task.physics.operator).scale, given)
    photo = images.pop("photo_format")
    return {
        name: (image, photo if name != "ground_truth" else PLAIN) for name, image in images.items() if image is not None
    }


def plan_tiles(cfg: DictConfig, pictures: dict, dtype: torch.dtype) -> tuple[TileGrid, int] | None:
    """The tiles of a photo that is restored in tiles (tiled.py), with the task's scale; None for a whole fit.
    `tile=N`: tiles of N pixels of the observation; `tile=auto`: whole where the fit's memory estimate fits
    the free memory (as the preflight checks), else tiles of the largest size that does; `tile=none`: whole."""
    setting = str(cfg.tile)
    if setting == "none":
        return None
    if "observed" not in pictures:
        if setting == "auto":
            return None
        raise InputError(
            f"tile={setting} restores a photo of yours in tiles (observed=PATH); a clean image is "
            "corrupted and fitted whole"
        )
    observed = pictures["observed"][0]
    height, width = observed.shape[-2:]
    scale = instantiate(cfg.task.physics).scale
    deep, device = choice("prior", "deep") == "deep", resolve_accelerator(cfg.trainer.accelerator)
    network = _network_of(cfg, dict(instantiate(cfg.prior).keywords), observed.shape[0]) if deep else None
    if setting == "auto":
        if not cfg.check_fit or not deep:
            return None
        side = largest_tile(*network, (height * scale, width * scale), cfg.restarts, device, dtype)
        if not side:  # fits whole, or nothing fits: the preflight says which
            return None
        tile = side // scale
        overlap = min(cfg.tile_overlap, tile // 4)  # small tiles (little memory, or SR's low resolution) overlap less
    else:
        tile, overlap = int(setting), cfg.tile_overlap
    if tile >= max(height, width):
        return None
    if not 0 <= overlap < tile:
        raise InputError(f"tile_overlap must be in [0, tile) pixels: {overlap} with tiles of {tile}")
    grid = TileGrid(height, width, tile, overlap)
    how = "tile=auto: the whole photo does not fit in memory" if setting == "auto" else f"tile={setting}"
    message = (
        f"{how}: {width}x{height} restored in {len(grid)} tiles of {tile} px overlapping by {grid.overlap} px, "
        "each a fit of its own, blended"
    )
    if deep and cfg.check_fit:
        steps = cfg.task.num_iter
        message += "; " + tiles_estimate(*network, tile * scale, len(grid), steps, cfg.restarts, device, dtype)
    log.info(message)
    return grid, scale


def restarts_batched(cfg: DictConfig) -> bool:
    """Batched restarts (one vmapped computation) pay off on a GPU; on a CPU the sequential networks are
    faster (experiments/benchmarks/suite.md). restarts_batched=true|false decides instead of `auto`."""
    if cfg.restarts_batched != "auto":
        return bool(cfg.restarts_batched)
    return resolve_accelerator(cfg.trainer.accelerator) == "cuda"


def _missing(error: MissingMandatoryValue) -> InputError:
    key = error.full_key
    return InputError(f"{key} is not set: give {key}=... on the command line")


def estimate_noise(cfg: DictConfig, pictures: dict) -> None:
    """`noise.NAME=auto`: the noise model's parameter estimated from the photo (observed=), written into the
    config before anything is built from it (the matched loss reads it too), and logged. A model that
    estimates its parameters says how in its `estimate(observed) -> {name: value}`."""
    node = cfg.get("noise")
    auto = [name for name, value in OmegaConf.to_container(node or {}, resolve=False).items() if value == ESTIMATED]
    if not auto:
        return
    if "observed" not in pictures:
        raise InputError(
            f"noise.{auto[0]}=auto estimates the noise of a photo of yours (observed=PATH): a synthetic run "
            "needs a number"
        )
    model = get_class(node._target_)
    if not hasattr(model, "estimate"):
        raise InputError(f"noise.{auto[0]}=auto: {model.__name__} does not estimate its parameters: give a number")
    values = model.estimate(pictures["observed"][0])
    with open_dict(cfg):
        for name in auto:
            cfg.noise[name] = round(float(values[name]), 6)
    found = ", ".join(f"noise.{name}={cfg.noise[name]}" for name in auto)
    log.info(f"estimated from the photo: {found} ({model.__name__}.estimate, physics/noise_estimation.py)")


def describe(cfg: DictConfig, module: DeepImagePrior | None = None) -> dict:
    """The fields that say what a run is, first in its results.json."""
    deep = choice("prior", "deep") == "deep"
    return {
        "task": module.name if module is not None else cfg.task.get("name"),
        "prior": choice("prior", None if module is None else type(module.prior).__name__.lower()),
        "arch": choice("arch", None) if deep else None,
        "image": str(cfg.observed if cfg.observed is not None else cfg.image.get("source")),
        "seed": cfg.seed,
        "profile": choice("profile", None),
    }
