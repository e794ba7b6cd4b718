import logging
import struct
import warnings
import zlib

import numpy as np
import png
import pytest
import tifffile
import torch
from conftest import write_png
from PIL import Image, ImageOps

from dip_lightning.data.images import load_image, read_image
from dip_lightning.data.photo import PLAIN, PhotoFormat, array_to_photo, pil_to_photo, read_photo
from dip_lightning.errors import InputError


def test_rgb_file_becomes_three_channels_in_unit_range(tmp_path, photo):
    image = read_image(write_png(tmp_path / "p.png", photo))
    assert image.shape == (3, 72, 100) and image.dtype == torch.float32
    assert torch.allclose(image[:, 5, 7] * 255, torch.tensor(photo[5, 7], dtype=torch.float32), atol=1e-3)


def test_grayscale_file_keeps_one_channel(tmp_path, photo):
    image = read_image(write_png(tmp_path / "g.png", photo[..., 0]))
    assert image.shape == (1, 72, 100)


def test_rgba_keeps_its_alpha_and_says_so_once(tmp_path, photo, caplog):
    rgba = np.concatenate([photo, np.full(photo.shape[:2] + (1,), 90, np.uint8)], axis=-1)
    with caplog.at_level(logging.INFO):
        image = read_image(write_png(tmp_path / "a.png", rgba))
    assert image.shape == (3, 72, 100)
    assert torch.equal(torch.round(image * 255).byte(), torch.from_numpy(photo).permute(2, 0, 1))
    lines = [record.getMessage() for record in caplog.records]
    assert lines == ["a.png: 8-bit RGB with alpha: the colour is restored, the alpha channel given back unchanged"]
    assert all(record.levelno == logging.INFO for record in caplog.records)


def test_16_bit_grayscale_keeps_its_precision(tmp_path):
    values = np.array([[0, 1, 30000, 65535]], dtype=np.uint16)
    image = read_image(write_png(tmp_path / "deep.png", values))
    assert image.shape == (1, 1, 4)
    assert torch.allclose(image[0, 0].double(), torch.tensor(values[0] / 65535.0), atol=1e-7)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png16(path, array):
    """A 16-bit-per-channel PNG, gray + alpha, RGB or RGBA (H, W, 2-4), written by hand (Pillow cannot write one)."""
    height, width, planes = array.shape
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in array)
    header = struct.pack(">IIBBBBB", width, height, 16, {2: 4, 3: 2, 4: 6}[planes], 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")
    )
    return path


def test_16_bit_colour_is_read_in_full(tmp_path, caplog):
    values = np.array([[[65535, 256, 0], [40000, 30000, 20001]]], dtype=np.uint16)
    with caplog.at_level(logging.INFO):
        image = read_image(_png16(tmp_path / "rgb16.png", values))
    assert image.shape == (3, 1, 2) and image.dtype == torch.float32
    assert torch.equal(torch.round(image * 65535).long(), torch.from_numpy(values.astype(np.int64)).permute(2, 0, 1))
    assert [record.getMessage() for record in caplog.records] == ["rgb16.png: 16-bit RGB"]


def test_palette_image_is_read_as_rgb(tmp_path, photo):
    path = tmp_path / "palette.png"
    Image.fromarray(photo).quantize(16).save(path)
    assert read_image(path).shape == (3, 72, 100)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="image file not found: .*nope.png"):
        read_image(tmp_path / "nope.png")


def test_not_an_image_is_a_clear_error(tmp_path):
    (tmp_path / "notes.png").write_text("hello")
    with pytest.raises(ValueError, match="not an image file"):
        read_image(tmp_path / "notes.png")


def test_embedded_photographs_need_no_file():
    assert load_image("astronaut").shape == (3, 512, 512)
    assert load_image("camera").shape == (1, 512, 512)
    assert load_image("astronaut", max_size=128).shape == (3, 128, 128)
    assert load_image("coffee", max_size=120).shape == (3, 80, 120)


def test_unknown_source_lists_the_embedded_images():
    with pytest.raises(FileNotFoundError, match="embedded images: astronaut, camera"):
        load_image("astronot")


# A photo read with its format and written back: the same size, mode, depth, pixels (exactly), alpha, profile.

RNG = np.random.default_rng(7)
BYTES = RNG.integers(0, 256, (5, 7, 4), dtype=np.uint8)
WORDS = RNG.integers(0, 65536, (5, 7, 4), dtype=np.uint16)
FAKE_RGB_PROFILE = bytes(16) + b"RGB " + b"not a real profile, kept as it is" * 3


