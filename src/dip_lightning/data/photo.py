"""A user's photo read at full precision, and its restoration written back in the photo's own mode and depth.

Pillow reads and writes every 8-bit picture and 16-bit gray, but only the top 8 bits of 16-bit colour; so
pypng (pure Python, no binary) reads and writes 16-bit colour PNG, and tifffile reads 16-bit colour TIFF.
Every 16-bit picture is written back with pypng, every 8-bit one with Pillow; both as PNG.
"""

import contextlib
import io
import logging
import os
import struct
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import png
import tifffile
import torch
from PIL import Image, UnidentifiedImageError

from dip_lightning.atomic import write_atomically
from dip_lightning.errors import InputError

log = logging.getLogger(__name__)

# Declared pixels above this are refused before decoding: a phone photo has 12-50 megapixels, a large scan
# 100-200; 250 megapixels of RGB are 3 GB as float32 (6 GB with the 16-bit decoding buffers and alpha), which a
# 24 GB machine still holds, while a few-byte file that declares 30000 x 30000 would not be.
MAX_MEGAPIXELS = 250

GRAY_MODES = ("L", "LA", "1", "I", "I;16", "I;16B", "I;16L", "I;16N", "F", "LA;16")
# What a mode that is not written back as such becomes, for describe().
CONVERTED = {"P": "palette", "PA": "palette", "CMYK": "CMYK", "1": "1-bit", "F": "32-bit float", "I": "32-bit integer"}
ORIENTATION = 0x0112  # the EXIF tag


@dataclass(frozen=True, eq=False)  # eq=False: the alpha is a tensor, which == cannot compare as one value
class PhotoFormat:
    """How a picture was stored, so that its restoration is written back the same way.

    A palette picture is written back as gray or RGB (with alpha where it had transparency), not as a palette;
    CMYK as RGB; 1-bit as 8-bit gray; 32-bit float gray as 16-bit gray.
    """

    mode: str  # what the file held, PIL-style: "L", "RGB", "RGBA", "LA", "I;16", "RGB;16", "P", "CMYK", "F", ...
    bits: int = 8  # bits per channel written back: 8 or 16
    alpha: torch.Tensor | None = field(default=None, repr=False)  # (1, H, W) float32 in [0, 1], upright
    icc_profile: bytes | None = field(default=None, repr=False)
    channels: int | None = None  # colour channels written back, 1 (gray) or 3 (RGB); None: from the mode

    def __post_init__(self):
        if self.bits not in (8, 16):
            raise ValueError(f"bits must be 8 or 16, not {self.bits}")
        if self.channels is None:
            object.__setattr__(self, "channels", 1 if self.mode in GRAY_MODES else 3)
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, not {self.channels}")

    def describe(self) -> str:
        """One short phrase for the log, e.g. "16-bit RGB with alpha and an ICC profile"."""
        text = f"{self.bits}-bit {'gray' if self.channels == 1 else 'RGB'}"
        extras = ["alpha"] * (self.alpha is not None) + ["an ICC profile"] * bool(self.icc_profile)
        text += f" with {' and '.join(extras)}" if extras else ""
        kind = CONVERTED.get(self.mode)
        if kind == "palette":
            return f"palette picture, written back as {text} (not as a palette)"
        return f"{kind} picture, written back as {text}" if kind else text

    def save(self, image: torch.Tensor, path: str | os.PathLike) -> None:
        """Write `image` (C, H, W) in [0, 1], C = 1 or 3, as a PNG in this format: its gray or colour, its
        alpha (resized with Lanczos where the image's size differs, as after super-resolution), its bit
        depth and ICC profile. A gray image for a colour format is repeated, a colour one for gray made luma."""
        colour = torch.nan_to_num(image.detach().float().cpu()).clamp(0, 1).double().numpy()
        if colour.ndim != 3 or colour.shape[0] not in (1, 3):
            raise ValueError(f"expected an image (C, H, W) with C = 1 or 3, got {tuple(image.shape)}")
        if self.channels == 3 and colour.shape[0] == 1:
            colour = colour.repeat(3, axis=0)
        elif self.channels == 1 and colour.shape[0] == 3:
            colour = np.tensordot([0.299, 0.587, 0.114], colour, axes=1)[None]  # ITU-R 601 luma, as Pillow's "L"
        planes = [*colour]
        if self.alpha is not None:
            planes.append(_fit_plane(self.alpha[0].float().cpu().numpy(), colour.shape[1:]))
        peak, dtype = (255, np.uint8) if self.bits == 8 else (65535, np.uint16)
        pixels = np.rint(np.stack(planes, axis=-1) * peak).astype(dtype)
        data = _png_bytes(pixels, self.icc_profile)
        write_atomically(Path(path), lambda handle: handle.write(data))


