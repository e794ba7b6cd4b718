"""How long will a fit take? Estimated before it starts: the FLOPs of one step, counted on fake tensors
(shapes only, so free at any size), against the rate this machine multiplies matrices at, measured once,
and the fraction of that rate a DIP step reaches (measured in experiments/benchmarks/suite.md and
gpu.md). A rough figure, to tell minutes from hours."""

import functools
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from dip_lightning.hardware.fake_step import fitting_step, measure_step

# The rate a step of the default skip network reaches, as a fraction of the machine's matmul rate (in
# brackets in the FLOPs table of experiments/benchmarks/suite.md, a range over image sizes): near the
# lower ends, so that an estimate errs long, the side to err on before a long run.
EFFICIENCY = {("cpu", torch.float32): 0.6, ("cpu", torch.bfloat16): 0.24}
OTHER_EFFICIENCY = 0.3
# On a GPU a step is bound by launching its several hundred small kernels rather than by its FLOPs, the
# GPU idle most of the time: the floor is a little under the median step at 512 x 512 on an H200
# (experiments/benchmarks/gpu.md).
GPU_STEP_FLOOR = 0.02  # seconds


def step_flops(make_net: Callable[..., nn.Module], channels: int, input_depth: int, height: int, width: int) -> float:
    """FLOPs of one fitting step (forward and backward: convolutions and matrix products, a checkpointed
    network's recomputation too) of an H x W image, counted on fake tensors (fake_step)."""

    def count(net: nn.Module, size: int) -> float:
        with FlopCounterMode(display=False) as counter:
            fitting_step(net, input_depth, channels, size, size, torch.float32)
        return counter.get_total_flops()

    return measure_step(make_net, channels, input_depth, count).at(height * width)


@functools.cache
def matmul_rate(device: str, dtype: torch.dtype = torch.float32, size: int = 1024, repeats: int = 4) -> float:
    """FLOP/s of a size x size matrix product on `device`, the best of `repeats`: the machine's rate on
    the operation it runs best."""
    a = torch.rand(size, size, device=device).to(dtype)
    a @ a
    best = float("inf")
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ a
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def estimate_seconds(flops_per_step: float, steps: int, device: str, dtype: torch.dtype) -> float:
    rate = matmul_rate(device, dtype) * EFFICIENCY.get((device, dtype), OTHER_EFFICIENCY)
    seconds = flops_per_step / rate
    return steps * (max(seconds, GPU_STEP_FLOOR) if device == "cuda" else seconds)


def format_duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
