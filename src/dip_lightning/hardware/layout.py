"""`prior.memory_format=auto`: the deep prior's network and its input z in channels_last (NHWC) where
that makes the step faster, in PyTorch's default contiguous layout (NCHW) elsewhere.

oneDNN, which runs PyTorch's CPU convolutions, keeps its own blocked NHWC-like layout for them: an NCHW
tensor is reordered into it before every convolution and back after, in the forward and the backward
pass. In channels_last those reorders go, and the layers between the convolutions (BatchNorm,
LeakyReLU, reflection padding, bilinear upsampling, the skip concatenation) keep the layout, so no
conversion replaces them (experiments/benchmarks/layout.md). As with the precision, the facts about the
hardware are gathered apart from the decision (hardware/precision.py), so that the tests drive the
decision with fake ones.
"""

import logging
from typing import NamedTuple

import torch

from dip_lightning.errors import InputError
from dip_lightning.hardware.precision import AUTO, HardwareFacts, compute_dtype, hardware_facts, native_bf16
from dip_lightning.hardware.precision import resolve_accelerator as resolve_device
from dip_lightning.priors.deep import MEMORY_FORMATS

log = logging.getLogger(__name__)

_, CHANNELS_LAST, CONTIGUOUS = MEMORY_FORMATS  # auto | channels_last | contiguous: what prior.memory_format may be
TORCH_FORMATS = {CHANNELS_LAST: torch.channels_last, CONTIGUOUS: torch.contiguous_format}


class LayoutChoice(NamedTuple):
    memory_format: str  # channels_last | contiguous
    reason: str  # one line for the run's log


def choose_memory_format(
    requested: str,
    accelerator: str,
    precision: str | int,
    facts: HardwareFacts,
    batched_restarts: bool = False,
    flat_optimizer: bool = False,
) -> LayoutChoice:
    """`auto` becomes channels_last on a CPU computing in bf16 natively (oneDNN's preferred layout for
    bf16 convolutions) or in fp32 with AVX-512, contiguous elsewhere: in fp32 on an AVX2 CPU (oneDNN's AVX2
    backward convolutions are slower in NHWC), where bf16 is emulated, and on a GPU or MPS, where
    channels_last was not measured (experiments/benchmarks/layout.md has the numbers). Any other value is
    kept as given. Batched restarts (one vmapped computation over stacked weights) run contiguous: in
    channels_last some of their 1x1 convolutions got wrong weight gradients (torch 2.13), and L-BFGS
    flattens its gradients with view: channels_last with either is refused."""
    nchw_only = {  # what cannot run in NHWC: (why, the way out)
        "batched restarts": (
            batched_restarts,
            "their vmapped 1x1 convolutions get wrong gradients in it",
            "set restarts_batched=false or prior.memory_format=auto",
        ),
        "optimizer=lbfgs": (
            flat_optimizer,
            "it flattens the parameters' gradients with view, in NCHW",
            "set prior.memory_format=auto or contiguous",
        ),
    }
    for what, (applies, why, way_out) in nchw_only.items():
        if applies and requested == CHANNELS_LAST:
            raise InputError(f"prior.memory_format=channels_last does not combine with {what} ({why}): {way_out}")
        if applies and requested == AUTO:
            return _auto(CONTIGUOUS, f"{what} run in NCHW ({why})")
    if requested != AUTO:
        return LayoutChoice(requested, f"prior.memory_format={requested} as configured")
    dtype = compute_dtype(precision)
    if accelerator != "cpu":
        return _auto(CONTIGUOUS, f"channels_last is not measured on {accelerator}")
    if dtype == torch.bfloat16:
        native, why = native_bf16(accelerator, facts)
        if native:
            return _auto(CHANNELS_LAST, f"bf16 on {_cpu(facts)}: oneDNN's bf16 convolutions prefer NHWC")
        return _auto(CONTIGUOUS, f"bf16 is emulated on {_cpu(facts)}")
    if dtype == torch.float32:
        if facts.cpu_capability.startswith("AVX512"):
            return _auto(CHANNELS_LAST, f"fp32 on {_cpu(facts)}: oneDNN's AVX-512 convolutions are faster in NHWC")
        return _auto(CONTIGUOUS, f"fp32 on {_cpu(facts)}: oneDNN's AVX2 convolutions are slower in NHWC")
    return _auto(CONTIGUOUS, f"{dtype} is not measured in channels_last on {_cpu(facts)}")


def _auto(memory_format: str, why: str) -> LayoutChoice:
    return LayoutChoice(memory_format, f"prior.memory_format=auto chose {memory_format}: {why}")


def _cpu(facts: HardwareFacts) -> str:
    return f"the CPU ({facts.device_name}, {facts.cpu_capability})"


def resolve_memory_format(
    requested: str, accelerator: str, precision: str | int, batched_restarts: bool = False, flat_optimizer: bool = False
) -> str:
    """The memory format of the fit for `prior.memory_format`, given the accelerator, the precision the
    Trainer runs (after `trainer.precision=auto` is resolved) and whether restarts are batched; logs why."""
    device = resolve_device(accelerator)
    facts = hardware_facts(device)
    choice = choose_memory_format(str(requested), device, precision, facts, batched_restarts, flat_optimizer)
    log.info(choice.reason)
    return choice.memory_format


def torch_format(memory_format: str) -> torch.memory_format:
    """torch's object for a resolved memory format's name."""
    return TORCH_FORMATS[memory_format]
