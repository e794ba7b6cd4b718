"""Before a fit allocates anything: will it fit in memory, and how long will it take? A fit too large
stops at once with the largest size that would fit; a long one says so with its estimated time."""

import logging
from collections.abc import Callable

import torch
from torch import nn

from dip_lightning.data.canvas import Canvas
from dip_lightning.errors import InputError
from dip_lightning.hardware.duration import estimate_seconds, format_duration, step_flops
from dip_lightning.hardware.memory import (
    FIT_MARGIN,
    available_bytes,
    check_fits,
    fit_memory,
    largest_fitting_size,
)

log = logging.getLogger(__name__)
LONG_RUN = 3600.0  # seconds: a fit estimated longer is announced as a warning


def preflight(
    make_net: Callable[..., nn.Module],
    channels: int,
    input_depth: int,
    size: tuple[int, int],
    steps: int,
    restarts: int,
    device: str,
    dtype: torch.dtype,
) -> None:
    """Raise InputError when `restarts` fits of `make_net` on an image of `size` (H, W) cannot fit in the
    memory `device` has free; log the estimated time of `steps` steps (a warning when it is long)."""
    memory = fit_memory(make_net, channels, input_depth, dtype, restarts)
    height, width = Canvas.around(*size, memory.stride, memory.min_size).size  # what the network draws
    problem = check_fits(memory, height, width, available_bytes(device), device)
    if problem:
        raise InputError(problem)
    flops = restarts * step_flops(make_net, channels, input_depth, height, width)
    seconds = estimate_seconds(flops, steps, device, dtype)
    message = (
        f"estimated: {format_duration(seconds)} for {steps} steps at {width} x {height} on {device} "
        f"({flops / 1e9:.0f} GFLOP a step), {memory(height, width) / 1e9:.1f} GB"
    )
    if seconds > LONG_RUN:
        log.warning(message + ": a long run; image.max_size=... or a GPU (trainer.accelerator=gpu) is faster")
    else:
        log.info(message)


def largest_tile(
    make_net: Callable[..., nn.Module],
    channels: int,
    input_depth: int,
    size: tuple[int, int],
    restarts: int,
    device: str,
    dtype: torch.dtype,
) -> int | None:
    """None when a fit of an image of `size` (H, W) fits in the memory `device` has free (or nothing can be
    told); else the side of the largest square image whose fit does, leaving room for the canvas a tile's
    network draws around it (0: not even the smallest)."""
    memory = fit_memory(make_net, channels, input_depth, dtype, restarts)
    available = available_bytes(device)
    if check_fits(memory, *Canvas.around(*size, memory.stride, memory.min_size).size, available, device) is None:
        return None
    largest = largest_fitting_size(memory, 1, 1, int(available * FIT_MARGIN), memory.stride, memory.min_size)
    return 0 if largest is None else max(largest[0] - memory.stride, 0)


def tiles_estimate(
    make_net: Callable[..., nn.Module],
    channels: int,
    input_depth: int,
    tile: int,
    count: int,
    steps: int,
    restarts: int,
    device: str,
    dtype: torch.dtype,
) -> str:
    """The estimated time and memory of `count` fits of `tile` x `tile` tiles, one after another, in words."""
    seconds, needs = tile_cost(make_net, channels, input_depth, tile, steps, restarts, device, dtype)
    return f"estimated: {format_duration(count * seconds)} for {count} tiles of {steps} steps on {device}, " + (
        f"{needs / 1e9:.1f} GB at a time"
    )


def tile_cost(
    make_net: Callable[..., nn.Module],
    channels: int,
    input_depth: int,
    tile: int,
    steps: int,
    restarts: int,
    device: str,
    dtype: torch.dtype,
) -> tuple[float, int]:
    """(seconds, bytes): the estimated time of `steps` steps of one `tile` x `tile` tile's fit and its memory."""
    memory = fit_memory(make_net, channels, input_depth, dtype, restarts)
    height, width = Canvas.around(tile, tile, memory.stride, memory.min_size).size
    flops = restarts * step_flops(make_net, channels, input_depth, height, width)
    return estimate_seconds(flops, steps, device, dtype), memory(height, width)
