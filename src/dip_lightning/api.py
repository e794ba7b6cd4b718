"""`restore(...)`: one Deep Image Prior fit from Python (a notebook, a script), on the very config the
command line composes (Hydra's compose API over the same conf/), fitted by the same `train.run` (the
same module and callbacks), into the same run folder, or into none:

    from dip_lightning import restore
    result = restore("noisy.png", task="denoise", stopping="wmv", overrides=["optimizer.lr=0.005"])
    result.to_pil().save("restored.png"); result.record["psnr_observed"]; result.curve["loss"]

Pictures may be paths, PIL images, numpy arrays (H, W[, C]) or tensors ([1,] C, H, W). Bad input raises
the command line's errors (InputError, FileNotFoundError) instead of ending the process. A fit leaves
nothing behind in the process for the next one, or for the caller: the random generators, the CPU
threads, Hydra's global state and the loggers are as they were before it."""

import contextlib
import copy
import logging
import os
import random
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from PIL import Image

from dip_lightning import train
from dip_lightning.build import IN_MEMORY, read_pictures
from dip_lightning.config.command_line import checked_arguments
from dip_lightning.config.composition import composed
from dip_lightning.config.schema import check_config
from dip_lightning.data.folders import quoted
from dip_lightning.data.images import EMBEDDED, to_pil
from dip_lightning.data.photo import PhotoFormat, pil_to_photo
from dip_lightning.errors import InputError
from dip_lightning.reporting.plots import read_metrics
from dip_lightning.run.folder import METRICS_FILE
from dip_lightning.tiled import RESTORATION_FILE

log = logging.getLogger(__name__)

Picture = str | os.PathLike | Image.Image | np.ndarray | torch.Tensor
LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"  # the command line's (Hydra's) format


@dataclass
class Restoration:
    """What a fit returns: its pictures as (C, H, W) float tensors in [0, 1] on the CPU (`images`: the
    observation, the restoration and its average, and the ground truth, mask and network input where the
    run has them), its record (results.json's fields), its learning curve (csv/metrics.csv: metric ->
    {step: value}) and its folder (None when it was not kept)."""

    images: dict[str, torch.Tensor]
    record: dict
    curve: dict[str, dict[int, float]] = field(default_factory=dict)
    folder: Path | None = None
    photo_format: PhotoFormat | None = None  # how the picture came (mode, depth, alpha, ICC profile)

    @property
    def restored(self) -> torch.Tensor:
        """The restoration the run returns (restored.png): the last output, or the one a stopping rule kept."""
        return self.images["restored"]

    @property
    def restored_avg(self) -> torch.Tensor | None:
        """The exponential average of the outputs (restored_avg.png); None when the task does not average."""
        return self.images.get("restored_avg")

    @property
    def observation(self) -> torch.Tensor:
        return self.images["observation"]

    @property
    def ground_truth(self) -> torch.Tensor | None:
        return self.images.get("ground_truth")

    def to_pil(self, name: str | None = None) -> Image.Image:
        """A picture as a PIL image: by default the average where the run keeps one (the image a sweep's
        summary shows), else the restoration; or any of `images` by name ("restored", "observation"...)."""
        if name is None:
            name = "restored_avg" if "restored_avg" in self.images else "restored"
        if name not in self.images:
            raise KeyError(f"no {name!r} image: this run has {', '.join(self.images)}")
        return to_pil(self.images[name])

    def save(self, path: str | os.PathLike, name: str | None = None) -> None:
        """Write a picture (by default as to_pil chooses) as a PNG the way restored.png is written: in the
        picture's own mode and depth (gray or colour, 8 or 16 bits, its alpha and ICC profile given back)."""
        name = name or ("restored_avg" if "restored_avg" in self.images else "restored")
        if name not in self.images:
            raise KeyError(f"no {name!r} image: this run has {', '.join(self.images)}")
        (self.photo_format or PhotoFormat("L" if self.images[name].shape[0] == 1 else "RGB")).save(
            self.images[name], path
        )

    def __repr__(self) -> str:
        keys = ("task", "status", "steps", "psnr", "psnr_avg", "psnr_observed")
        fields = ", ".join(f"{key}={self.record[key]}" for key in keys if self.record.get(key) is not None)
        return f"Restoration({fields}, folder={self.folder})"


