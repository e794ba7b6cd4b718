"""The paper's hourglass generator with skip connections ("skip"); with no skip channels it is the
encoder-decoder. Every knob of the reference is here, under the reference's names."""

from collections.abc import Sequence

import torch
from torch import nn

from dip_lightning.limits import BOOLEAN, check_limits, integer, list_of, one_of
from dip_lightning.limits import per_level as each_level
from dip_lightning.nets.layers import DOWNSAMPLE_MODES, NETWORK_LIMITS, Concat, activation, conv, per_level

UPSAMPLE_MODES = ("nearest", "bilinear", "bicubic")


def _upsample(mode: str) -> nn.Upsample:
    smooth = mode in ("bilinear", "bicubic")
    return nn.Upsample(scale_factor=2, mode=mode, align_corners=False if smooth else None)


class HourglassLevel(nn.Module):
    """One scale: a strided branch that goes deeper and comes back up, beside an optional 'skip'
    branch at full resolution; both are concatenated and mixed by the 'up' convolutions."""

    def __init__(
        self,
        in_channels: int,
        down: int,
        up: int,
        skip: int,
        inner: "HourglassLevel | None",
        filter_size_down: int,
        filter_size_up: int,
        filter_skip_size: int,
        upsample_mode: str,
        downsample_mode: str,
        need_bias: bool,
        pad: str,
        act_fun: str,
        need1x1_up: bool,
    ):
        super().__init__()
        self.skip = None
        if skip:
            self.skip = nn.Sequential(
                conv(in_channels, skip, filter_skip_size, bias=need_bias, pad=pad),
                nn.BatchNorm2d(skip),
                activation(act_fun),
            )
        self.down = nn.Sequential(
            conv(in_channels, down, filter_size_down, 2, need_bias, pad, downsample_mode),
            nn.BatchNorm2d(down),
            activation(act_fun),
            conv(down, down, filter_size_down, bias=need_bias, pad=pad),
            nn.BatchNorm2d(down),
            activation(act_fun),
        )
        self.inner = inner
        self.upsample = _upsample(upsample_mode)
        self.concat = Concat()
        merged = skip + (inner.out_channels if inner is not None else down)
        up_layers = [
            nn.BatchNorm2d(merged),
            conv(merged, up, filter_size_up, bias=need_bias, pad=pad),
            nn.BatchNorm2d(up),
            activation(act_fun),
        ]
        if need1x1_up:
            up_layers += [conv(up, up, 1, bias=need_bias, pad=pad), nn.BatchNorm2d(up), activation(act_fun)]
        self.up = nn.Sequential(*up_layers)
        self.out_channels = up

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        deeper = self.down(x)
        if self.inner is not None:
            deeper = self.inner(deeper)
        deeper = self.upsample(deeper)
        if self.skip is not None:
            deeper = self.concat([self.skip(x), deeper])
        return self.up(deeper)


class Skip(nn.Module):
    """Hourglass with skip connections; conf/arch/skip.yaml holds the paper's default network."""

    limits = {
        **NETWORK_LIMITS,
        "num_channels_down": list_of(integer(1)),
        "num_channels_up": list_of(integer(1)),
        "num_channels_skip": list_of(integer(0)),
        "filter_size_down": each_level(integer(1)),
        "filter_size_up": each_level(integer(1)),
        "filter_skip_size": each_level(integer(1)),
        "upsample_mode": each_level(one_of(*UPSAMPLE_MODES)),
        "downsample_mode": each_level(one_of(*DOWNSAMPLE_MODES)),
        "need1x1_up": BOOLEAN,
    }

    def __init__(
        self,
        num_input_channels: int,
        num_output_channels: int,
        num_channels_down: Sequence[int],
        num_channels_up: Sequence[int],
        num_channels_skip: Sequence[int],
        filter_size_down: int | Sequence[int],
        filter_size_up: int | Sequence[int],
        filter_skip_size: int | Sequence[int],
        need_sigmoid: bool,
        need_bias: bool,
        pad: str,
        upsample_mode: str | Sequence[str],
        downsample_mode: str | Sequence[str],
        act_fun: str,
        need1x1_up: bool,
    ):
        check_limits(
            self,
            num_channels_down=num_channels_down,
            num_channels_up=num_channels_up,
            num_channels_skip=num_channels_skip,
            filter_size_down=filter_size_down,
            filter_size_up=filter_size_up,
            filter_skip_size=filter_skip_size,
            need_sigmoid=need_sigmoid,
            need_bias=need_bias,
            pad=pad,
            upsample_mode=upsample_mode,
            downsample_mode=downsample_mode,
            act_fun=act_fun,
            need1x1_up=need1x1_up,
        )
        super().__init__()
        levels = len(num_channels_down)
        up = per_level(num_channels_up, levels, "num_channels_up")
        skip = per_level(num_channels_skip, levels, "num_channels_skip")
        size_down = per_level(filter_size_down, levels, "filter_size_down")
        size_up = per_level(filter_size_up, levels, "filter_size_up")
        size_skip = per_level(filter_skip_size, levels, "filter_skip_size")
        up_modes = per_level(upsample_mode, levels, "upsample_mode")
        down_modes = per_level(downsample_mode, levels, "downsample_mode")

        inner = None
        for i in reversed(range(levels)):
            inner = HourglassLevel(
                in_channels=num_channels_down[i - 1] if i else num_input_channels,
                down=num_channels_down[i],
                up=up[i],
                skip=skip[i],
                inner=inner,
                filter_size_down=size_down[i],
                filter_size_up=size_up[i],
                filter_skip_size=size_skip[i],
                upsample_mode=up_modes[i],
                downsample_mode=down_modes[i],
                need_bias=need_bias,
                pad=pad,
                act_fun=act_fun,
                need1x1_up=need1x1_up,
            )
        self.body = inner
        self.head = conv(up[0], num_output_channels, 1, bias=need_bias, pad=pad)
        self.out = nn.Sigmoid() if need_sigmoid else nn.Identity()
        self.total_stride = 2**levels
        # Reflection padding needs the deepest level to be larger than its padding, and its BatchNorm (the
        # batch is one image) more than one value per channel.
        deepest_pad = (size_down[-1] - 1) // 2 if pad == "reflection" else 0
        self.min_input_size = self.total_stride * max(deepest_pad + 1, 2)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.head(self.body(z)))
