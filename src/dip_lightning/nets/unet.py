"""U-Net generator: max-pool encoder, learned (or fixed) upsampling decoder, concatenated skips."""

import torch
from torch import nn

from dip_lightning.errors import InputError
from dip_lightning.limits import check_limits, integer, one_of
from dip_lightning.nets.layers import NETWORK_LIMITS, NORM, Concat, activation, conv, norm

BASE_FILTERS = (64, 128, 256, 512, 1024)
UPSAMPLE_MODES = ("deconv", "nearest", "bilinear")


def _double_conv(in_channels: int, out_channels: int, norm_layer: str, act_fun: str, bias: bool, pad: str):
    return nn.Sequential(
        conv(in_channels, out_channels, 3, bias=bias, pad=pad),
        norm(norm_layer, out_channels),
        activation(act_fun),
        conv(out_channels, out_channels, 3, bias=bias, pad=pad),
        norm(norm_layer, out_channels),
        activation(act_fun),
    )


class _Up(nn.Module):
    def __init__(self, deep: int, skip: int, out: int, mode: str, norm_layer: str, act_fun: str, bias: bool, pad: str):
        super().__init__()
        if mode == "deconv":
            self.upsample = nn.ConvTranspose2d(deep, out, 4, stride=2, padding=1, bias=bias)
        elif mode in ("nearest", "bilinear"):
            smooth = mode == "bilinear"
            self.upsample = nn.Sequential(
                nn.Upsample(scale_factor=2, mode=mode, align_corners=False if smooth else None),
                conv(deep, out, 3, bias=bias, pad=pad),
            )
        else:
            raise InputError(f"unknown upsample_mode {mode!r}; choose one of {UPSAMPLE_MODES}")
        self.concat = Concat()
        self.fuse = _double_conv(out + skip, out, norm_layer, act_fun, bias, pad)

    def forward(self, deep: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.fuse(self.concat([skip, self.upsample(deep)]))


class UNet(nn.Module):
    """conf/arch/unet.yaml: the U-Net of the paper's inpainting architecture comparison (library image).

    Widths are (64, 128, 256, 512, 1024) / feature_scale; `more_layers` adds levels at the widest
    width, so the total stride is 2 ** (4 + more_layers).
    """

    limits = {
        **NETWORK_LIMITS,
        "feature_scale": integer(1),
        "more_layers": integer(0),
        "upsample_mode": one_of(*UPSAMPLE_MODES),
        "norm_layer": NORM,
    }

    def __init__(
        self,
        num_input_channels: int,
        num_output_channels: int,
        feature_scale: int,
        more_layers: int,
        upsample_mode: str,
        pad: str,
        norm_layer: str,
        act_fun: str,
        need_sigmoid: bool,
        need_bias: bool,
    ):
        check_limits(
            self,
            feature_scale=feature_scale,
            more_layers=more_layers,
            upsample_mode=upsample_mode,
            pad=pad,
            norm_layer=norm_layer,
            act_fun=act_fun,
            need_sigmoid=need_sigmoid,
            need_bias=need_bias,
        )
        super().__init__()
        widths = [w // feature_scale for w in BASE_FILTERS] + [BASE_FILTERS[-1] // feature_scale] * more_layers
        if min(widths) < 1:
            raise InputError(f"feature_scale {feature_scale} leaves a level with no channels")
        block = dict(norm_layer=norm_layer, act_fun=act_fun, bias=need_bias, pad=pad)
        self.start = _double_conv(num_input_channels, widths[0], **block)
        self.downs = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), _double_conv(widths[i - 1], widths[i], **block))
            for i in range(1, len(widths))
        )
        self.ups = nn.ModuleList(
            _Up(widths[i], widths[i - 1], widths[i - 1], upsample_mode, **block) for i in range(len(widths) - 1, 0, -1)
        )
        self.head = conv(widths[0], num_output_channels, 1, bias=need_bias, pad=pad)
        self.out = nn.Sigmoid() if need_sigmoid else nn.Identity()
        self.total_stride = 2 ** (len(widths) - 1)
        # The deepest level's BatchNorm needs more than one value per channel, and its reflection padding
        # more than one pixel a side.
        self.min_input_size = 2 * self.total_stride

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        features = [self.start(z)]
        for down in self.downs:
            features.append(down(features[-1]))
        x = features.pop()
        for up in self.ups:
            x = up(x, features.pop())
        return self.out(self.head(x))