def restore(
    observed: Picture | None = None,
    task: str | None = None,
    *,
    image: Picture | None = None,
    ground_truth: Picture | None = None,
    mask: Picture | None = None,
    stopping: str | None = None,
    steps: int | None = None,
    seed: int | None = None,
    overrides: Sequence[str] = (),
    output_dir: str | os.PathLike | None = "auto",
    progress: bool = True,
) -> Restoration:
    """Restore `observed` (your corrupted picture), or corrupt the clean `image` (a picture, or the name of
    an embedded photo: astronaut, camera, coffee, chelsea) and restore it; with no picture, the config's
    (the astronaut photo). `ground_truth` scores the restoration (never used by the fit); `mask` is the
    known pixels of an inpainting (white = known). `task`, `stopping` (a conf/stopping option), `steps`
    (task.num_iter) and `seed` are overrides like those in `overrides` (any the command line takes), which
    come last and win; None keeps the config's default.

    `output_dir`: "auto" writes the command line's run folder (outputs/<task>-<arch>/<date_time>_<pid>/
    under the current directory), a path writes that folder, None keeps none (the fit writes into a
    temporary folder, removed once its results are read). `progress`: a progress bar (text, or a widget
    in a notebook with ipywidgets) and the run's log lines on stdout; False: quiet, only warnings."""
    with tempfile.TemporaryDirectory(prefix="dip_lightning-inputs-") as scratch:
        pictures = {"observed": observed, "image": image, "ground_truth": ground_truth, "mask": mask}
        settings = {"task": task, "stopping": stopping, "task.num_iter": steps, "seed": seed}
        arguments, given = _arguments(pictures, settings, overrides, Path(scratch))
        with _isolated(), composed(arguments) as cfg:
            if cfg.get("observed_dir") is not None:
                raise InputError(
                    "observed_dir= restores a folder from the command line (python -m dip_lightning "
                    "observed_dir=FOLDER); restore() fits one picture: call it for each"
                )
            check_config(cfg)
            folder = _run_folder(cfg, output_dir)
            try:
                with _run_log(folder, progress):
                    return _fit(cfg, given, folder, keep=output_dir is not None, progress=progress)
            finally:
                if output_dir is None:
                    shutil.rmtree(folder, ignore_errors=True)


def _fit(cfg: DictConfig, given: dict, folder: Path, keep: bool, progress: bool) -> Restoration:
    if not progress and "progress_bar" in (cfg.get("callbacks") or {}):
        cfg.callbacks.progress_bar.refresh_rate = 0
    keeper = _KeepModule()
    try:
        record = train.run(cfg, given, [keeper])
    except (InputError, FileNotFoundError, FloatingPointError) as error:
        train.record_failure(cfg, error)  # results.json says why, as the command line's run folder does
        raise
    except SystemExit as exit:  # Lightning ends a Ctrl-C (a notebook's interrupt) with SystemExit
        if exit.code == train.EXIT_CTRL_C:
            raise KeyboardInterrupt from None
        raise
    module = keeper.module
    if "tiles" in record:  # restored in tiles: the stitched photo; the whole photo's format read again
        images = torch.load(folder / RESTORATION_FILE, weights_only=True) if record["status"] == "finished" else {}
        return Restoration(images, record, {}, folder if keep else None, read_pictures(cfg, given)["observed"][1])
    images = {name: image[0].detach().float().cpu() for name, image in module.fixed_images().items()}
    images |= {name: image[0].detach().float().cpu() for name, image in module.restoration().items()}
    curve = read_metrics(folder) if (folder / METRICS_FILE).is_file() else {}
    return Restoration(images, record, curve, folder if keep else None, module.photo_format)


class _KeepModule(pl.Callback):
    """Hands the fitted module back to restore(), whose pictures it returns."""

    module: pl.LightningModule | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.module = pl_module


