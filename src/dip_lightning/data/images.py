"""Image files in and out: every image is a float32 tensor (C, H, W) in [0, 1], C = 1 or 3 (photo.py reads
a file with its format, to write the restoration back the same way)."""

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dip_lightning.atomic import write_atomically
from dip_lightning.data.crop import centred
from dip_lightning.data.photo import PLAIN, PhotoFormat, pil_to_photo, read_photo
from dip_lightning.errors import InputError

# Real photographs that scikit-image ships inside its wheel (no download): name -> file in skimage/data.
EMBEDDED = {
    "astronaut": "astronaut.png",  # RGB 512x512, NASA, public domain
    "camera": "camera.png",  # gray 512x512
    "coffee": "coffee.png",  # RGB 400x600
    "chelsea": "chelsea.png",  # RGB 300x451, a cat
}


def embedded_path(name: str) -> Path:
    if name not in EMBEDDED:
        raise InputError(f"unknown embedded image {name!r}; choose one of {sorted(EMBEDDED)} or image=file")
    import skimage

    return Path(skimage.__file__).parent / "data" / EMBEDDED[name]


def pil_to_tensor(image: Image.Image, source: str = "image") -> torch.Tensor:
    """Any PIL image as gray (1 channel) or RGB (3) at full precision; its format (alpha...) is dropped."""
    return pil_to_photo(image, source)[0]


def read_image(path: str | os.PathLike, max_size: int | None = None) -> torch.Tensor:
    """Read an image file (read_photo, without its format); with `max_size`, shrink it (Lanczos) so its
    longer side is at most that."""
    tensor, _ = read_photo(path)
    return shrink(tensor, max_size) if max_size else tensor


def load_image(source: str | os.PathLike, max_size: int | None = None, center_crop: int | None = None) -> torch.Tensor:
    """An image file, or one of the embedded photographs by name (a file of that name wins); with
    `max_size`, shrunk so its longer side is at most that; with `center_crop`, cut to its central
    center_crop x center_crop pixels (or less where it is smaller)."""
    return load_photo(source, max_size, center_crop)[0]


def load_photo(
    source: str | os.PathLike, max_size: int | None = None, center_crop: int | None = None
) -> tuple[torch.Tensor, PhotoFormat]:
    """As load_image, with the photo's format (its alpha shrunk and cut with it)."""
    if str(source) in EMBEDDED and not Path(source).exists():
        source = embedded_path(str(source))
    try:
        image, photo = read_photo(source)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{error} (embedded images: {', '.join(sorted(EMBEDDED))})") from None
    return cut_photo(image, photo, max_size, center_crop)


def cut_photo(
    image: torch.Tensor, photo: PhotoFormat = PLAIN, max_size: int | None = None, center_crop: int | None = None
) -> tuple[torch.Tensor, PhotoFormat]:
    """A picture and its format shrunk (`max_size`) and cut (`center_crop`) alike."""
    alpha = photo.alpha
    if max_size:
        image = shrink(image, max_size)
        alpha = shrink(alpha, max_size) if alpha is not None else None
    if center_crop:
        crop = centred(*image.shape[-2:], center_crop, center_crop)
        image, alpha = crop(image), crop(alpha) if alpha is not None else None
    return image, replace(photo, alpha=alpha)


def resize(
    image: torch.Tensor, height: int, width: int, resample: Image.Resampling = Image.Resampling.LANCZOS
) -> torch.Tensor:
    """PIL's resize of each channel in float precision: antialiased Lanczos (PIL's 'ANTIALIAS', the
    reference's) by default, or another PIL filter (BICUBIC: MATLAB's imresize kernel, a = -0.5)."""
    channels = [
        np.asarray(Image.fromarray(plane.numpy()).resize((width, height), resample)) for plane in image.float().cpu()
    ]
    return torch.from_numpy(np.stack(channels)).clamp(0, 1)


def shrink(image: torch.Tensor, max_size: int) -> torch.Tensor:
    height, width = image.shape[-2:]
    scale = max_size / max(height, width)
    if scale >= 1:
        return image
    return resize(image, max(1, round(height * scale)), max(1, round(width * scale)))


def to_pil(image: torch.Tensor) -> Image.Image:
    array = (image.detach().float().clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)
    return Image.fromarray(array[0]) if array.shape[0] == 1 else Image.fromarray(array.transpose(1, 2, 0))


def save_png(image: Image.Image | torch.Tensor, path: Path) -> None:
    picture = to_pil(image) if isinstance(image, torch.Tensor) else image
    write_atomically(path, lambda handle: picture.save(handle, format="PNG"))
