"""Activation checkpointing of the skip network: the same outputs and gradients, much less kept for backward."""

import copy

import pytest
import torch
from conftest import make_net

from dip_lightning.errors import InputError
from dip_lightning.hardware.memory import saved_tensor_bytes, step_peak_bytes
from dip_lightning.nets.checkpointing import enable_checkpointing, hourglass_levels

SMALL = {"num_channels_down": [16] * 4, "num_channels_up": [16] * 4, "num_channels_skip": [4] * 4}


@pytest.fixture
def nets():
    """A small skip network (BatchNorm in training mode, as in DIP) and a checkpointed copy of it."""
    torch.manual_seed(0)
    plain = make_net("skip", 8, 3, **SMALL)
    return plain, enable_checkpointing(copy.deepcopy(plain))


def fit_step(net, z):
    net.zero_grad(set_to_none=True)
    output = net(z)
    (output - 0.5).square().mean().backward()
    return output.detach(), [p.grad for p in net.parameters()]


def test_outputs_and_gradients_equal_the_plain_network(nets):
    plain, checkpointed = nets
    z = torch.rand(1, 8, 64, 48, generator=torch.Generator().manual_seed(1))
    for _ in range(2):  # the second step runs after the running statistics were updated (twice when recomputed)
        output, gradients = fit_step(plain, z)
        output_ck, gradients_ck = fit_step(checkpointed, z)
        torch.testing.assert_close(output_ck, output)
        for gradient_ck, gradient in zip(gradients_ck, gradients, strict=True):
            torch.testing.assert_close(gradient_ck, gradient, rtol=1e-4, atol=1e-6)


def test_much_less_is_kept_for_backward(nets):
    plain, checkpointed = nets
    z = torch.rand(1, 8, 128, 128)
    assert saved_tensor_bytes(checkpointed, z) < 0.5 * saved_tensor_bytes(plain, z)
    # the peak counts the recomputed activations of one block too: it drops less
    assert step_peak_bytes(checkpointed, 8, 3, 128, 128, torch.float32) < 0.7 * step_peak_bytes(
        plain, 8, 3, 128, 128, torch.float32
    )


def test_levels_count_from_the_outermost(nets):
    plain, _ = nets
    net = enable_checkpointing(plain, levels=1)
    outer, *inner = hourglass_levels(net)
    assert net.checkpointed_levels == 1
    assert "forward" in vars(outer.up) and "forward" in vars(outer.down) and "forward" in vars(outer.skip)
    assert all("forward" not in vars(level.up) for level in inner)


def test_parameters_and_state_dict_keys_do_not_change(nets):
    plain, checkpointed = nets
    assert list(checkpointed.state_dict()) == list(plain.state_dict())
    assert [p.shape for p in checkpointed.parameters()] == [p.shape for p in plain.parameters()]


def test_a_copy_stays_checkpointed_with_its_own_layers(nets):
    _, checkpointed = nets
    twin = copy.deepcopy(checkpointed)
    assert twin.body.up.forward.args[0] is twin.body.up
    z = torch.rand(1, 8, 64, 64)
    assert saved_tensor_bytes(twin, z) == saved_tensor_bytes(checkpointed, z)


@pytest.mark.parametrize("levels", [-1, 5, "some", True])
def test_bad_levels_are_refused(nets, levels):
    with pytest.raises(InputError, match="checkpointed levels"):
        enable_checkpointing(nets[0], levels)


def test_other_networks_are_refused():
    with pytest.raises(InputError, match="skip network"):
        enable_checkpointing(make_net("resnet", 8, 3, num_blocks=2, num_channels=8))
