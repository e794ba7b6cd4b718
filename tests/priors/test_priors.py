"""The parametrisations of x and the loss: the seed's 'no prior', 'TV prior' and deep prior."""

import pytest
import torch

from dip_lightning.build import build_module
from dip_lightning.errors import InputError
from dip_lightning.losses.data_terms import SquaredError
from dip_lightning.losses.loss import Loss
from dip_lightning.losses.regularizers import TotalVariation
from dip_lightning.physics.operator import Identity


def test_total_variation_is_the_seeds_isotropic_formula():
    x = torch.zeros(1, 1, 3, 3)
    x[..., 1, 1] = 1.0  # the centre pixel: 4 of the 2 x 2 difference pairs touch it
    # (0,0): dx=0, dy=0 -> 0; (0,1): dx=(0-1)... computed by hand over the top-left 2 x 2 positions:
    # (0,0) dx=x01-x00=0 dy=x10-x00=0 | (0,1) dx=x02-x01=0 dy=x11-x01=1 | (1,0) dx=x11-x10=1 dy=x20-x10=0
    # (1,1) dx=x12-x11=-1 dy=x21-x11=-1 -> sqrt(2)
    expected = 0 + 1 + 1 + 2**0.5
    assert TotalVariation(0.5)(x).item() == pytest.approx(expected, abs=1e-5)
    assert TotalVariation(1.0)(x).item() == pytest.approx(0 + 1 + 1 + 2, abs=1e-5)  # beta 1: squared differences


def test_loss_is_the_data_term_plus_the_weighted_regulariser():
    x, y = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    terms = Loss(SquaredError(), TotalVariation(0.5), 0.01)(lambda delta: x, y, Identity(), None)
    assert terms.data.item() == pytest.approx(((x - y) ** 2).mean().item())
    expected = terms.data.item() + 0.01 * TotalVariation(0.5)(x).item()
    assert terms.total.item() == pytest.approx(expected, rel=1e-6)
    assert terms.parts["regularizer"].item() == pytest.approx(TotalVariation(0.5)(x).item())
    plain = Loss(SquaredError(), None, 0.0)(lambda delta: x, y, Identity(), None)
    assert plain.parts == {} and plain.total.item() == pytest.approx(plain.data.item())


def test_the_data_term_of_each_restart_is_its_own():
    x, y = torch.rand(3, 3, 8, 8), torch.rand(1, 3, 8, 8)
    terms = Loss(SquaredError(), None, 0.0)(lambda delta: x, y, Identity(), None)
    assert terms.data.shape == (3,)
    assert torch.allclose(terms.data, ((x - y) ** 2).flatten(1).mean(1))
    assert terms.total.item() == pytest.approx(terms.data.sum().item())  # each fit gets its own gradient


def test_no_prior_fits_the_noise_exactly(fit):
    """Without a prior nothing stops the pixels from fitting the noise: the restoration is the observation."""
    results = fit("prior=pixels", "task.num_iter=300")
    assert results["psnr_observed"] > 60
    assert results["psnr"] == pytest.approx(results["psnr_input"], abs=0.05)
    assert results["prior"] == "pixels" and results["arch"] is None and results["num_params"] == 3 * 64 * 64


def test_no_prior_with_tv_denoises_above_the_noisy_input(fit):
    results = fit("prior=pixels", "loss=mse_tv", "loss.weight=1e-5", "task.num_iter=400")
    assert results["psnr"] > results["psnr_input"] + 2.0


def test_a_regulariser_is_logged_beside_the_data_term(fit_logged, tmp_path):
    fit_logged("loss=mse_tv", "task.num_iter=10")
    header = (tmp_path / "run" / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"loss", "loss_data", "loss_regularizer", "psnr_observed"} <= set(header)


def test_no_prior_with_restarts_is_refused_before_the_fit(configure):
    with pytest.raises(InputError, match="prior=pixels has nothing random to restart"):
        build_module(configure("prior=pixels", "restarts=2"))
