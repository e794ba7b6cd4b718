"""Pictures given as data, not as files (the Python API's restore(): a PIL image, a numpy array or a
tensor), read as a file of the same pixels would be (photo.py): a (C, H, W) float32 tensor in [0, 1],
C = 1 or 3, and its format (alpha, bit depth) to write the restoration back the same way."""

import os

import numpy as np
import torch
from PIL import Image

from dip_lightning.data.photo import PhotoFormat, array_to_photo, pil_to_photo
from dip_lightning.errors import InputError

InMemory = Image.Image | np.ndarray | torch.Tensor  # a picture given as data
Picture = str | os.PathLike | InMemory  # what restore() takes: a path, or a picture in memory


def as_tensor(picture: InMemory, what: str = "picture") -> torch.Tensor:
    """A PIL image, a numpy array (H, W) or (H, W, C), or a tensor (C, H, W) or (1, C, H, W) as the
    (C, H, W) float tensor in [0, 1] a file would give (an alpha channel is set apart, see as_photo).
    Integers are 8-bit (16-bit for uint16); floats must already be in [0, 1]."""
    return as_photo(picture, what)[0]


def as_photo(picture: InMemory, what: str = "picture") -> tuple[torch.Tensor, PhotoFormat]:
    """The picture as as_tensor gives it, and its format: its alpha (a fourth channel, or the second of
    gray), 16 bits for uint16 and float pixels, 8 for the others."""
    if isinstance(picture, Image.Image):
        return pil_to_photo(picture, what)
    if isinstance(picture, torch.Tensor):
        picture = _tensor_as_array(picture, what)
    elif not isinstance(picture, np.ndarray):
        kind = type(picture).__name__
        raise InputError(f"{what} must be a path, a PIL image, a numpy array or a tensor, not {kind}")
    _check_values(picture, what)
    return array_to_photo(picture, what)


def _tensor_as_array(tensor: torch.Tensor, what: str) -> np.ndarray:
    """A tensor (C, H, W), (1, C, H, W) or (H, W) as the numpy picture (H, W, C) it holds."""
    tensor = tensor.detach().cpu()
    if tensor.ndim == 4:
        if tensor.shape[0] != 1:
            raise InputError(f"{what} is a batch of {tensor.shape[0]} pictures: restore() fits one at a time")
        tensor = tensor[0]
    if tensor.ndim == 2:
        tensor = tensor[None]
    if tensor.ndim != 3 or tensor.shape[0] not in (1, 3, 4):
        raise InputError(f"{what} has shape {tuple(tensor.shape)}: give a gray or RGB(A) picture as (C, H, W)")
    array = (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()
    return np.moveaxis(array, 0, -1)


def _check_values(array: np.ndarray, what: str) -> None:
    """Integers 8 or 16 bits wide, floats finite and in [0, 1]: one line otherwise."""
    if array.dtype in (np.bool_, np.uint8, np.uint16):
        return
    if not np.issubdtype(array.dtype, np.floating):
        raise InputError(f"{what} is {array.dtype}: give uint8 (0-255), uint16 or float (0-1) pixels")
    if not np.isfinite(array).all():
        raise InputError(f"{what} holds NaN or infinite values")
    low, high = float(array.min()), float(array.max())
    if low < 0 or high > 1:
        raise InputError(
            f"{what} has values in [{low:.3g}, {high:.3g}]: pixels are in [0, 1] (divide 8-bit values by 255, "
            "clip a noisy picture with .clip(0, 1))"
        )
