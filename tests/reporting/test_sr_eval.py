"""The paper's super-resolution score on numbers worked out by hand: the studio-range Y of known colours, the
reference's 4 / 5 pixel border, and the PSNR of an error of known size."""

import math

import numpy as np
import pytest
import torch

from dip_lightning.errors import InputError
from dip_lightning.reporting.sr_eval import rgb_to_y, shave, sr_psnr


def flat(*rgb: float, size: int = 1) -> torch.Tensor:
    return torch.tensor(rgb, dtype=torch.float32).view(-1, 1, 1).expand(-1, size, size).clone()


@pytest.mark.parametrize(
    "rgb, y_255",
    [
        ((0.0, 0.0, 0.0), 16.0),
        ((1.0, 1.0, 1.0), 235.0),
        ((1.0, 0.0, 0.0), 16 + 65.481),
        ((0.0, 1.0, 0.0), 16 + 128.553),
        ((0.0, 0.0, 1.0), 16 + 24.966),
        ((0.2, 0.4, 0.6), 16 + 0.2 * 65.481 + 0.4 * 128.553 + 0.6 * 24.966),  # 96.4722
    ],
)
def test_y_of_known_colours_is_bt601_in_the_studio_range(rgb, y_255):
    y = rgb_to_y(flat(*rgb))
    assert y.shape == (1, 1, 1)
    assert y.item() * 255 == pytest.approx(y_255, abs=1e-4)


def test_a_gray_image_is_scored_as_r_equals_g_equals_b():
    gray = torch.tensor([0.0, 0.5, 1.0]).view(1, 1, 3)
    expected = torch.tensor([16.0, 16 + 219 * 0.5, 235.0]).view(1, 1, 3) / 255
    assert torch.allclose(rgb_to_y(gray), expected.double())
    assert torch.allclose(rgb_to_y(gray), rgb_to_y(gray.expand(3, -1, -1)))


def test_shave_drops_four_pixels_at_the_start_and_five_at_the_end():
    image = torch.arange(20.0).view(1, 1, 20).expand(1, 20, 20)
    kept = shave(image, 4, 5)
    assert kept.shape == (1, 11, 11)
    assert kept[0, 0, 0].item() == 4 and kept[0, 0, -1].item() == 14


def test_errors_only_in_the_shaved_border_do_not_count():
    truth = flat(0.3, 0.5, 0.7, size=20)
    restored = torch.ones_like(truth)
    restored[:, 4:15, 4:15] = truth[:, 4:15, 4:15]  # wrong everywhere but rows and columns 4..14
    assert sr_psnr(restored, truth) == math.inf
    assert sr_psnr(restored, truth, 4, 4) < 20  # the 5th pixel from the end is wrong: it counts without the 5 / 5


def test_an_error_of_known_size_inside_gives_its_psnr():
    truth = flat(0.3, 0.5, 0.7, size=20)
    restored = truth + 0.1  # every channel 0.1 brighter: Y moves by 0.1 * 219 / 255
    assert sr_psnr(restored, truth) == pytest.approx(-20 * math.log10(0.1 * 219 / 255), abs=1e-4)  # 21.32 dB
    one_pixel = truth.clone()
    one_pixel[:, 10, 10] += 0.2  # one wrong pixel among the 11 x 11 that count
    assert sr_psnr(one_pixel, truth) == pytest.approx(-10 * math.log10((0.2 * 219 / 255) ** 2 / 121), abs=1e-4)


def test_matches_the_script_on_a_result_pasted_on_a_zero_canvas():
    """The script's way, written out in numpy: bbox of the non-zero result, rows [t0 + 4 : t[-1] - 4]."""
    generator = torch.Generator().manual_seed(0)
    truth = torch.rand(3, 32, 40, generator=generator) * 0.9 + 0.05
    restored = (truth + 0.05 * torch.randn(3, 32, 40, generator=generator)).clamp(0.01, 1)
    canvas = np.zeros((3, 45, 51))
    canvas[:, 6:38, 5:45] = restored.numpy()
    truth_canvas = np.zeros_like(canvas)
    truth_canvas[:, 6:38, 5:45] = truth.numpy()
    rows = np.where(canvas.sum(0).sum(1) > 0)[0]
    cols = np.where(canvas.sum(0).sum(0) > 0)[0]
    window = (slice(None), slice(rows[0] + 4, rows[-1] - 4), slice(cols[0] + 4, cols[-1] - 4))

    def luma(image):
        return (16 + np.tensordot([65.481, 128.553, 24.966], image, axes=1)) / 255

    mse = np.mean((luma(canvas[window]) - luma(truth_canvas[window])) ** 2)
    assert sr_psnr(restored, truth) == pytest.approx(-10 * math.log10(mse), abs=1e-9)


def test_rejects_mismatched_images_and_oversized_shaves():
    with pytest.raises(InputError):
        sr_psnr(torch.zeros(3, 20, 20), torch.zeros(3, 20, 21))
    with pytest.raises(InputError):
        sr_psnr(torch.zeros(3, 9, 9), torch.zeros(3, 9, 9))
    with pytest.raises(InputError):
        rgb_to_y(torch.zeros(2, 4, 4))
