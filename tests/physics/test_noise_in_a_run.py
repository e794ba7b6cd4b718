"""The noise models in a run (conf/noise): a short fit with each model and its matched data term rises
above its noisy input; noise.NAME=auto is estimated from a user's photo before anything is built from it."""

import logging

import pytest
import torch
from hydra.utils import instantiate

from dip_lightning.build import build_module, build_problem, estimate_noise
from dip_lightning.data.photo import PLAIN
from dip_lightning.errors import InputError
from dip_lightning.physics.noise import PoissonGaussianNoise, PoissonNoise

NET = ["arch.num_channels_down=[16,16,16]", "arch.num_channels_up=[16,16,16]", "arch.num_channels_skip=[4,4,4]"]
MATCHED = [("poisson", "poisson"), ("poisson_gaussian", "anscombe"), ("speckle", "gamma"), ("impulse", "l1")]


@pytest.mark.parametrize("noise, loss", MATCHED)
def test_a_short_fit_with_the_matched_data_term_rises_above_the_noisy_input(fit, noise, loss):
    results = fit(f"noise={noise}", f"loss={loss}", "image.max_size=48", "task.num_iter=300", *NET)
    assert results["psnr_avg"] > results["psnr_input"] + 0.5, results  # 1.1 to 8.8 dB here, bf16 and fp32


def smooth_photo(size: int = 128) -> torch.Tensor:
    """A clean colour picture of gradients and flat patches, in [0.1, 0.9]."""
    ramp = torch.linspace(0.1, 0.9, size)
    picture = torch.stack(
        [ramp[None].expand(size, size), ramp[:, None].expand(size, size), torch.full((size, size), 0.5)]
    )
    picture[:, size // 4 : size // 2, size // 4 : size // 2] = 0.3
    return picture


@pytest.mark.parametrize(
    "noise, settings, truth",
    [("poisson", {"peak": 30.0}, {"peak": 30.0}), ("poisson_gaussian", {"gain": 0.02, "sigma": 5.0}, {"gain": 0.02})],
)
def test_auto_parameters_are_estimated_from_the_photo_within_15_percent(configure, caplog, noise, settings, truth):
    model = {"poisson": PoissonNoise, "poisson_gaussian": PoissonGaussianNoise}[noise](**settings)
    observed = model(smooth_photo()[None], torch.Generator().manual_seed(0))[0]
    auto = [f"noise.{name}=auto" for name in truth]
    cfg = configure(f"noise={noise}", *auto, "loss=anscombe" if noise == "poisson_gaussian" else "loss=poisson")
    with caplog.at_level(logging.INFO, logger="dip_lightning.build"):
        estimate_noise(cfg, {"observed": (observed, PLAIN)})
    for name, value in truth.items():
        assert cfg.noise[name] == pytest.approx(value, rel=0.15)
    assert "estimated from the photo: noise." in caplog.text
    if noise == "poisson_gaussian":  # the matched loss reads the estimate
        assert instantiate(cfg.loss).data_term.gain == cfg.noise.gain


def test_a_noise_model_is_refused_by_a_task_that_corrupts_its_own_way(configure):
    with pytest.raises(InputError, match="noise=poisson is the noise of task=denoise and deblur; task=jpeg's"):
        build_module(configure("task=jpeg", "noise=poisson"))


def test_auto_parameters_need_a_photo_and_a_model_that_estimates_them(configure):
    with pytest.raises(InputError, match="noise.peak=auto estimates the noise of a photo of yours"):
        estimate_noise(configure("noise=poisson", "noise.peak=auto"), {"image": (smooth_photo(), PLAIN)})
    with pytest.raises(
        InputError, match="noise.peak=auto estimates PoissonNoise's peak .* a synthetic run needs a number"
    ):
        build_problem(configure("noise=poisson", "noise.peak=auto"))  # a clean image: nothing to estimate from
    with pytest.raises(InputError, match="noise.looks=auto: SpeckleNoise does not estimate its parameters"):
        estimate_noise(configure("noise=speckle", "noise.looks=auto"), {"observed": (smooth_photo(), PLAIN)})


def test_a_photo_with_an_auto_parameter_runs_end_to_end(caplog):
    """The whole path of a user's command (restore() as the command line): the photo is read before the noise
    model is built, so peak=auto is estimated, not refused (it was, until the examples were run)."""
    from dip_lightning import restore

    observed = PoissonNoise(peak=30.0)(smooth_photo(48)[None], torch.Generator().manual_seed(0))[0].clamp(0, 1)
    overrides = ["noise=poisson", "noise.peak=auto", "loss=poisson", "task.num_iter=2", "~logger", "check_fit=false"]
    with caplog.at_level(logging.INFO, logger="dip_lightning.build"):
        result = restore(observed, overrides=[*overrides, *NET], progress=False)
    assert result.restored.shape == (3, 48, 48)
    assert "estimated from the photo: noise.peak=" in caplog.text
