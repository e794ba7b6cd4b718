"""The loss contract (losses.Objective), over every conf/loss option: called as the module calls it, it
returns the total to minimise, the data term per fit, its parts and x, and says whether it overfits."""

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from dip_lightning.config.location import config_dir
from dip_lightning.losses import DataTerm, Objective
from dip_lightning.losses.loss import LossTerms

LOSSES = sorted(path.stem for path in (Path(config_dir()) / "loss").glob("*.yaml"))
NEEDS_NOISE = {"anscombe": "poisson_gaussian"}  # a data term that takes its noise model's parameters


@pytest.mark.parametrize("name", LOSSES)
def test_every_shipped_loss_keeps_the_contract(configure, name):
    noise = NEEDS_NOISE.get(name, "gaussian")
    loss = instantiate(configure(f"loss={name}", f"noise={noise}", "prior.input_type=observation").loss)
    assert isinstance(loss, Objective) and isinstance(loss.overfits_noise, bool)
    assert isinstance(loss.data_term, DataTerm)
    generator = torch.Generator().manual_seed(0)
    observed = torch.rand(1, 3, 8, 8, generator=generator)
    weights = torch.nn.Parameter(torch.rand(1, 3, 8, 8, generator=generator))

    def network(delta):  # a fit whose output moves with its input, as a network fed the observation
        return weights * (1 + (0 if delta is None else delta))

    terms = loss(network, observed, torch.nn.Identity(), generator, None)
    assert isinstance(terms, LossTerms)
    assert terms.total.shape == () and terms.data.shape == (1,) and terms.output.shape == (1, 3, 8, 8)
    expected = (weights.detach() - observed).square().flatten(1).mean(1)  # the identity's squared error
    assert torch.allclose(terms.data.detach(), expected)
    terms.total.backward()
    assert weights.grad is not None and torch.isfinite(weights.grad).all()
    assert all(part.dim() == 0 for part in terms.parts.values())


def test_a_data_term_that_needs_its_noise_models_parameters_says_so(configure):
    with pytest.raises(Exception, match="gain must be a finite number > 0, got null"):
        instantiate(configure("loss=anscombe").loss)  # the Gaussian noise has no gain: give loss.data_term.gain
