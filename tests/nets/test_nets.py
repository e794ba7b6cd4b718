import re

import pytest
import torch
from conftest import make_net

from dip_lightning.build import build_module
from dip_lightning.config.location import config_dir
from dip_lightning.data.canvas import Canvas
from dip_lightning.nets import Network

LIBRARY_DEPTH6 = [
    "arch.num_channels_down=[16,32,64,128,128,128]",
    "arch.num_channels_up=[16,32,64,128,128,128]",
    "arch.num_channels_skip=[0,0,0,0,0,0]",
    "arch.filter_size_down=5",
    "arch.need1x1_up=false",
    "prior.input_depth=1",
]


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["task=denoise"], 2_217_831),  # the default skip net, 32 input channels
        (["task=inpaint"], 3_002_627),  # kate: 128 skip channels
        (["task=inpaint", "arch=encoder_decoder", "prior.input_type=meshgrid", "prior.input_depth=2"], 2_157_955),
        (["task=inpaint", *LIBRARY_DEPTH6, "image.max_size=192"], 2_996_467),  # library, depth 6
        (["task=jpeg"], 572_827),  # snail, 3 input channels
        (["task=denoise", "image=camera"], 2_217_573),  # one output channel (barbara)
    ],
)
def test_parameter_counts_match_the_reference(configure, overrides, expected):
    module = build_module(configure(*overrides))
    assert module.num_params == expected


def skip_levels(levels: int, channels: int = 8, skip: int | list[int] = 2) -> dict:
    return {
        "num_channels_down": [channels] * levels,
        "num_channels_up": [channels] * levels,
        "num_channels_skip": skip if isinstance(skip, list) else [skip] * levels,
    }


SKIP3 = skip_levels(3)
NB = ["nearest", "bilinear"]


@pytest.mark.parametrize(
    "spec, stride",
    [
        (dict(arch="skip", **SKIP3), 8),
        (dict(arch="skip", **skip_levels(4, skip=0), downsample_mode="lanczos2"), 16),
        (
            dict(
                arch="skip", **{**skip_levels(2), "num_channels_skip": [2, 0]}, downsample_mode="avg", upsample_mode=NB
            ),
            4,
        ),
        (dict(arch="unet", feature_scale=16, more_layers=0), 16),
        (dict(arch="unet", feature_scale=16, more_layers=1, upsample_mode="bilinear", norm_layer="batch"), 32),
        (dict(arch="resnet", num_blocks=2, num_channels=8), 1),
    ],
)
def test_output_shape_range_and_stride(spec, stride):
    net = make_net(in_channels=8, out_channels=3, **spec)
    assert net.total_stride == stride
    output = net(torch.rand(1, 8, 64, 32))
    assert output.shape == (1, 3, 64, 32)
    assert output.min() >= 0 and output.max() <= 1


def assert_keeps_the_network_contract(net) -> None:
    """A nets.Network: an image of its input's size with values in [0, 1], at the smallest size it declares
    and one stride larger; a canvas around the smallest photo is that smallest size."""
    assert isinstance(net, Network)
    side, stride = net.min_input_size, net.total_stride
    assert side % stride == 0
    for height, width in [(side, side), (side + stride, side)]:
        output = net(torch.rand(1, 8, height, width))
        assert output.shape == (1, 3, height, width) and 0 <= output.min() and output.max() <= 1
    assert Canvas.around(1, 1, stride, side).size == (side, side)


@pytest.mark.parametrize("arch", sorted(path.stem for path in (config_dir() / "arch").glob("*.yaml")))
def test_every_network_keeps_its_contract_from_its_declared_minimum_size(arch):
    """Every option of the arch group as shipped."""
    assert_keeps_the_network_contract(make_net(arch, 8, 3))


class HalvingNet(torch.nn.Module):
    """A newcomer's network, defined outside the package: one level down and up again (stride 2)."""

    total_stride, min_input_size = 2, 2

    def __init__(self, num_input_channels: int, num_output_channels: int, width: int, broken: bool = False):
        super().__init__()
        self.down = torch.nn.Conv2d(num_input_channels, width, 3, stride=2, padding=1)
        self.up = torch.nn.ConvTranspose2d(width, num_output_channels, 2, stride=2 - broken)  # broken: half size

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.up(torch.relu(self.down(z))))


def test_a_network_added_as_its_module_and_its_yaml_is_checked_by_the_same_contract(tmp_path):
    """The two files of a new network: its module (here, HalvingNet) and its conf/arch yaml (written to a
    config folder of the user's own, on Hydra's search path): composed as the shipped ones, the contract
    test takes it, and refuses it once it breaks its declared stride."""
    (tmp_path / "arch").mkdir()
    yaml = "_target_: test_nets.HalvingNet\n_partial_: true\nwidth: 8\nbroken: false\n"
    (tmp_path / "arch" / "halving.yaml").write_text(yaml)
    searchpath = f"hydra.searchpath=[file://{tmp_path}]"
    assert_keeps_the_network_contract(make_net("halving", 8, 3, extra=[searchpath]))
    with pytest.raises(AssertionError):
        assert_keeps_the_network_contract(make_net("halving", 8, 3, extra=[searchpath], broken=True))


def test_a_network_that_does_not_declare_its_sizes_is_refused_in_one_line():
    from torch import nn

    from dip_lightning.errors import InputError
    from dip_lightning.priors.deep import DeepPrior

    def undeclared(num_input_channels, num_output_channels):
        return nn.Conv2d(num_input_channels, num_output_channels, 3, padding=1)

    with pytest.raises(InputError, match=r"^Conv2d cannot be .* must declare total_stride and min_input_size"):
        DeepPrior(undeclared, 3, "noise", 8, None, 0.0, None)
    declared = undeclared(8, 3)
    declared.total_stride, declared.min_input_size = 1, 1
    assert DeepPrior(lambda **sizes: declared, 3, "noise", 8, None, 0.0, None).net is declared


def test_skip_runs_on_sizes_that_are_not_a_multiple_of_its_stride():
    """The skip branches are centre-cropped to the deeper branch, as the reference's Concat."""
    net = make_net("skip", 4, 1, **skip_levels(3, channels=4))
    assert net(torch.rand(1, 4, 37, 29)).shape == (1, 1, 37, 29)


def test_per_level_lists_must_have_one_entry_per_level():
    with pytest.raises(ValueError, match="num_channels_skip has 2 entries but the network has 3 levels"):
        make_net("skip", 4, 3, **skip_levels(3, channels=4, skip=[4, 4]))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"act_fun": "Tanhh"}, "act_fun must be LeakyReLU | ReLU | ELU | Swish | none, got 'Tanhh'"),
        ({"pad": "circular"}, "pad must be zero | reflection, got 'circular'"),
        ({"downsample_mode": "area"}, "downsample_mode must be stride | avg | max | lanczos2 | lanczos3, or a list"),
    ],
)
def test_unknown_knobs_are_named_in_the_error(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make_net("skip", 4, 3, **skip_levels(1, channels=4), **kwargs)
