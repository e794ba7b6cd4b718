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
from dip_lightning.build import read_pictures
from dip_lightning.config.command_line import checked_arguments
from dip_lightning.config.composition import composed
from dip_lightning.config.profiles import with_profile
from dip_lightning.config.schema import check_config
from dip_lightning.data.folders import quoted
from dip_lightning.data.images import EMBEDDED, to_pil
from dip_lightning.data.in_memory import Picture, as_photo, as_tensor
from dip_lightning.data.photo import PhotoFormat
from dip_lightning.data.run_pictures import IN_MEMORY
from dip_lightning.errors import InputError
from dip_lightning.reporting.plots import read_metrics
from dip_lightning.run.folder import METRICS_FILE
from dip_lightning.tiled import RESTORATION_FILE

log = logging.getLogger(__name__)

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
        """The picture the fit was fitted to: your observed one, or the clean image as the task corrupted it."""
        return self.images["observation"]

    @property
    def ground_truth(self) -> torch.Tensor | None:
        """The clean picture the restoration is scored against; None for a photo of yours given without one."""
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
    data/run_pictures.py reads instead of files (a mask in memory goes through a PNG in `scratch`)."""
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
    return with_profile(checked_arguments([*arguments, *overrides])), given


def _is_path(picture) -> bool:
    return isinstance(picture, (str, os.PathLike))


def _source(picture: Picture, key: str, given: dict) -> str:
    """The override's value for a picture: its path, or a name for one in memory (then kept in `given`,
    which data/run_pictures.py reads instead of a file)."""
    if _is_path(picture):
        return quoted(str(picture))
    given[key] = as_photo(picture, key)
    name = getattr(picture, "filename", "") or f"{type(picture).__module__.split('.')[0]} {type(picture).__name__}"
    return quoted(f"{IN_MEMORY}{name}")


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
