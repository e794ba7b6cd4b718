"""`trainer.precision=auto`: bf16 autocast where the hardware runs bf16 natively, fp32 elsewhere.

bf16 is not always a speed-up: on a CPU without AVX-512 BF16 or AMX, oneDNN emulates bf16 convolutions
and a step of the default network runs many times slower than in fp32 (a case the benchmarks leave
out: experiments/benchmarks/layout.md). The facts about the hardware are
gathered apart from the decision, so that the decision is a pure function the tests can drive.
"""

import logging
from dataclasses import dataclass
from typing import NamedTuple

import torch

log = logging.getLogger(__name__)

AUTO = "auto"


@dataclass(frozen=True)
class HardwareFacts:
    """What the machine offers for reduced precision."""

    device_name: str = "unknown"
    cpu_capability: str = "DEFAULT"  # torch.backends.cpu.get_cpu_capability(): "AVX2", "AVX512", ... (AMX too)
    cpu_bf16_instructions: bool | None = None  # AVX-512 BF16, AMX-BF16 or Arm BF16; None: torch cannot tell
    cpu_amx: bool = False  # AMX-BF16 tiles: bf16 matrix units (Intel Sapphire Rapids and later)
    mkldnn_bf16: bool = False  # oneDNN runs bf16 at all (on x86 it accepts any AVX-512 CPU, emulating)
    cuda_bf16: bool = False  # the GPU has bf16 arithmetic (Ampere and later), not emulated
    device_found: bool = True  # False: torch sees no such device (a run refuses it first: hardware/device.py)


class PrecisionChoice(NamedTuple):
    precision: str | int  # what to give pl.Trainer(precision=...)
    reason: str  # one line for the run's log
    slow: bool = False  # the requested precision runs far slower here than 32-true: log it as a warning


def resolve_accelerator(accelerator: str) -> str:
    """The device type Lightning will use for `trainer.accelerator` ("auto" and "gpu" included). A "gpu" on
    a machine without one stays "cuda", the device asked for: a run refuses it first (device.check_accelerator)."""
    if accelerator in (AUTO, "gpu"):
        if torch.cuda.is_available():
            return "cuda"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu" if accelerator == AUTO else "cuda"
    return accelerator


def hardware_facts(accelerator: str) -> HardwareFacts:
    """Ask torch what `accelerator` (a resolved device type: "cpu", "cuda", ...) offers."""
    if accelerator == "cuda":
        if not torch.cuda.is_available():
            return HardwareFacts(device_name="none", device_found=False)
        return HardwareFacts(device_name=torch.cuda.get_device_name(), cuda_bf16=_cuda_bf16_native())
    capabilities = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else None
    instructions = None
    if capabilities is not None:
        instructions = any(capabilities.get(name, False) for name in ("avx512_bf16", "amx_bf16", "bf16", "sve_bf16"))
    return HardwareFacts(
        device_name=(capabilities or {}).get("cpu_name") or "CPU",
        cpu_capability=torch.backends.cpu.get_cpu_capability(),
        cpu_bf16_instructions=instructions,
        cpu_amx=bool((capabilities or {}).get("amx_bf16", False)),
        mkldnn_bf16=torch.ops.mkldnn._is_mkldnn_bf16_supported(),
    )


def _cuda_bf16_native() -> bool:
    try:
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # torch < 2.4 has no including_emulation and counts only native support
        return torch.cuda.is_bf16_supported()


def native_bf16(accelerator: str, facts: HardwareFacts) -> tuple[bool, str]:
    """Whether bf16 runs natively (fast) on `accelerator`, and why, in words."""
    if accelerator == "cuda":
        if not facts.device_found:
            return False, "no CUDA device is visible to torch, so no native bf16"
        if facts.cuda_bf16:
            return True, f"{facts.device_name} has native bf16"
        return False, f"{facts.device_name} has no native bf16 (it needs an Ampere or later GPU)"
    if accelerator != "cpu":
        return False, f"bf16 autocast is not known to be faster than fp32 on {accelerator}"
    where = f"the CPU ({facts.device_name}, {facts.cpu_capability})"
    if facts.cpu_bf16_instructions is None:  # an older torch: AVX-512 is the best hint it gives
        native = facts.mkldnn_bf16 and facts.cpu_capability == "AVX512"
    else:
        native = facts.mkldnn_bf16 and facts.cpu_bf16_instructions
    if native:
        return True, f"{where} has {'AMX' if facts.cpu_amx else 'native'} bf16 instructions"
    return False, f"{where} has no native bf16: bf16 convolutions run tens of times slower than fp32 there"


def choose_precision(requested: str | int, accelerator: str, facts: HardwareFacts) -> PrecisionChoice:
    """`auto` becomes bf16-mixed where bf16 is native, else 32-true; any other value is kept as given,
    flagged as slow when it asks for bf16 where bf16 is not native."""
    native, why = native_bf16(accelerator, facts)
    if str(requested) != AUTO:
        if str(requested).startswith("bf16") and not native:
            return PrecisionChoice(requested, f"trainer.precision={requested}, but {why}; 32-true is faster", True)
        return PrecisionChoice(requested, f"trainer.precision={requested} as configured")
    if native:
        return PrecisionChoice("bf16-mixed", f"trainer.precision=auto chose bf16-mixed: {why}")
    return PrecisionChoice("32-true", f"trainer.precision=auto chose 32-true: {why}")


def resolve_precision(requested: str | int, accelerator: str) -> str | int:
    """The precision to give the Trainer for `trainer.precision` and `trainer.accelerator`; logs why."""
    device = resolve_accelerator(accelerator)
    choice = choose_precision(requested, device, hardware_facts(device))
    if choice.slow:
        log.warning(choice.reason)
    else:
        log.info(choice.reason)
    return choice.precision


def compute_dtype(precision: str | int) -> torch.dtype:
    """The dtype most activations take under a Lightning precision setting."""
    text = str(precision)
    if text.startswith("bf16"):
        return torch.bfloat16
    if text.startswith("16"):
        return torch.float16
    if text.startswith("64"):
        return torch.float64
    return torch.float32
