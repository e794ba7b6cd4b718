"""Image files in and out: every image is a float32 tensor (C, H, W) in [0, 1], C = 1 or 3."""

import logging
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from dip_lightning.atomic import write_atomically
from dip_lightning.data.crop import centred
from dip_lightning.errors import InputError

log = logging.getLogger(__name__)

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
    """8-bit, 16-bit, palette, alpha and CMYK images all become gray (1 channel) or RGB (3)."""
    if image.mode in ("RGB", "RGBA") and any(";16" in str(tile.args) for tile in getattr(image, "tile", ())):
        log.warning("%s has 16 bits per colour channel: Pillow reads it at 8 bits (16-bit gray keeps 16)", source)
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        log.warning("%s has an alpha channel: it is ignored (only the colour is restored)", source)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if array.max() > 255 or image.mode.startswith("I;16") else 255.0
        return torch.from_numpy(np.clip(array / peak, 0, 1)).float()[None]
    if image.mode == "F":
        return torch.from_numpy(np.clip(np.asarray(image, dtype=np.float32), 0, 1))[None]
    gray = image.mode in ("1", "L", "LA") or (image.mode == "P" and _palette_is_gray(image))
    image = image.convert("L" if gray else "RGB")
    array = np.asarray(image, dtype=np.float32) / 255.0
    return torch.from_numpy(array)[None] if gray else torch.from_numpy(array).permute(2, 0, 1).contiguous()


def _palette_is_gray(image: Image.Image) -> bool:
    rgb = np.asarray(image.convert("RGB"))
    return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())


def read_image(path: str | os.PathLike, max_size: int | None = None) -> torch.Tensor:
    """Read an image file; with `max_size`, shrink it (Lanczos) so its longer side is at most that."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise InputError(f"{path} is a folder, not an image file")
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        with Image.open(path) as image:
            tensor = pil_to_tensor(image, str(path))
    except UnidentifiedImageError as error:
        raise InputError(f"{path} is not an image file Pillow can read") from error
    except PermissionError as error:
        raise InputError(f"cannot read {path}: permission denied") from error
    except (OSError, SyntaxError, ValueError) as error:  # truncated or corrupt data inside a known format
        raise InputError(f"{path} is damaged: {error}") from error
    if not torch.isfinite(tensor).all():
        raise InputError(f"{path} holds NaN or infinite values")
    return shrink(tensor, max_size) if max_size else tensor


def load_image(source: str | os.PathLike, max_size: int | None = None, center_crop: int | None = None) -> torch.Tensor:
    """An image file, or one of the embedded photographs by name (a file of that name wins); with
    `max_size`, shrunk so its longer side is at most that; with `center_crop`, cut to its central
    center_crop x center_crop pixels (or less where it is smaller)."""
    if str(source) in EMBEDDED and not Path(source).exists():
        image = read_image(embedded_path(str(source)), max_size)
    else:
        try:
            image = read_image(source, max_size)
        except FileNotFoundError as error:
            raise FileNotFoundError(f"{error} (embedded images: {', '.join(sorted(EMBEDDED))})") from None
    return centred(*image.shape[-2:], center_crop, center_crop)(image) if center_crop else image


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
