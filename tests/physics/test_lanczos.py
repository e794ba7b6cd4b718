import pytest
import torch

from dip_lightning.physics.kernels import LanczosDownsampler, lanczos_taps

# The reference's normalised 1-D Lanczos-2 taps for x4 (original-dip.md, section 2.3).
REFERENCE_X4 = [
    -0.00107,
    -0.00975,
    -0.02038,
    -0.01488,
    0.02459,
    0.09866,
    0.18312,
    0.23971,
    0.23971,
    0.18312,
    0.09866,
    0.02459,
    -0.01488,
    -0.02038,
    -0.00975,
    -0.00107,
]


def test_x4_taps_match_the_reference():
    assert torch.allclose(lanczos_taps(4), torch.tensor(REFERENCE_X4), atol=6e-6)


@pytest.mark.parametrize("factor, kernel, pad", [(2, 8, (3, 3)), (3, 12, (4, 5)), (4, 16, (6, 6)), (8, 32, (12, 12))])
def test_kernel_size_padding_and_normalisation(factor, kernel, pad):
    down = LanczosDownsampler(factor)
    assert down.kernel.shape == (1, 1, kernel, kernel)
    assert down.pad == pad
    assert down.kernel.sum().item() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("factor", [2, 3, 4, 8])
def test_output_is_factor_times_smaller_and_keeps_constants(factor):
    image = torch.full((1, 3, 48, 72), 0.3)
    low = LanczosDownsampler(factor)(image)
    assert low.shape == (1, 3, 48 // factor, 72 // factor)
    assert torch.allclose(low, torch.full_like(low, 0.3), atol=1e-6)


def test_channels_are_filtered_independently():
    image = torch.zeros(1, 3, 32, 32)
    image[:, 1] = 1
    low = LanczosDownsampler(4)(image)
    assert low[:, 0].abs().max() == 0 and low[:, 2].abs().max() == 0
    assert torch.allclose(low[:, 1], torch.ones_like(low[:, 1]), atol=1e-6)


def test_lanczos3_taps_are_wider():
    assert lanczos_taps(2, support=3).numel() == 12
