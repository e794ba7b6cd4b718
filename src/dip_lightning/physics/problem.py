"""One restoration problem: the observation y to fit, the ground truth to score against (if any), and
where both were cut from their files."""

import logging
import math
from dataclasses import dataclass

import torch

from dip_lightning.data.crop import Crop, centre_crop
from dip_lightning.errors import InputError
from dip_lightning.physics.physics import Physics

log = logging.getLogger(__name__)


@dataclass
class Problem:
    observed: torch.Tensor  # (1, C, h, w)
    ground_truth: torch.Tensor | None  # (1, C, H, W), the restoration's size
    crop: Crop  # of the source: the clean image, or the user's observation
    restored_size: tuple[int, int]  # (H, W)


def check_sources(
    image: torch.Tensor | None, observed: torch.Tensor | None, ground_truth: torch.Tensor | None, scale: int
) -> torch.Tensor:
    """The source image (C, H, W): a clean `image` to degrade, or a user's `observed` image, whose
    optional `ground_truth` must be `scale` times larger."""
    if (image is None) == (observed is None):
        raise InputError("give either a clean `image` to corrupt or an `observed` (already corrupted) image")
    if image is not None and ground_truth is not None:
        raise InputError("`ground_truth` goes with `observed`; a clean `image` is its own ground truth")
    if ground_truth is not None:
        expected = (observed.shape[0], *(n * scale for n in observed.shape[-2:]))
        if tuple(ground_truth.shape) != expected:
            raise InputError(
                f"ground truth is {tuple(ground_truth.shape)} (C, H, W) but the restoration of an observation "
                f"of {tuple(observed.shape)} will be {expected}"
            )
    return image if image is not None else observed


def make_problem(
    physics: Physics,
    image: torch.Tensor | None,
    observed: torch.Tensor | None,
    ground_truth: torch.Tensor | None,
    stride: int,
    min_size: int,
    generator: torch.Generator,
    crop_to_stride: bool = False,
) -> Problem:
    """Let the physics prepare (a mask), then degrade a clean image or accept the user's. The whole image is
    restored (the network draws a canvas around it: data/canvas.py), except that a clean image to
    downsample is cut to a multiple of the factor; with `crop_to_stride`, the source is centre-cropped so
    that the restoration is a multiple of the network's `stride` and at least `min_size`, as the reference
    crops its images (the paper presets)."""
    scale = physics.scale
    source = check_sources(image, observed, ground_truth, scale)
    synthetic = image is not None
    zoom = 1 if synthetic else scale  # restored size / source size
    multiple = math.lcm(stride if crop_to_stride else 1, scale) // zoom
    crop = centre_crop(*source.shape[-2:], multiple)
    if not crop.is_whole:
        why = "for the network's stride" if crop_to_stride else f"to downsample it x{scale}"
        log.info(
            f"centre-cropped the {'clean' if synthetic else 'observed'} image from {crop.source_width}x"
            f"{crop.source_height} to {crop.width}x{crop.height}, a multiple of {multiple} {why}"
        )
    restored_size = (crop.height * zoom, crop.width * zoom)
    if crop_to_stride and min(restored_size) < min_size:
        raise InputError(
            f"the restored image would be {restored_size[1]}x{restored_size[0]} pixels, but this network "
            f"needs at least {min_size} on each side: use a larger image, a network with fewer levels, or "
            "fit_size=pad"
        )
    physics.prepare(crop, generator, synthetic)
    if synthetic:
        clean = crop(image)[None].float()
        return Problem(physics.degrade(clean, generator).float(), clean, crop, restored_size)
    truth = crop(ground_truth, scale)[None].float() if ground_truth is not None else None
    return Problem(physics.operator.accept(crop(observed)[None].float()), truth, crop, restored_size)
