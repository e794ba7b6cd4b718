"""A quantity of one fitting step (its peak memory, its FLOPs) measured for free: on a network built on
fake tensors (shapes and dtypes, no data, no arithmetic), at two small square sizes, then extrapolated
linearly in the pixels, as every level's activations and convolutions grow with the image."""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode

MEASURED_SIZE = 128  # the smaller of the two square sizes measured (rounded up to the network's needs)


def fitting_step(net: nn.Module, input_depth: int, channels: int, height: int, width: int, dtype: torch.dtype) -> None:
    """One fitting step's tensor work on an H x W image: perturbed input, forward pass under autocast to
    `dtype`, loss, backward pass into fresh gradients. Measure it under a mode (memory, FLOPs), on fake
    tensors to need neither memory nor arithmetic."""
    net.zero_grad(set_to_none=True)
    z = torch.rand(1, input_depth, height, width)
    observed = torch.rand(1, channels, height, width)
    with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
        x = net(z + torch.randn_like(z))
    F.mse_loss(x.float(), observed).backward()


@dataclass(frozen=True)
class StepMeasurement:
    """What `measure` gave at `small` x `small` and at twice that side, and the network's facts."""

    small: int
    values: tuple[float, float]
    stride: int  # sizes the network accepts are multiples of it
    min_size: int  # the smallest side it accepts
    parameter_bytes: int
    checkpointed_levels: int

    @property
    def per_pixel(self) -> float:
        return (self.values[1] - self.values[0]) / (3 * self.small**2)

    def at(self, pixels: float) -> float:
        """The quantity at an image of `pixels` pixels (0: the part that does not grow with the image)."""
        return self.values[0] + self.per_pixel * (pixels - self.small**2)


def measure_step(
    make_net: Callable[..., nn.Module], channels: int, input_depth: int, measure: Callable[[nn.Module, int], float]
) -> StepMeasurement:
    """Build `make_net(num_input_channels=, num_output_channels=)` on fake tensors and call
    `measure(net, size)` at two square sizes it accepts. Takes a fraction of a second at any image size."""
    with torch.random.fork_rng(devices=[]), FakeTensorMode():
        net = make_net(num_input_channels=input_depth, num_output_channels=channels)
        stride, min_size = net.total_stride, net.min_input_size
        small = stride * math.ceil(max(min_size, MEASURED_SIZE) / stride)
        values = (measure(net, small), measure(net, 2 * small))
        parameter_bytes = sum(p.numel() * p.element_size() for p in net.parameters())
    return StepMeasurement(small, values, stride, min_size, parameter_bytes, getattr(net, "checkpointed_levels", 0))
