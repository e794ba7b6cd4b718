"""Activation checkpointing for the skip network: keep less for the backward pass, recompute the rest.

Each convolution block (convolution, BatchNorm, activation) of a checkpointed level keeps only its input
and recomputes its inner activations in the backward pass: less memory for a step, for more time (one
more forward pass); experiments/benchmarks/suite.md measures both (its `checkpointing` variant and its
memory table). Blocks rather than whole levels, because a level contains the deeper levels:
checkpointing it would recompute those again and again, and its recomputation alone would need as much
memory as not checkpointing it.

Recomputing BatchNorm in training mode gives the same output (it normalises with the batch statistics);
it updates the running statistics a second time, which DIP never reads: its BatchNorm stays in
training mode. The network's parameters and state_dict keys do not change.
"""

import functools
import itertools

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from dip_lightning.errors import InputError
from dip_lightning.nets.skip import HourglassLevel, Skip


def hourglass_levels(net: Skip) -> list[HourglassLevel]:
    """The levels from the outermost (full resolution, the largest activations) inwards."""
    levels, level = [], getattr(net, "body", None)
    while isinstance(level, HourglassLevel):
        levels.append(level)
        level = level.inner
    return levels


def enable_checkpointing(net: nn.Module, levels: str | int = "all") -> nn.Module:
    """Checkpoint the convolution blocks of the `levels` outermost levels ("all": every level) of a skip
    or encoder-decoder network, in place; returns `net`. The outer levels hold most of the activations."""
    found = hourglass_levels(net)
    if not found:
        raise InputError(
            "activation checkpointing works on the skip network (arch=skip or encoder_decoder), "
            f"not on {type(net).__name__}"
        )
    if levels == "all":
        levels = len(found)
    if isinstance(levels, bool) or not isinstance(levels, int) or not 0 <= levels <= len(found):
        raise InputError(f"checkpointed levels must be 'all' or 0..{len(found)}, got {levels!r}")
    for level in found[:levels]:
        for branch in (level.skip, level.down, level.up):
            if branch is not None:
                checkpoint_blocks(branch)
    net.checkpointed_levels = max(levels, getattr(net, "checkpointed_levels", 0))  # read by memory estimates
    return net


def checkpoint_blocks(branch: nn.Sequential) -> None:
    """Run `branch` as checkpointed blocks, one per convolution (with the layers before the first).

    The forward is replaced on the instance by a partial of the module itself, so that deep copies and
    pickles of the network stay checkpointed and refer to their own layers."""
    convolutions = [i for i, layer in enumerate(branch) if any(isinstance(m, nn.Conv2d) for m in layer.modules())]
    starts = [0] + convolutions[1:]
    blocks = tuple(zip(starts, starts[1:] + [len(branch)], strict=True))
    branch.forward = functools.partial(_run_checkpointed, branch, blocks)


def _run_checkpointed(branch: nn.Sequential, blocks: tuple[tuple[int, int], ...], x: torch.Tensor) -> torch.Tensor:
    for start, end in blocks:
        x = checkpoint(_run_layers, branch, start, end, x, use_reentrant=False)
    return x


def _run_layers(branch: nn.Sequential, start: int, end: int, x: torch.Tensor) -> torch.Tensor:
    for layer in itertools.islice(branch, start, end):
        x = layer(x)
    return x


def build_network(make_net, levels: str | int | None, **kwargs) -> nn.Module:
    """`make_net(**kwargs)`, with its activations checkpointed at `levels` (None: not)."""
    net = make_net(**kwargs)
    return net if levels is None else enable_checkpointing(net, levels)
