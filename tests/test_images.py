import logging
import struct
import zlib

import numpy as np
import pytest
import torch
from conftest import write_png

from dip_lightning.data.images import load_image, read_image


def test_rgb_file_becomes_three_channels_in_unit_range(tmp_path, photo):
    image = read_image(write_png(tmp_path / "p.png", photo))
    assert image.shape == (3, 72, 100) and image.dtype == torch.float32
    assert torch.allclose(image[:, 5, 7] * 255, torch.tensor(photo[5, 7], dtype=torch.float32), atol=1e-3)


def test_grayscale_file_keeps_one_channel(tmp_path, photo):
    image = read_image(write_png(tmp_path / "g.png", photo[..., 0]))
    assert image.shape == (1, 72, 100)


def test_rgba_drops_alpha_with_a_warning(tmp_path, photo, caplog):
    rgba = np.concatenate([photo, np.full(photo.shape[:2] + (1,), 90, np.uint8)], axis=-1)
    with caplog.at_level(logging.WARNING):
        image = read_image(write_png(tmp_path / "a.png", rgba))
    assert image.shape == (3, 72, 100)
    assert "alpha channel" in caplog.text


def test_16_bit_grayscale_keeps_its_precision(tmp_path):
    values = np.array([[0, 1, 30000, 65535]], dtype=np.uint16)
    image = read_image(write_png(tmp_path / "deep.png", values))
    assert image.shape == (1, 1, 4)
    assert torch.allclose(image[0, 0].double(), torch.tensor(values[0] / 65535.0), atol=1e-7)


def _png_rgb16(path, array):
    """A 16-bit-per-channel RGB PNG, written by hand (Pillow cannot write one)."""
    height, width, _ = array.shape
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in array)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )
    return path


def test_16_bit_colour_is_read_at_8_bits_with_a_warning(tmp_path, caplog):
    values = np.array([[[65535, 256, 0], [40000, 30000, 20000]]], dtype=np.uint16)
    with caplog.at_level(logging.WARNING):
        image = read_image(_png_rgb16(tmp_path / "rgb16.png", values))
    assert image.shape == (3, 1, 2)
    assert torch.allclose(image[:, 0, 1] * 255, torch.tensor([40000 >> 8, 30000 >> 8, 20000 >> 8]).float(), atol=1e-3)
    assert "16 bits per colour channel" in caplog.text


def test_palette_image_is_read_as_rgb(tmp_path, photo):
    path = tmp_path / "palette.png"
    from PIL import Image

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
