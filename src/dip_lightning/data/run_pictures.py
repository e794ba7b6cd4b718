"""A run's pictures, from its config: a clean `image` to corrupt, or a user's `observed` one and its
`ground_truth`, read from their files, or taken from the pictures the Python API holds in memory."""

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from dip_lightning.data.images import cut_photo, load_image, load_photo
from dip_lightning.data.photo import PhotoFormat
from dip_lightning.errors import InputError

IN_MEMORY = "in memory: "  # how a run's config names a picture the Python API was given as data, not a file


def read_images(cfg: DictConfig, scale: int, given: dict | None = None) -> dict:
    """The run's pictures: a clean `image` to corrupt, or a user's `observed` one and its `ground_truth`,
    and `photo_format`, how the clean image or the observation was stored (the restoration is written back
    so). image.center_crop cuts every image read; image.max_size shrinks only a clean image (shrinking an
    observation would change its noise), see conf/image. `scale`: the task's (an observation `scale` times
    smaller than its ground truth). `given` holds pictures already in memory (the Python API's: "image",
    "observed", "ground_truth" -> ((C, H, W) tensor, PhotoFormat)), cut as if read from files."""
    given = given or {}
    center_crop = cfg.image.get("center_crop")
    if cfg.get("observed_dir") is not None and cfg.observed is None:  # -m observed_dir=a,b: jobs without a photo
        raise InputError("observed_dir= takes one folder, whose photos the sweep restores: one command per folder")
    if cfg.observed is None:
        if cfg.ground_truth is not None:
            raise InputError("ground_truth= scores a user's observed= image; give observed= too")
        if "image" in given:
            image, photo = cut_photo(*given["image"], cfg.image.get("max_size"), center_crop)
        else:
            _refuse_in_memory("image.source", cfg.image.get("source"))
            image, photo = instantiate(cfg.image)
        return {"image": image, "photo_format": photo}
    if cfg.ground_truth is not None and scale > 1 and center_crop:
        raise InputError("image.center_crop would cut a low-resolution observation and its ground truth apart")

    def read(key: str) -> tuple[torch.Tensor, PhotoFormat]:
        if key in given:
            return cut_photo(*given[key], None, center_crop)
        _refuse_in_memory(key, cfg[key])
        return load_photo(cfg[key], None, center_crop)

    truth = read("ground_truth")[0] if cfg.ground_truth is not None else None
    observed, photo = read("observed")
    return {"observed": observed, "ground_truth": truth, "photo_format": photo}


def read_input_image(cfg: DictConfig, path: str) -> torch.Tensor:
    """A picture fed to the network (prior.input_image), cut as the run's other pictures."""
    return load_image(path, max_size=None, center_crop=cfg.image.get("center_crop"))


def _refuse_in_memory(key: str, value) -> None:
    """A run of the Python API with a picture given as data, started again without it (its folder resumed
    from the command line): no file holds that picture, so say how to go on."""
    if isinstance(value, str) and value.startswith(IN_MEMORY):
        raise InputError(
            f"{key} was a picture given to restore() in Python ({value}), and no file holds it: to go on with "
            "that run, call restore() again with the same pictures and output_dir=its folder; from the command "
            f"line, give {key}=PATH"
        )