PLAIN = PhotoFormat("RGB")  # for pictures without a file of their own (tensors in memory): 8-bit RGB


def read_photo(path: str | os.PathLike) -> tuple[torch.Tensor, PhotoFormat]:
    """The colour to restore, (1 or 3, H, W) float32 in [0, 1] at full precision and upright, and how the file
    stored it. Any file that cannot be read is one InputError line (or FileNotFoundError), never a crash."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise InputError(f"{path} is a folder, not an image file")
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes), not an image")
    try:
        with _pillow_quietly(), Image.open(path) as image:
            _refuse_bombs(image.size, path)
            tensor, photo = pil_to_photo(image, str(path))
    except InputError:
        raise
    except UnidentifiedImageError as error:
        raise InputError(f"{path} is not an image file Pillow can read") from error
    except PermissionError as error:
        raise InputError(f"cannot read {path}: permission denied") from error
    except MemoryError as error:
        raise InputError(f"{path} is too large to read into memory") from error
    except Exception as error:  # truncated or damaged data; whatever the decoder says, the run must not crash
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise InputError(f"{path} is truncated or damaged: {reason}") from error
    if photo.alpha is not None:
        log.info("%s: %s: the colour is restored, the alpha channel given back unchanged", path.name, photo.describe())
    else:
        plain = photo.mode in ("L", "RGB")  # 8-bit gray or colour, with or without a profile: nothing to say
        log.log(logging.DEBUG if plain else logging.INFO, "%s: %s", path.name, photo.describe())
    return tensor, photo


def upright_size(path: str | os.PathLike) -> tuple[int, int]:
    """(H, W) of a picture file as read_photo turns it upright, from its header alone (nothing decoded)."""
    with _pillow_quietly(), Image.open(Path(path).expanduser()) as image:
        width, height = image.size
        return (width, height) if _orientation(image) in (5, 6, 7, 8) else (height, width)


def pil_to_photo(image: Image.Image, source: str = "image") -> tuple[torch.Tensor, PhotoFormat]:
    """A PIL image as read_photo gives a file: 16-bit colour is read again from its file at full precision
    (Pillow holds only its top 8 bits); one in memory without a file stays at 8 bits, with a warning."""
    with _pillow_quietly():
        read_deep = _deep_reader(image)  # before load(), which forgets how the file stores its pixels
        image.load()  # Pillow turns a TIFF upright as it loads it, and drops its orientation tag
        orientation = _orientation(image)  # what is left to turn: the EXIF of a JPEG, PNG, WebP...
        icc = image.info.get("icc_profile") or None
        filename = getattr(image, "filename", "")
        if read_deep and filename and Path(filename).is_file():
            pixels = read_deep(Path(filename))
            return _from_array(pixels, source, None, icc, 1 if read_deep is _read_tiff else orientation)
        if read_deep:
            log.warning("%s has 16 bits per colour channel but no file to read them from: read at 8 bits", source)
        pixels, mode, gray = _pil_pixels(image, source)
    return _from_array(pixels, source, mode, icc, orientation, gray)


def array_to_photo(array: np.ndarray, source: str = "array") -> tuple[torch.Tensor, PhotoFormat]:
    """A numpy picture (H, W), (H, W, 1), (H, W, 2) gray + alpha, (H, W, 3) RGB or (H, W, 4) RGBA; uint8 is
    8-bit, uint16 16-bit, floats must lie in [0, 1] (written back at 16 bits)."""
    return _from_array(np.asarray(array), source)


def _from_array(
    array: np.ndarray,
    source: str,
    mode: str | None = None,
    icc: bytes | None = None,
    orientation: int = 1,
    gray: bool | None = None,
) -> tuple[torch.Tensor, PhotoFormat]:
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4):
        raise InputError(f"{source}: expected pixels (H, W) or (H, W, 1-4), got shape {array.shape}")
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.dtype == np.uint8:
        bits, unit = 8, array.astype(np.float32) / 255
    elif array.dtype == np.uint16:
        bits, unit = 16, array.astype(np.float32) / 65535
    elif array.dtype.kind == "f":
        if not np.isfinite(array).all():
            raise InputError(f"{source} holds NaN or infinite values")
        bits, unit = 16, np.clip(array, 0, 1).astype(np.float32)
    else:
        raise InputError(f"{source}: {array.dtype} pixels are not supported (uint8, uint16, or floats in [0, 1])")
    unit = _upright(unit, orientation)
    count = unit.shape[-1]
    has_alpha = count in (2, 4)
    if mode is None:
        deep = {8: "", 16: ";16"}[bits] if array.dtype.kind != "f" else ";F"
        mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[count] + deep
        mode = {"L;16": "I;16", "L;F": "F"}.get(mode, mode)
    colour = torch.from_numpy(np.ascontiguousarray(unit[..., : count - has_alpha].transpose(2, 0, 1)))
    alpha = torch.from_numpy(np.ascontiguousarray(unit[None, ..., -1])) if has_alpha else None
    channels = colour.shape[0] if gray is None else 1 if gray else 3
    if channels == 1 and colour.shape[0] == 3:
        colour = colour[:1].clone()  # a gray palette: its three planes are equal
    return colour, PhotoFormat(mode, bits, alpha, _fitting_profile(icc, channels), channels)


def _pil_pixels(image: Image.Image, source: str) -> tuple[np.ndarray, str, bool | None]:
    """The pixels as a numpy array Pillow can give in full, the mode read, and whether it is gray when the
    array alone does not say (a palette picture whose colours in use are all gray)."""
    mode = image.mode
    if mode.startswith("I;16"):
        return np.asarray(image).astype(np.uint16), "I;16", None
    if mode == "I":  # 32-bit integers: 16-bit values where any exceeds 255, else 8-bit
        values = np.asarray(image)
        if values.size and values.max() > 255:
            return np.clip(values, 0, 65535).astype(np.uint16), "I", None
        return np.clip(values, 0, 255).astype(np.uint8), "I", None
    if mode == "F":
        return np.asarray(image, dtype=np.float32), "F", None
    if mode in ("P", "PA"):
        rgba = np.asarray(image.convert("RGBA"))
        gray = bool((rgba[..., 0] == rgba[..., 1]).all() and (rgba[..., 1] == rgba[..., 2]).all())
        transparent = mode == "PA" or "transparency" in image.info
        return (rgba if transparent else rgba[..., :3]), mode, gray
    if mode in ("L", "RGB") and "transparency" in image.info:  # a colour key: the same as an alpha channel
        return np.asarray(image.convert(mode + "A" if mode == "L" else "RGBA")), mode + "A", None
    if mode in ("L", "LA", "RGB", "RGBA"):
        return np.asarray(image), mode, None
    if mode == "1":
        return np.asarray(image.convert("L")), mode, None
    target = "RGBA" if mode.endswith(("A", "a")) else "RGB"  # CMYK, YCbCr, RGBa, La, LAB, HSV, ...
    try:
        converted = image.convert("LA" if mode == "La" else target)
    except ValueError as error:
        raise InputError(f"{source} holds {mode} pixels, which Pillow cannot convert to RGB") from error
    return np.asarray(converted), mode, None


def _deep_reader(image: Image.Image):
    """The reader of the full 16 bits of a colour picture Pillow holds at 8, or None."""
    if image.mode not in ("RGB", "RGBA"):
        return None
    if image.format == "PNG" and any(";16" in str(tile[-1]) for tile in image.tile):
        return _read_png16
    if image.format == "TIFF" and max(image.tag_v2.get(258, (8,))) > 8 and image.tag_v2.get(262) == 2:  # RGB
        return _read_tiff
    return None


def _read_png16(path: Path) -> np.ndarray:
    """A 16-bit gray + alpha, RGB or RGBA PNG as uint16 (H, W, planes); pypng decodes in pure Python, slowly,
    which only these files pay."""
    with open(path, "rb") as handle:  # pypng leaves a file it opened itself open
        width, height, rows, info = png.Reader(file=handle).read()
        pixels = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows])
    return pixels.reshape(height, width, info["planes"])


def _read_tiff(path: Path) -> np.ndarray:
    """A deep RGB or RGBA TIFF as (H, W, 3 or 4), upright by its orientation tag; uint16 (or what it holds,
    which _from_array judges)."""
    with tifffile.TiffFile(path) as tiff:
        page = tiff.pages[0]
        pixels = page.asarray()
        planes_first = page.axes.startswith("S")  # planes stored apart
        tag = page.tags.get(ORIENTATION)
    return _upright(np.moveaxis(pixels, 0, -1) if planes_first else pixels, int(tag.value) if tag else 1)


def _orientation(image: Image.Image) -> int:
    """EXIF's orientation, 1 (upright) where it is missing or unreadable."""
    try:
        return int(image.getexif().get(ORIENTATION, 1))
    except Exception:  # a damaged EXIF block leaves the picture as stored
        return 1


