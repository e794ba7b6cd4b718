"""ResNet generator: full-resolution residual blocks, no down- or upsampling (total stride 1)."""

import torch
from torch import nn

from dip_lightning.limits import BOOLEAN, check_limits, integer
from dip_lightning.nets.layers import NETWORK_LIMITS, NORM, activation, conv, norm


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int, norm_layer: str, act_fun: str, bias: bool, pad: str, residual: bool):
        super().__init__()
        self.body = nn.Sequential(
            conv(channels, channels, 3, bias=bias, pad=pad),
            norm(norm_layer, channels),
            activation(act_fun),
            conv(channels, channels, 3, bias=bias, pad=pad),
            norm(norm_layer, channels),
        )
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


class ResNet(nn.Module):
    """conf/arch/resnet.yaml: the ResNet of the paper's inpainting architecture comparison (8 blocks of 32)."""

    limits = {
        **NETWORK_LIMITS,
        "num_blocks": integer(1),
        "num_channels": integer(1),
        "need_residual": BOOLEAN,
        "norm_layer": NORM,
    }

    def __init__(
        self,
        num_input_channels: int,
        num_output_channels: int,
        num_blocks: int,
        num_channels: int,
        need_residual: bool,
        act_fun: str,
        norm_layer: str,
        pad: str,
        need_sigmoid: bool,
        need_bias: bool,
    ):
        check_limits(
            self,
            num_blocks=num_blocks,
            num_channels=num_channels,
            need_residual=need_residual,
            act_fun=act_fun,
            norm_layer=norm_layer,
            pad=pad,
            need_sigmoid=need_sigmoid,
            need_bias=need_bias,
        )
        super().__init__()
        block = dict(norm_layer=norm_layer, act_fun=act_fun, bias=need_bias, pad=pad)
        self.body = nn.Sequential(
            conv(num_input_channels, num_channels, 3, bias=need_bias, pad=pad),
            activation(act_fun),
            *(_ResidualBlock(num_channels, residual=need_residual, **block) for _ in range(num_blocks)),
            conv(num_channels, num_channels, 3, bias=need_bias, pad=pad),
            norm(norm_layer, num_channels),
        )
        self.head = conv(num_channels, num_output_channels, 3, bias=need_bias, pad=pad)
        self.out = nn.Sigmoid() if need_sigmoid else nn.Identity()
        self.total_stride = 1
        self.min_input_size = 2  # BatchNorm over one image needs more than one value per channel (and reflection 2)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.head(self.body(z)))
