"""Building blocks shared by the generators: padded convolution, activation, normalisation, concat."""

from collections.abc import Sequence

import torch
from torch import nn

from dip_lightning.data.crop import centred
from dip_lightning.errors import InputError
from dip_lightning.limits import BOOLEAN, one_of
from dip_lightning.physics.kernels import LanczosDownsampler

PADDINGS = ("zero", "reflection")
DOWNSAMPLE_MODES = ("stride", "avg", "max", "lanczos2", "lanczos3")
ACTIVATIONS = {
    "LeakyReLU": lambda: nn.LeakyReLU(0.2, inplace=True),
    "ReLU": lambda: nn.ReLU(inplace=True),
    "ELU": lambda: nn.ELU(inplace=True),
    "Swish": lambda: nn.SiLU(inplace=True),
    "none": nn.Identity,
}
NORMS = {
    "batch": nn.BatchNorm2d,
    "instance": lambda channels: nn.InstanceNorm2d(channels, affine=False),
    "none": lambda channels: nn.Identity(),
}
PAD, ACTIVATION, NORM = one_of(*PADDINGS), one_of(*ACTIVATIONS), one_of(*NORMS)
NETWORK_LIMITS = {"pad": PAD, "act_fun": ACTIVATION, "need_sigmoid": BOOLEAN, "need_bias": BOOLEAN}  # every network's


class ReflectionPad(nn.ReflectionPad2d):
    """Reflection padding in its input's dtype. Autocast runs reflection_pad2d in float32 (it is on
    autocast's float32 list), so under bf16 every padded convolution cast its input up and back down, in the
    forward and the backward pass (experiments/benchmarks/profile.md); a copy of values needs no float32,
    so the padded values are the same."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x)


def per_level(value, levels: int, name: str) -> list:
    """Broadcast a scalar knob to every level, or check that a list has one entry per level."""
    if isinstance(value, (str, int, float)):
        return [value] * levels
    value = list(value)
    if len(value) != levels:
        raise InputError(f"{name} has {len(value)} entries but the network has {levels} levels")
    return value


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise InputError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def norm(kind: str, channels: int) -> nn.Module:
    if kind not in NORMS:
        raise InputError(f"unknown norm {kind!r}; choose one of {sorted(NORMS)}")
    return NORMS[kind](channels)


def conv(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int = 1,
    bias: bool = True,
    pad: str = "zero",
    downsample_mode: str = "stride",
) -> nn.Sequential:
    """A 'same' convolution; stride 2 downsamples by `downsample_mode` (a strided conv, or a stride-1
    conv followed by average / max pooling or a fixed Lanczos filter)."""
    if pad not in PADDINGS:
        raise InputError(f"unknown pad {pad!r}; choose one of {PADDINGS}")
    if downsample_mode not in DOWNSAMPLE_MODES:
        raise InputError(f"unknown downsample_mode {downsample_mode!r}; choose one of {DOWNSAMPLE_MODES}")
    layers: list[nn.Module] = []
    padding = (kernel_size - 1) // 2
    if pad == "reflection" and padding > 0:
        layers.append(ReflectionPad(padding))
        padding = 0
    downsampler = None
    if stride != 1 and downsample_mode != "stride":
        downsampler = {
            "avg": lambda: nn.AvgPool2d(stride, stride),
            "max": lambda: nn.MaxPool2d(stride, stride),
            "lanczos2": lambda: LanczosDownsampler(stride, support=2),
            "lanczos3": lambda: LanczosDownsampler(stride, support=3),
        }[downsample_mode]()
        stride = 1
    layers.append(nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=padding, bias=bias))
    if downsampler is not None:
        layers.append(downsampler)
    return nn.Sequential(*layers)


class Concat(nn.Module):
    """Concatenation along channels after centre-cropping all inputs to the smallest height and width,
    so sizes that are not a multiple of the network's stride still run.

    In channels_last, each input's gradient is a channel slice of the output's gradient: its strides are
    of no memory format, and the layer that receives it takes PyTorch's generic strided path. For the
    bilinear upsampling before the concatenation that path made its backward several times slower
    (experiments/benchmarks/layout.md, "The concatenation's gradients"), so each channels_last input gets
    its gradient as a channels_last copy (bit-identical values); `copy_gradients=False` leaves them sliced
    (for benchmarks)."""

    def __init__(self, copy_gradients: bool = True):
        super().__init__()
        self.copy_gradients = copy_gradients

    def forward(self, tensors: Sequence[torch.Tensor]) -> torch.Tensor:
        height = min(t.shape[-2] for t in tensors)
        width = min(t.shape[-1] for t in tensors)
        cropped = [centred(*t.shape[-2:], height, width)(t) for t in tensors]
        for tensor in cropped:
            if self.copy_gradients and tensor.requires_grad and _channels_last_only(tensor):
                tensor.register_hook(_as_channels_last)
        return torch.cat(cropped, dim=1)


def _channels_last_only(tensor: torch.Tensor) -> bool:
    return tensor.is_contiguous(memory_format=torch.channels_last) and not tensor.is_contiguous()


def _as_channels_last(gradient: torch.Tensor) -> torch.Tensor:
    return gradient.contiguous(memory_format=torch.channels_last)