def _upright(array: np.ndarray, orientation: int) -> np.ndarray:
    """The picture (H, W, C) turned as EXIF `orientation` says (ImageOps.exif_transpose, for numpy arrays)."""
    turn = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }.get(orientation)
    return np.ascontiguousarray(turn(array)) if turn else array


def _fitting_profile(icc: bytes | None, channels: int) -> bytes | None:
    """The ICC profile, unless its header says it describes other colours than those written (the CMYK
    profile of a CMYK photo written as RGB; an RGB one on a gray palette written as gray)."""
    if not icc:
        return None
    space = icc[16:20]
    wrong = (b"CMYK", b"RGB ") if channels == 1 else (b"CMYK", b"GRAY")
    return None if space in wrong else icc


def _refuse_bombs(size: tuple[int, int], path: Path) -> None:
    width, height = size
    megapixels = width * height / 1e6
    if megapixels > MAX_MEGAPIXELS:
        raise InputError(
            f"{path} declares {width} x {height} pixels ({megapixels:.0f} megapixels), more than the limit of "
            f"{MAX_MEGAPIXELS} megapixels: shrink it first (or it is a decompression bomb)"
        )


@contextlib.contextmanager
def _pillow_quietly():
    """No Pillow warning reaches the console (bad EXIF, palettes, its own bomb check, which _refuse_bombs
    replaces with a higher limit and one clear line); Pillow's global limit is put back afterwards."""
    limit = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = limit