# ----- the command line's overrides, and the pictures given in memory ------------------------------------
def _arguments(pictures: dict, settings: dict, overrides: Sequence[str], scratch: Path) -> tuple[list[str], dict]:
    """The command line's overrides for restore()'s arguments, and the pictures in memory that
    build.read_images reads instead of files (a mask in memory goes through a PNG in `scratch`)."""
    if isinstance(overrides, str):
        raise InputError(f"overrides is a list of strings, e.g. [{overrides!r}]")
    arguments = [f"{key}={value}" for key, value in settings.items() if value is not None]
    given = {}
    image = pictures["image"]
    if isinstance(image, str) and image in EMBEDDED and not Path(image).exists():
        arguments.append(f"image={image}")
    elif image is not None:
        arguments += ["image=file", f"image.source={_source(image, 'image', given)}"]
    for key in ("observed", "ground_truth"):
        if pictures[key] is not None:
            arguments.append(f"{key}={_source(pictures[key], key, given)}")
    if (mask := pictures["mask"]) is not None:
        if not _is_path(mask):  # a mask is black and white: a PNG holds it exactly, and mask=file reads it
            known = as_tensor(mask, "mask").mean(0) >= 0.5
            mask = scratch / "mask.png"
            Image.fromarray(known.numpy().astype(np.uint8) * 255).save(mask)
        arguments += ["mask=file", f"mask.path={quoted(str(mask))}"]
    return checked_arguments([*arguments, *overrides]), given


def _is_path(picture) -> bool:
    return isinstance(picture, (str, os.PathLike))


def _source(picture: Picture, key: str, given: dict) -> str:
    """The override's value for a picture: its path, or a name for one in memory (then kept in `given`,
    which build.read_images reads instead of a file)."""
    if _is_path(picture):
        return quoted(str(picture))
    given[key] = as_photo(picture, key)
    name = getattr(picture, "filename", "") or f"{type(picture).__module__.split('.')[0]} {type(picture).__name__}"
    return quoted(f"{IN_MEMORY}{name}")


def as_tensor(picture: Picture, what: str = "picture") -> torch.Tensor:
    """A PIL image, a numpy array (H, W) or (H, W, C), or a tensor (C, H, W) or (1, C, H, W) as the
    (C, H, W) float tensor in [0, 1] a file would give (C = 1 or 3: an alpha channel is set apart, see
    as_photo). Integers are 8-bit (16-bit for uint16); floats must already be in [0, 1]."""
    return as_photo(picture, what)[0]