def _written(path):
    """What a PNG holds: Pillow's mode, and pypng's bits and pixels (H, W, planes) (Pillow reads 16-bit colour at 8)."""
    with open(path, "rb") as handle:
        width, height, rows, info = png.Reader(file=handle).read()
        pixels = np.vstack([np.asarray(row, dtype=np.int64) for row in rows]).reshape(height, width, info["planes"])
    with Image.open(path) as image:
        return image.mode, info["bitdepth"], pixels


def _pil(array, path, **options):
    Image.fromarray(array).save(path, **options)
    return path


def _palette(transparency: bool, gray: bool = False):
    picture = Image.fromarray((BYTES[..., 0] % 3).astype(np.uint8), mode="P")
    picture.putpalette([0, 0, 0, 128, 128, 128, 255, 255, 255] if gray else [0, 0, 0, 200, 30, 10, 20, 240, 90])
    if transparency:
        picture.info["transparency"] = 1
    return picture


def _case_palette(tmp_path, transparency, gray=False):
    path = tmp_path / "p.png"
    picture = _palette(transparency, gray)
    picture.save(path)
    target = ("L" if gray else "RGB") + ("A" if transparency else "")
    expected = np.asarray(picture.convert("RGBA").convert(target))
    return path, target, 8, expected.reshape(5, 7, -1)


def _case_cmyk(tmp_path):
    path = tmp_path / "c.jpg"
    Image.fromarray(BYTES, mode="CMYK").save(path, quality=95)
    with Image.open(path) as image:
        return path, "RGB", 8, np.asarray(image.convert("RGB"))


def _case_tiff(tmp_path, array):
    path = tmp_path / "t.tif"
    tifffile.imwrite(path, array, photometric="minisblack" if array.ndim == 2 else "rgb")
    mode = {2: "I;16", 3: "RGB", 4: "RGBA"}[array.ndim if array.ndim == 2 else array.shape[-1]]
    return path, mode, 16, array.reshape(*array.shape[:2], -1)


CASES = {
    "L": lambda tmp: (_pil(BYTES[..., 0], tmp / "l.png"), "L", 8, BYTES[..., :1]),
    "RGB": lambda tmp: (_pil(BYTES[..., :3], tmp / "rgb.png"), "RGB", 8, BYTES[..., :3]),
    "RGBA": lambda tmp: (_pil(BYTES, tmp / "rgba.png"), "RGBA", 8, BYTES),
    "LA": lambda tmp: (_pil(BYTES[..., :2], tmp / "la.png"), "LA", 8, BYTES[..., :2]),
    "I;16": lambda tmp: (_pil(WORDS[..., 0], tmp / "i16.png"), "I;16", 16, WORDS[..., :1]),
    "RGB 16-bit": lambda tmp: (_png16(tmp / "rgb16.png", WORDS[..., :3]), "RGB", 16, WORDS[..., :3]),
    "RGBA 16-bit": lambda tmp: (_png16(tmp / "rgba16.png", WORDS), "RGBA", 16, WORDS),
    "LA 16-bit": lambda tmp: (_png16(tmp / "la16.png", WORDS[..., :2]), "RGBA", 16, WORDS[..., :2]),  # Pillow's name
    "P": lambda tmp: _case_palette(tmp, transparency=False),
    "P with transparency": lambda tmp: _case_palette(tmp, transparency=True),
    "P gray": lambda tmp: _case_palette(tmp, transparency=False, gray=True),
    "CMYK JPEG": _case_cmyk,
    "TIFF 16-bit gray": lambda tmp: _case_tiff(tmp, WORDS[..., 0]),
    "TIFF 16-bit RGB": lambda tmp: _case_tiff(tmp, WORDS[..., :3]),
    "TIFF 16-bit RGBA": lambda tmp: _case_tiff(tmp, WORDS),
}


@pytest.mark.parametrize("case", CASES)
def test_a_photo_is_written_back_in_its_own_mode_and_depth(tmp_path, case):
    path, mode, bits, expected = CASES[case](tmp_path)
    image, photo = read_photo(path)
    assert image.dtype == torch.float32 and image.shape == (1 if expected.shape[-1] <= 2 else 3, 5, 7)
    photo.save(image, tmp_path / "out.png")
    written_mode, written_bits, pixels = _written(tmp_path / "out.png")
    assert (written_mode, written_bits, pixels.shape) == (mode, bits, expected.shape)
    assert np.array_equal(pixels, expected)