def _fit_plane(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An alpha plane at the image's size: unchanged when it is already, else Lanczos-resized."""
    height, width = size
    if plane.shape == (height, width):
        return plane.astype(np.float64)
    resized = Image.fromarray(plane.astype(np.float32)).resize((width, height), Image.Resampling.LANCZOS)
    return np.clip(np.asarray(resized, dtype=np.float64), 0, 1)


def _png_bytes(pixels: np.ndarray, icc: bytes | None) -> bytes:
    """A PNG of uint8 or uint16 pixels (H, W, 1-4): Pillow writes 8 bits, pypng 16 (with the ICC profile added
    as an iCCP chunk, which pypng does not write)."""
    buffer = io.BytesIO()
    if pixels.dtype == np.uint8:
        picture = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
        picture.save(buffer, format="PNG", **({"icc_profile": icc} if icc else {}))
        return buffer.getvalue()
    height, width, count = pixels.shape
    writer = png.Writer(width, height, greyscale=count <= 2, alpha=count in (2, 4), bitdepth=16)
    writer.write(buffer, pixels.reshape(height, width * count))
    data = buffer.getvalue()
    return data[:33] + _iccp_chunk(icc) + data[33:] if icc else data  # after the signature (8) and IHDR (25)


def _iccp_chunk(icc: bytes) -> bytes:
    """PNG's iCCP chunk: a name, NUL, compression method 0 (zlib), the compressed profile."""
    body = b"ICC Profile\x00\x00" + zlib.compress(icc)
    return struct.pack(">I", len(body)) + b"iCCP" + body + struct.pack(">I", zlib.crc32(b"iCCP" + body))
