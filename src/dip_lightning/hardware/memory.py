"""Will this fit? The memory a DIP fit needs, estimated before anything is allocated, so that a run too
large for the machine stops at once with the largest size that would fit, instead of swapping for hours
or being killed.

A step's memory is measured by running it on fake tensors (shapes and dtypes, no data, no arithmetic):
the peak of the bytes alive at once during the forward pass, the loss and the backward pass. That counts
what a count of the tensors saved for backward misses: the gradients, the backward pass's own buffers
and, with activation checkpointing, the recomputed activations; it also applies autocast's dtypes on any
CPU, fast or not. The peak grows linearly with the pixels (every level's activations are a fixed
fraction of the image), so two sizes give it at every size.
"""

import itertools
import math
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from dip_lightning.hardware.fake_step import fitting_step, measure_step

MB, GB = 10**6, 10**9
# On a CPU a process's resident memory grows beyond its tensors during its first steps (the convolution
# kernels' code and oneDNN's scratch space); GPUs have cuDNN workspaces instead. What a fit grew against
# the estimate: experiments/benchmarks/suite.md's memory table.
RUNTIME_BYTES = 256 * 2**20
PARAMETER_COPIES = 4  # the weights, Adam's two moments and the backtracking snapshot (gradients are measured)
IMAGE_BUFFERS = 4  # fp32 images the module keeps beside a step: ground truth, output, its average, the source
FIT_MARGIN = 0.9  # a fit "fits" when its estimate is under this fraction of the free memory


class TensorPeak(TorchDispatchMode):
    """While active, the most bytes held at once by the tensors its operations make (each storage
    counted once, tensors made before it or listed in `ignore` not counted)."""

    def __init__(self, ignore: Iterable[torch.Tensor] = ()):
        super().__init__()
        self.ignored = {id(t.untyped_storage()) for t in ignore}
        self.alive: dict[int, int] = {}
        self.bytes = self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_leaves(out):
            if isinstance(tensor, torch.Tensor):
                self._track(tensor.untyped_storage())
        self.peak = max(self.peak, self.bytes)
        return out

    def _track(self, storage: torch.UntypedStorage) -> None:
        key = id(storage)  # a storage keeps its Python object while it lives; freed, its finalizer runs
        if key in self.alive or key in self.ignored:
            return
        self.alive[key] = storage.nbytes()
        self.bytes += storage.nbytes()
        weakref.finalize(storage, self._release, key)

    def _release(self, key: int) -> None:
        self.bytes -= self.alive.pop(key)


def saved_tensor_bytes(net: nn.Module, *inputs: torch.Tensor) -> int:
    """Bytes of the tensors autograd keeps from `net(*inputs)` for the backward pass (each storage once,
    the parameters not counted): what a forward pass leaves in memory until the backward pass."""
    parameters = {p.untyped_storage().data_ptr() for p in net.parameters()}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        net(*inputs)
    return sum(saved.values())


def step_peak_bytes(
    net: nn.Module, input_depth: int, channels: int, height: int, width: int, dtype: torch.dtype
) -> int:
    """The peak bytes of a `fitting_step` (activations, gradients, the backward pass's buffers), the
    parameters not counted. Give a network built under FakeTensorMode to measure it for free."""
    with TensorPeak(ignore=itertools.chain(net.parameters(), net.buffers())) as peak:
        fitting_step(net, input_depth, channels, height, width, dtype)
    return peak.peak


@dataclass(frozen=True)
class FitMemory:
    """A fit's memory, `fixed_bytes + bytes_per_pixel * height * width`, for one network and precision."""

    fixed_bytes: float  # weights, gradients, Adam's moments, the backtracking snapshot, the runtime
    bytes_per_pixel: float  # activations, the backward pass's buffers, the image-sized tensors
    stride: int  # sizes are multiples of it
    min_size: int  # the smallest side the network accepts
    dtype: torch.dtype
    checkpointed_levels: int

    def __call__(self, height: int, width: int) -> int:
        return math.ceil(self.fixed_bytes + self.bytes_per_pixel * height * width)


def fit_memory(
    make_net: Callable[..., nn.Module],
    channels: int,
    input_depth: int,
    dtype: torch.dtype = torch.float32,
    restarts: int = 1,
) -> FitMemory:
    """Measure the memory model of fitting `make_net(num_input_channels=, num_output_channels=)` to an
    image of `channels` channels; `restarts` fits of it held at once (each with its own weights,
    optimizer and activations). Takes a fraction of a second whatever the image size."""

    def peak(net: nn.Module, size: int) -> int:
        return step_peak_bytes(net, input_depth, channels, size, size, dtype)

    step = measure_step(make_net, channels, input_depth, peak)
    return FitMemory(
        fixed_bytes=RUNTIME_BYTES + restarts * (step.at(0) + PARAMETER_COPIES * step.parameter_bytes),
        bytes_per_pixel=restarts * (step.per_pixel + IMAGE_BUFFERS * channels * 4),
        stride=step.stride,
        min_size=step.min_size,
        dtype=dtype,
        checkpointed_levels=step.checkpointed_levels,
    )


