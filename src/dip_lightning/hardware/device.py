"""`trainer.accelerator`: a device this machine does not have is refused in one line, before anything is
chosen or built for it. Left to Lightning and torch, `trainer.accelerator=gpu` on a machine without CUDA
got as far as choosing a precision for a GPU that is not there and ended in a traceback ("Torch not
compiled with CUDA enabled") with no results.json; from Python, in a bare AssertionError."""

import os
import platform

import torch

from dip_lightning.errors import InputError

ALWAYS = ("auto", "cpu")  # what every machine runs: auto falls back to the CPU
WAY_OUT = "use trainer.accelerator=auto or cpu"


def check_accelerator(accelerator: object) -> None:
    """InputError (one line: what is missing, and why, and the way out) where `trainer.accelerator` names
    a device torch cannot use here; nothing for auto and cpu, nor for a device that is there."""
    name = str(accelerator)
    if name in ALWAYS:
        return
    if name in ("gpu", "cuda"):
        if torch.cuda.is_available() or (name == "gpu" and torch.backends.mps.is_available()):
            return  # Lightning's gpu is CUDA, or Apple's MPS
        raise InputError(
            f"trainer.accelerator={name} asks for a CUDA GPU, but torch sees none ({_cuda_build()}): {WAY_OUT}"
        )
    if name == "mps":
        if torch.backends.mps.is_available():
            return
        raise InputError(
            f"trainer.accelerator=mps asks for an Apple GPU, but this machine has no Apple MPS device{_mps_build()}: "
            + WAY_OUT
        )
    _check_lightnings(name)


def _cuda_build() -> str:
    """Why torch sees no CUDA device, as far as it can tell: a build without CUDA, or no device visible."""
    build = f"torch {torch.__version__}"
    if torch.version.cuda is None and getattr(torch.version, "hip", None) is None:
        return f"{build} is a CPU build"
    kind = f"CUDA {torch.version.cuda}" if torch.version.cuda is not None else f"ROCm {torch.version.hip}"
    hidden = os.environ.get("CUDA_VISIBLE_DEVICES")
    where = "" if hidden is None else f" with CUDA_VISIBLE_DEVICES={hidden!r}"
    return f"{build} is built for {kind}; no CUDA device is visible{where}"


def _mps_build() -> str:
    """On a Mac, whether torch was built with MPS at all; elsewhere there is nothing more to say."""
    if platform.system() == "Darwin" and not torch.backends.mps.is_built():
        return f" (torch {torch.__version__} is built without MPS)"
    return ""


def _check_lightnings(name: str) -> None:
    """Any other accelerator (tpu, ...): Lightning's registry knows whether it is there."""
    from pytorch_lightning.accelerators import AcceleratorRegistry  # only for the rare accelerators: not at import

    if name not in AcceleratorRegistry:
        known = " | ".join(sorted({*ALWAYS, "gpu", *AcceleratorRegistry.available_accelerators()}))
        raise InputError(f"trainer.accelerator={name} is not an accelerator Lightning knows: one of {known}")
    entry = AcceleratorRegistry[name]
    if not entry["accelerator"].is_available():
        raise InputError(
            f"trainer.accelerator={name} asks for a {name.upper()} device, but Lightning's {entry['description']} "
            f"finds none on this machine: {WAY_OUT}"
        )
