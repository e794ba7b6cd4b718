"""Classical baselines on small smooth pictures: each returns an image of the right size in [0, 1] that is
clearly better than what it was given, and the registry calls each with the arguments it needs."""

import sys

import pytest
import torch

from dip_lightning.data.images import resize
from dip_lightning.data.masks import BernoulliMask
from dip_lightning.fitting.metrics import psnr
from dip_lightning.physics.noise import ImpulseNoise, PoissonGaussianNoise, PoissonNoise, SpeckleNoise
from dip_lightning.reporting.baselines import (
    BASELINES,
    Baseline,
    anscombe_bm3d_denoise,
    baselines_for,
    bicubic,
    biharmonic_inpaint,
    bm3d_denoise,
    log_bm3d_denoise,
    median_denoise,
    nlm_denoise,
    tv_denoise,
)

SIZE = 48


def smooth_rgb() -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    return torch.stack(
        [0.5 + 0.35 * torch.sin(x / 7), 0.5 + 0.35 * torch.cos(y / 6), 0.2 + 0.6 * (x + y) / (2 * SIZE - 2)]
    ).float()


PICTURES = {"rgb": smooth_rgb, "gray": lambda: smooth_rgb().mean(0, keepdim=True)}


def score(image: torch.Tensor, clean: torch.Tensor) -> float:
    return psnr(image[None], clean[None])


def check_image(image: torch.Tensor, like: torch.Tensor) -> None:
    assert image.shape == like.shape and image.dtype == torch.float32
    assert image.min() >= 0 and image.max() <= 1


@pytest.fixture(params=list(PICTURES))
def clean(request) -> torch.Tensor:
    return PICTURES[request.param]()


@pytest.mark.parametrize("denoise", [tv_denoise, nlm_denoise, bm3d_denoise])
def test_denoisers_gain_several_db_at_sigma_25(clean, denoise):
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    noisy = (clean + 25 / 255 * noise).clamp(0, 1)  # about 20.2 dB
    denoised = denoise(noisy, 25)
    check_image(denoised, clean)
    assert score(denoised, clean) > score(noisy, clean) + 6  # 9 to 14 dB on these pictures


@pytest.mark.parametrize(
    "noise, denoise",
    [
        (PoissonNoise(30), lambda noisy: anscombe_bm3d_denoise(noisy, 1 / 30, 0)),
        (PoissonGaussianNoise(0.02, 5), lambda noisy: anscombe_bm3d_denoise(noisy, 0.02, 5)),
        (SpeckleNoise(10), lambda noisy: log_bm3d_denoise(noisy, 10)),
        (ImpulseNoise(0.1), median_denoise),
    ],
)
def test_the_baseline_of_each_noise_model_gains_several_db(clean, noise, denoise):
    noisy = noise(clean[None], torch.Generator().manual_seed(0))[0]
    denoised = denoise(noisy)
    check_image(denoised, clean)
    assert score(denoised, clean) > score(noisy.clamp(0, 1), clean) + 5


def test_bicubic_upsampling_beats_nearest(clean):
    small = resize(clean, SIZE // 4, SIZE // 4)
    upsampled = bicubic(small, 4)
    check_image(upsampled, clean)
    nearest = torch.nn.functional.interpolate(small[None], scale_factor=4, mode="nearest")[0]
    assert score(upsampled, clean) > score(nearest, clean) + 5  # about 40-45 dB against 29-34 dB


def test_biharmonic_fills_half_missing_pixels_and_keeps_the_known_ones(clean):
    mask = BernoulliMask(0.5)(SIZE, SIZE, torch.Generator().manual_seed(1))
    observed = clean * mask
    filled = biharmonic_inpaint(observed, mask)
    check_image(filled, clean)
    assert score(filled, clean) > score(observed, clean) + 30  # about 56-60 dB against 8 dB
    assert torch.allclose(filled * mask, observed, atol=1e-6)


def test_bm3d_missing_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "bm3d", None)  # `import bm3d` now raises ImportError
    with pytest.raises(ImportError, match=r"dip-lightning\[baselines\]"):
        bm3d_denoise(torch.zeros(1, 8, 8), 25)


def test_registry_lists_each_tasks_baselines():
    assert {task: list(methods) for task, methods in BASELINES.items()} == {
        "denoise": ["tv", "nlm", "bm3d"],
        "sr": ["bicubic"],
        "inpaint": ["biharmonic"],
    }
    assert baselines_for("jpeg") == {}


def test_a_baseline_takes_what_it_needs_from_everything_the_run_knows():
    clean = PICTURES["gray"]()
    mask = torch.ones(1, SIZE, SIZE)
    known = {"observed": clean, "sigma": 25, "factor": 4, "mask": mask}
    assert baselines_for("inpaint")["biharmonic"](**known).shape == clean.shape
    assert baselines_for("sr")["bicubic"](**known).shape == (1, 4 * SIZE, 4 * SIZE)
    with pytest.raises(TypeError, match="sigma"):
        Baseline("TV", tv_denoise)(observed=clean)