def as_photo(picture: Picture, what: str = "picture") -> tuple[torch.Tensor, PhotoFormat]:
    """The picture as as_tensor gives it, and its format: its alpha (a fourth channel), 16 bits for uint16
    and float pixels, 8 for the others; the restoration is written back so."""
    if isinstance(picture, Image.Image):
        return pil_to_photo(picture, what)
    if isinstance(picture, np.ndarray):
        deep = picture.dtype == np.uint16 or np.issubdtype(picture.dtype, np.floating)
        array = _unit_range(picture, what)
        tensor = torch.from_numpy(np.ascontiguousarray(np.moveaxis(array, -1, 0) if array.ndim == 3 else array))
    elif isinstance(picture, torch.Tensor):
        tensor = picture.detach().cpu()
        deep = tensor.is_floating_point()
        if tensor.ndim == 4:
            if tensor.shape[0] != 1:
                raise InputError(f"{what} is a batch of {tensor.shape[0]} pictures: restore() fits one at a time")
            tensor = tensor[0]
        tensor = torch.from_numpy(
            _unit_range((tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy(), what)
        )
    else:
        kind = type(picture).__name__
        raise InputError(f"{what} must be a path, a PIL image, a numpy array or a tensor, not {kind}")
    if tensor.ndim == 2:
        tensor = tensor[None]
    if tensor.ndim != 3 or tensor.shape[0] not in (1, 3, 4):
        layout = "(H, W, C)" if isinstance(picture, np.ndarray) else "(C, H, W)"
        raise InputError(f"{what} has shape {tuple(picture.shape)}: give a gray or RGB(A) picture as {layout}")
    colour, alpha = tensor[:3].contiguous(), tensor[3:].contiguous() if tensor.shape[0] == 4 else None
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[tensor.shape[0]]
    bits = 16 if deep else 8
    mode = ("I;16" if mode == "L" else f"{mode};16") if deep else mode
    return colour, PhotoFormat(mode, bits, alpha)


def _unit_range(array: np.ndarray, what: str) -> np.ndarray:
    """Pixels as float32 in [0, 1]: 8-bit and 16-bit integers scaled, floats checked."""
    if array.dtype == np.bool_:
        return array.astype(np.float32)
    if array.dtype in (np.uint8, np.uint16):
        return array.astype(np.float32) / np.iinfo(array.dtype).max
    if not np.issubdtype(array.dtype, np.floating):
        raise InputError(f"{what} is {array.dtype}: give uint8 (0-255), uint16 or float (0-1) pixels")
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise InputError(f"{what} holds NaN or infinite values")
    low, high = float(array.min()), float(array.max())
    if low < 0 or high > 1:
        raise InputError(
            f"{what} has values in [{low:.3g}, {high:.3g}]: pixels are in [0, 1] (divide 8-bit values by 255, "
            "clip a noisy picture with .clip(0, 1))"
        )
    return array


# ----- the config, the folder and the process's state -----------------------------------------------------
def _run_folder(cfg: DictConfig, output_dir) -> Path:
    """Make the run's folder (the command line's when "auto"; a temporary one when None), point the config
    at it and write .hydra/ into it as Hydra does (config, hydra, overrides: what summary and resume read)."""
    if output_dir is None:
        folder = Path(tempfile.mkdtemp(prefix="dip_lightning-"))
    else:
        chosen = str(cfg.hydra.run.dir) if isinstance(output_dir, str) and output_dir == "auto" else output_dir
        folder = Path(chosen).expanduser().absolute()
    cfg.output_dir = str(folder)
    job = copy.deepcopy(cfg)
    with read_write(job), open_dict(job):
        del job["hydra"]
    files = {
        "config.yaml": OmegaConf.to_yaml(job),
        "hydra.yaml": OmegaConf.to_yaml(HydraConfig.instance().cfg),
        "overrides.yaml": OmegaConf.to_yaml(cfg.hydra.overrides.task),
    }
    try:
        for name, text in files.items():
            (folder / ".hydra").mkdir(parents=True, exist_ok=True)
            (folder / ".hydra" / name).write_text(text)
    except OSError as error:
        raise InputError(
            f"cannot write the run's folder {folder}: {error.strerror or error}; choose another with output_dir="
        ) from None
    return folder


@contextlib.contextmanager
def _run_log(folder: Path, progress: bool) -> Iterator[None]:
    """The run's log into <folder>/dip_lightning.log, as on the command line, and on stdout with
    `progress` (unless the caller's own logging already shows it)."""
    logger = logging.getLogger("dip_lightning")
    handlers = [logging.FileHandler(folder / "dip_lightning.log")]
    handlers[0].setFormatter(logging.Formatter(LOG_FORMAT))
    if progress and not logging.getLogger().handlers:
        handlers.append(logging.StreamHandler(sys.stdout))
        handlers[-1].setFormatter(logging.Formatter("%(message)s"))
    level = logger.level
    logger.setLevel(logging.INFO)
    for handler in handlers:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(level)


@contextlib.contextmanager
def _isolated() -> Iterator[None]:
    """The caller's random generators, CPU threads, deterministic-algorithms flag and environment as they
    were: a fit seeds and sets them for itself (train.run), and must not leave them to the next."""
    states = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    environment = dict(os.environ)  # the seed's PL_GLOBAL_SEED, W&B's WANDB_SILENT...
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
        for name in set(os.environ) - set(environment):
            del os.environ[name]
        os.environ.update(environment)