def test_32_bit_float_gray_is_written_at_16_bits(tmp_path):
    values = np.array([[0.0, 0.25, 1 / 65535, 1.0, 1.5]], dtype=np.float32)
    tifffile.imwrite(tmp_path / "f.tif", values)
    image, photo = read_photo(tmp_path / "f.tif")
    assert photo.describe() == "32-bit float picture, written back as 16-bit gray"
    photo.save(image, tmp_path / "out.png")
    mode, bits, pixels = _written(tmp_path / "out.png")
    assert (mode, bits, pixels[0, :, 0].tolist()) == ("I;16", 16, [0, 16384, 1, 65535, 65535])


def test_what_was_read_is_described_in_one_phrase(tmp_path):
    _png16(tmp_path / "deep.png", WORDS)
    with Image.open(tmp_path / "deep.png") as image:
        _, photo = pil_to_photo(image)
    assert photo.describe() == "16-bit RGB with alpha"
    assert PhotoFormat("RGBA;16", 16, torch.zeros(1, 2, 2), b"icc").describe() == (
        "16-bit RGB with alpha and an ICC profile"
    )
    _palette(transparency=True).save(tmp_path / "p.png")
    assert read_photo(tmp_path / "p.png")[1].describe() == (
        "palette picture, written back as 8-bit RGB with alpha (not as a palette)"
    )
    assert PLAIN.describe() == "8-bit RGB" and PhotoFormat("L").channels == 1


@pytest.mark.parametrize("bits", [8, 16])
def test_the_icc_profile_is_kept(tmp_path, bits):
    if bits == 8:
        _pil(BYTES[..., :3], tmp_path / "p.png", icc_profile=FAKE_RGB_PROFILE)
    else:
        data = _png16(tmp_path / "p16.png", WORDS[..., :3]).read_bytes()
        iccp = _chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(FAKE_RGB_PROFILE))
        (tmp_path / "p.png").write_bytes(data[:33] + iccp + data[33:])
    image, photo = read_photo(tmp_path / "p.png")
    assert photo.icc_profile == FAKE_RGB_PROFILE and photo.bits == bits
    photo.save(image, tmp_path / "out.png")
    with Image.open(tmp_path / "out.png") as written:
        assert written.info["icc_profile"] == FAKE_RGB_PROFILE
    assert np.array_equal(_written(tmp_path / "out.png")[2], (BYTES if bits == 8 else WORDS)[..., :3])


def test_a_cmyk_profile_is_not_written_on_the_rgb(tmp_path):
    cmyk_profile = bytes(16) + b"CMYK" + bytes(20)
    Image.fromarray(BYTES, mode="CMYK").save(tmp_path / "c.jpg", icc_profile=cmyk_profile)
    image, photo = read_photo(tmp_path / "c.jpg")
    assert photo.icc_profile is None and photo.describe() == "CMYK picture, written back as 8-bit RGB"


def test_an_exif_rotated_jpeg_comes_back_upright(tmp_path):
    picture = Image.fromarray(np.full((4, 6, 3), 200, np.uint8))  # 6 wide, 4 high as stored
    exif = picture.getexif()
    exif[0x0112] = 6  # turn 90 degrees clockwise to view
    picture.save(tmp_path / "turned.jpg", exif=exif)
    image, _ = read_photo(tmp_path / "turned.jpg")
    assert image.shape == (3, 6, 4)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_turns_colour_and_alpha_as_pillow_does(tmp_path, orientation):
    picture = Image.fromarray(BYTES)
    exif = picture.getexif()
    exif[0x0112] = orientation
    picture.save(tmp_path / "o.png", exif=exif)
    image, photo = read_photo(tmp_path / "o.png")
    with Image.open(tmp_path / "o.png") as stored:
        upright = np.asarray(ImageOps.exif_transpose(stored))
    assert np.array_equal(torch.round(image * 255).byte().permute(1, 2, 0).numpy(), upright[..., :3])
    assert np.array_equal(torch.round(photo.alpha[0] * 255).byte().numpy(), upright[..., 3])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_a_tiff_with_an_orientation_tag_comes_back_upright(tmp_path, dtype):
    stored = (BYTES[:2, :3, :3].astype(dtype) * (257 if dtype == np.uint16 else 1)).astype(dtype)
    tifffile.imwrite(tmp_path / "o.tif", stored, photometric="rgb", extratags=[(0x0112, "H", 1, 6, True)])
    image, photo = read_photo(tmp_path / "o.tif")
    peak = np.iinfo(dtype).max
    assert photo.bits == np.iinfo(dtype).bits and image.shape == (3, 3, 2)
    assert np.array_equal(np.rint(image.permute(1, 2, 0).numpy() * peak), np.rot90(stored, -1))


