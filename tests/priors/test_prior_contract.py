"""The prior contract (priors.Prior), over every conf/prior option, alone and restarted: built by the
module, it renders x of the photo's size from its input, and each fit's parameters are its own."""

from pathlib import Path

import pytest
import torch
from conftest import TINY_NET

from dip_lightning.build import build_module
from dip_lightning.config.location import config_dir
from dip_lightning.priors import Prior

PRIORS = sorted(path.stem for path in (Path(config_dir()) / "prior").glob("*.yaml"))


@pytest.mark.parametrize("restarts", [1, 2])
@pytest.mark.parametrize("name", PRIORS)
def test_every_shipped_prior_keeps_the_contract(configure, name, restarts):
    if name == "pixels" and restarts > 1:
        pytest.skip("prior=pixels has nothing random to restart (refused: tests/test_priors.py)")
    module = build_module(configure(f"prior={name}", *TINY_NET, "image.max_size=40", f"restarts={restarts}"))
    prior = module.prior
    assert isinstance(prior, Prior)
    assert isinstance(prior.total_stride, int) and isinstance(prior.min_input_size, int)
    x = prior.render(prior.perturb(prior.input, torch.Generator().manual_seed(0)))
    assert x.shape == (restarts, *module.observed.shape[1:])
    groups = prior.restart_parameters()
    assert len(groups) == restarts and sum(p.numel() for group in groups for p in group) == module.num_params
    assert all(isinstance(image, torch.Tensor) for image in prior.images().values())