def available_bytes(device: str | torch.device = "cpu") -> int | None:
    """The memory a fit can still take on `device`; None where it cannot be told."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    if device.type == "mps":
        return torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory()
    if device.type == "cpu":
        limits = [b for b in (meminfo_available(), cgroup_headroom()) if b is not None]
        return min(limits, default=None)
    return None


def meminfo_available(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """The kernel's estimate of the memory it can give without swapping (Linux)."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def cgroup_headroom(root: Path = Path("/sys/fs/cgroup"), membership: Path = Path("/proc/self/cgroup")) -> int | None:
    """What this process's memory cgroup (v2 or v1, and its ancestors) still allows, the page cache it can
    drop counted as free; None without a limit (containers, batch schedulers set one)."""
    headrooms = []
    for folder in _cgroup_folders(root, membership):
        if (folder / "memory.max").is_file():  # cgroup v2
            limit, usage, cache = "memory.max", "memory.current", "inactive_file"
        elif (folder / "memory.limit_in_bytes").is_file():  # cgroup v1
            limit, usage, cache = "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"
        else:
            continue
        limit_text = (folder / limit).read_text().strip()
        if limit_text == "max" or int(limit_text) >= 2**60:  # v1 writes "no limit" as a huge number
            continue
        used = int((folder / usage).read_text()) - _memory_stat(folder, cache)
        headrooms.append(int(limit_text) - used)
    return min(headrooms, default=None)


def _cgroup_folders(root: Path, membership: Path) -> list[Path]:
    """The memory cgroup folders that limit this process: its own and their parents, v2 and v1."""
    tops = {root, root / "memory"}
    folders = set(tops)
    try:
        lines = membership.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        top = root if controllers == "" else root / "memory" if "memory" in controllers.split(",") else None
        if top is None:
            continue
        folder = top / path.lstrip("/")
        while folder not in tops and top in folder.parents:
            folders.add(folder)
            folder = folder.parent
    return sorted(f for f in folders if f.is_dir())


def _memory_stat(folder: Path, key: str) -> int:
    try:
        for line in (folder / "memory.stat").read_text().splitlines():
            name, value = line.split()
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def reset_peak_rss() -> int:
    """Start this process's peak resident memory afresh from its current one, which is returned (Linux).
    A new process's ru_maxrss cannot be used instead: Linux carries the parent's peak over fork and exec."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_bytes("VmRSS")


def peak_rss() -> int:
    """This process's peak resident memory since it started or since `reset_peak_rss` (Linux)."""
    return _status_bytes("VmHWM")


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise OSError(f"no {field} in /proc/self/status")


def largest_fitting_size(
    estimate: Callable[[int, int], int], height: int, width: int, budget: int, stride: int = 1, min_size: int = 1
) -> tuple[int, int] | None:
    """The largest (H, W) with the aspect ratio of `height` x `width`, both multiples of `stride` and at
    least `min_size`, whose `estimate(H, W)` is within `budget`; None when not even the smallest fits."""
    long_side, short_side = max(height, width), min(height, width)

    def size(steps: int) -> tuple[int, int]:  # `steps` strides on the longer side
        long = steps * stride
        short = short_side * long // long_side // stride * stride
        return (long, short) if height >= width else (short, long)

    def fits(steps: int) -> bool:
        return estimate(*size(steps)) <= budget

    low = 1
    while min(size(low)) < min_size:
        low += 1
    if not fits(low):
        return None
    high = 2 * low
    while fits(high):
        low, high = high, 2 * high
    while high - low > 1:  # fits(low), not fits(high)
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return size(low)


def check_fits(memory: FitMemory, height: int, width: int, available: int | None, device: str = "cpu") -> str | None:
    """None when a fit of an H x W image fits in `available` bytes with a margin (or nothing can be
    told); otherwise what it needs, the largest size that fits and the ways to make it fit."""
    if available is None:
        return None
    needed, budget = memory(height, width), int(available * FIT_MARGIN)
    if needed <= budget:
        return None
    largest = largest_fitting_size(memory, height, width, budget, memory.stride, memory.min_size)
    precision = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(memory.dtype, "fp32")
    options = [] if largest is None else [f"image.max_size={max(largest)}"]
    options.append("a smaller network (fewer channels in arch.num_channels_down / num_channels_up)")
    if memory.dtype == torch.float32:
        options.append("trainer.precision=bf16-mixed (less memory; fast only where bf16 is native)")
    if memory.checkpointed_levels == 0:
        options.append("activation checkpointing, prior.activation_checkpointing=all (less memory, slower steps)")
    fits = "not even the smallest image fits" if largest is None else f"at most {largest[1]} x {largest[0]} fits"
    return (
        f"a {width} x {height} fit needs about {format_bytes(needed)} ({precision}) but {device} has "
        f"{format_bytes(available)} free (a fit may take {FIT_MARGIN * 100:.0f} % of it): {fits}. "
        f"Options: {'; '.join(options)}."
    )


def format_bytes(count: float) -> str:
    return f"{count / GB:.1f} GB" if count >= GB else f"{count / MB:.0f} MB"
