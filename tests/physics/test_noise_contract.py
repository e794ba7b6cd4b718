"""The noise contract (physics.Noise), over every noise model a task, the noise group or a fit target ships:
the observation keeps A(x)'s shape, is finite, and is drawn from the run's generator alone."""

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from dip_lightning.config.location import config_dir
from dip_lightning.physics import Noise

CHOICES = [f"task={path.stem}" for path in sorted((Path(config_dir()) / "task").glob("[!_]*.yaml"))]
CHOICES += [f"task=denoise noise={path.stem}" for path in sorted((Path(config_dir()) / "noise").glob("*.yaml"))]
CHOICES += [
    f"task=fit +paper/fit_target={path.stem}"
    for path in sorted((Path(config_dir()) / "paper" / "fit_target").glob("*.yaml"))
]


@pytest.mark.parametrize("choice", CHOICES)
def test_every_shipped_noise_model_draws_from_the_seed_alone(configure, choice):
    noise = instantiate(configure(*choice.split()).task.physics).noise
    if noise is None:  # a noiseless task (inpaint, sr, flash, fit to the image): nothing to draw
        pytest.skip(f"{choice} models no noise")
    assert isinstance(noise, Noise)
    assert isinstance(noise.correlation_block, int) and noise.correlation_block >= 1
    clean = torch.rand(2, 3, 16, 24, generator=torch.Generator().manual_seed(0))
    first, again = (noise(clean, torch.Generator().manual_seed(7)) for _ in range(2))
    other = noise(clean, torch.Generator().manual_seed(8))
    assert first.shape == clean.shape and first.dtype == clean.dtype
    assert torch.isfinite(first).all()  # in [0, 1] where clipped; the camera models are not (their likelihoods)
    assert torch.equal(first, again)  # reproducible from the seed
    assert not torch.equal(first, clean)  # it corrupts
    if "jpeg" not in choice:  # JPEG compression is deterministic: no random draw to differ
        assert not torch.equal(first, other)