def test_the_alpha_is_resized_to_a_larger_restoration(tmp_path):
    alpha = np.zeros((5, 7), np.uint8)
    alpha[:, 4:] = 255
    _pil(np.dstack([BYTES[..., :3], alpha]), tmp_path / "a.png")
    image, photo = read_photo(tmp_path / "a.png")
    larger = torch.nn.functional.interpolate(image[None], scale_factor=4, mode="nearest")[0]
    photo.save(larger, tmp_path / "x4.png")
    mode, bits, pixels = _written(tmp_path / "x4.png")
    assert (mode, bits, pixels.shape) == ("RGBA", 8, (20, 28, 4))
    assert pixels[:, :12, 3].max() <= 8 and pixels[:, 20:, 3].min() >= 247  # Lanczos: opaque and clear stay so
    assert np.array_equal(pixels[::4, ::4, :3], BYTES[..., :3])


def test_a_gray_restoration_of_a_colour_photo_is_written_in_colour(tmp_path):
    _, photo = read_photo(_pil(BYTES[..., :3], tmp_path / "rgb.png"))
    photo.save(torch.full((1, 2, 3), 0.5), tmp_path / "out.png")
    mode, _, pixels = _written(tmp_path / "out.png")
    assert mode == "RGB" and (pixels == 128).all()


def test_arrays_become_photos():
    image, photo = array_to_photo(WORDS)
    assert (photo.mode, photo.bits, photo.channels, image.shape, photo.alpha.shape) == (
        "RGBA;16",
        16,
        3,
        (3, 5, 7),
        (1, 5, 7),
    )
    assert array_to_photo(BYTES[..., 0])[1].mode == "L"
    assert (
        array_to_photo(np.zeros((2, 2), np.float32))[1].describe()
        == "32-bit float picture, written back as 16-bit gray"
    )
    with pytest.raises(InputError, match="int64 pixels are not supported"):
        array_to_photo(np.zeros((2, 2), np.int64))


# No file can crash a run: one line for each, and no warning on the console.


def test_a_decompression_bomb_is_refused_before_decoding(tmp_path):
    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    path = tmp_path / "bomb.png"
    idat = zlib.compress(b"\x00" * 90001)  # one row of 30000 RGB pixels: the rest is declared, never stored
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))
    limit = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(InputError) as error:
            read_photo(path)
    assert str(error.value) == (
        f"{path} declares 30000 x 30000 pixels (900 megapixels), more than the limit of 250 megapixels: "
        "shrink it first (or it is a decompression bomb)"
    )
    assert caught == [] and Image.MAX_IMAGE_PIXELS == limit


def test_a_truncated_png_is_one_line(tmp_path):
    data = _pil(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8), tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(InputError, match=r"^\S+cut.png is truncated or damaged: \S") as error:
            read_image(tmp_path / "cut.png")
    assert "\n" not in str(error.value) and caught == []


def test_a_truncated_16_bit_colour_png_is_one_line(tmp_path):
    data = _png16(tmp_path / "full.png", RNG.integers(0, 65536, (32, 32, 3), dtype=np.uint16)).read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut.png is truncated or damaged: \S") as error:
        read_photo(tmp_path / "cut.png")
    assert "\n" not in str(error.value)


def test_text_empty_and_mislabelled_files(tmp_path):
    (tmp_path / "x.png").write_text("not a picture\n")
    with pytest.raises(InputError, match=r"x.png is not an image file Pillow can read$"):
        read_photo(tmp_path / "x.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError, match=r"empty.png is empty \(0 bytes\), not an image$"):
        read_photo(tmp_path / "empty.png")
    Image.fromarray(BYTES[..., :3]).save(tmp_path / "jpeg.png", format="JPEG")  # a JPEG named .png: still read
    image, photo = read_photo(tmp_path / "jpeg.png")
    assert image.shape == (3, 5, 7) and photo.mode == "RGB"
