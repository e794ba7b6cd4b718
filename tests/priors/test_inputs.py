"""The network's input z: drawn from its own random stream, never from the degradation's."""

import numpy as np
import torch

from dip_lightning.build import build_module
from dip_lightning.data.images import save_png
from dip_lightning.priors.inputs import input_generator, make_input
from tests.conftest import write_png


def largest_correlation(noise: torch.Tensor, z: torch.Tensor) -> float:
    """The largest |correlation| over the pixels between a channel of `noise` and one of `z`, both (1, C, H, W)."""
    channels = torch.cat([noise[0].flatten(1), z[0].flatten(1)]).double()
    return torch.corrcoef(channels)[: noise.shape[1], noise.shape[1] :].abs().max().item()


def test_z_shares_no_random_numbers_with_the_degradation_of_the_same_seed():
    noise = torch.randn((1, 3, 64, 64), generator=torch.Generator().manual_seed(0))  # as GaussianNoise draws it
    shared = make_input("noise", 32, 64, 64, torch.Generator().manual_seed(0))
    assert largest_correlation(noise, shared) > 0.3  # the same uniform numbers behind both: the hazard
    assert largest_correlation(noise, make_input("noise", 32, 64, 64, input_generator(0))) < 0.1  # about 0.05 by chance


def test_a_runs_own_observation_restored_as_a_photo_gets_no_z_made_of_its_noise(configure, tmp_path):
    y, x = np.mgrid[0:64, 0:64]
    picture = np.stack([128 + 100 * np.sin(x / 9), 128 + 100 * np.cos(y / 7), (x + y) * 2], axis=-1)
    clean = write_png(tmp_path / "clean.png", picture.clip(0, 255).astype(np.uint8))
    synthetic = build_module(configure("task=denoise", "image=file", f"image.source={clean}"))
    save_png(synthetic.observed[0], tmp_path / "observed.png")  # the run's own observation, seed 0
    restoring = build_module(configure("task=denoise", f"observed={tmp_path / 'observed.png'}"))
    z = restoring.prior.z
    assert z.shape[-2:] == (64, 64)
    assert largest_correlation(restoring.observed - synthetic.ground_truth, z) < 0.1
