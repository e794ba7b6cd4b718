"""When to stop a DIP fit without ground truth: ES-WMV and ES-EMV (Wang, Li, Zhuang, Chen, Liang, Sun,
"Early Stopping for Deep Image Prior", TMLR 2023).

The network's output x_t first improves, then starts fitting the noise. While it improves, successive
outputs change less and less; once it fits noise they change more again. So the variance of the recent
outputs has its minimum near the peak of quality, and it can be watched with the outputs alone: record
the step of the lowest variance, and stop once no lower one has come for `patience` updates.

Both detectors are plain classes on tensors (no Lightning), on any device, batched over restarts: x is
(N, C, H, W), N independent fits run as one batch, and each has its own variance, best step, patience
counter and stopped flag (tensors of shape (N,)). `update(x)` makes no host synchronisation, so calling
it every step costs only its O(pixels) tensor work.
"""

import torch

from dip_lightning.errors import InputError
from dip_lightning.limits import check_limits, integer, number, one_of, optional
from dip_lightning.stopping.statistics import copy_or_none


class PixelSubset:
    """The values the detectors watch: every value of x, or, with `max_pixels`, all channels at a fixed
    random set of at most `max_pixels` pixel positions (drawn once, without replacement, from
    `generator` at the first call, then the same positions every step). Saves memory on large images."""

    def __init__(self, max_pixels: int | None, generator: torch.Generator | None):
        if max_pixels is not None and (max_pixels < 1 or generator is None):
            raise InputError(f"max_pixels must be >= 1 and come with a generator, got {max_pixels} and {generator}")
        self.max_pixels, self.generator = max_pixels, generator
        self.index: torch.Tensor | None = None  # the chosen positions in the flattened H x W grid, sorted

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C * P): the watched values of each restart, P = min(H * W, max_pixels)."""
        if self.max_pixels is None or x.shape[-2] * x.shape[-1] <= self.max_pixels:
            return x.flatten(1)
        if self.index is None:
            positions = x.shape[-2] * x.shape[-1]
            drawn = torch.randperm(positions, generator=self.generator, device=self.generator.device)
            self.index = drawn[: self.max_pixels].sort().values
        if self.index.device != x.device:
            self.index = self.index.to(x.device)
        return x.flatten(2).index_select(2, self.index).flatten(1)


class VarianceDetector:
    """What ES-WMV and ES-EMV share: track the minimum of a variance VAR_t per restart, from the
    `start`-th update on. When VAR_t < the lowest so far by more than the fraction `min_delta` of it (0:
    any lower value), record t and report a new best (the caller
    snapshots its restoration then) and reset the patience counter; else count one more; a restart is
    `stopped` when the counter reaches `patience`, and from then on its best step stays as it is.

    Steps count `update` calls from 1 (`steps_seen`); `best_step` is the caller's step number when
    `update` is given one (a fit's global step: after an undone step the two differ), else `steps_seen`.
    Before the first update the per-restart tensors are None; `variance` is None until the first VAR_t
    exists; `best_step` is 0 until a first best.

    On small images the network memorises the noise and its output then settles on it, so the variance
    goes on falling after the peak of quality and never rises again (experiments/stopping_benchmark.md:
    the 64 x 64 astronaut falls faster after its peak than before). No threshold on the variance alone
    tells that fall from the one before the peak; the held-out gate of LowestVariance does (`allowed`).
    """

    _state = ("variance", "best_variance", "best_step", "waited", "stopped")  # per-restart tensors, (N,)
    limits = {
        "patience": integer(1),
        "start": integer(1),
        "max_pixels": optional(integer(1)),
        "min_delta": number(0, below=1),
    }

    def __init__(
        self, patience: int, start: int, max_pixels: int | None, generator: torch.Generator | None, min_delta: float
    ):
        check_limits(VarianceDetector, patience=patience, start=start, max_pixels=max_pixels, min_delta=min_delta)
        self.patience, self.start, self.min_delta = patience, start, min_delta
        self.pixels = PixelSubset(max_pixels, generator)
        self.steps_seen = 0
        self.variance: torch.Tensor | None = None  # the last VAR_t, float64
        self.best_variance: torch.Tensor | None = None  # the lowest VAR_t so far (inf before), float64
        self.best_step: torch.Tensor | None = None  # the step of the lowest VAR_t, int64
        self.waited: torch.Tensor | None = None  # updates since the lowest VAR_t, int64
        self.stopped: torch.Tensor | None = None  # bool

    @torch.no_grad()
    def update(self, x: torch.Tensor, step: int | None = None, allowed: torch.Tensor | None = None) -> torch.Tensor:
        """Watch the outputs x (N, C, H, W) of one step (numbered `step`, if given); return which restarts
        reached a new best (N,). `allowed` (N,) bool: only these restarts may take a new best at this step
        (a lower variance elsewhere counts as none: ES-WMV gated by held-out pixels)."""
        if x.dim() != 4:
            raise ValueError(f"expected outputs of shape (N, C, H, W), got {tuple(x.shape)}")
        values = self.pixels(x.detach())
        if self.stopped is None:
            self._begin(values)
        elif self.stopped.device != values.device:
            self._move(values.device)
        self.steps_seen += 1
        variance = self._next_variance(values)
        if variance is None:
            return torch.zeros_like(self.stopped)
        self.variance = variance
        if self.steps_seen < self.start:
            return torch.zeros_like(self.stopped)
        new_best = ~self.stopped & (variance < self.best_variance * (1 - self.min_delta))
        if allowed is not None:
            new_best &= allowed
        self.best_variance = torch.where(new_best, variance, self.best_variance)
        self.best_step.masked_fill_(new_best, self.steps_seen if step is None else step)
        self.waited.add_(~self.stopped).masked_fill_(new_best, 0)
        self.stopped |= self.waited >= self.patience
        return new_best

    def _begin(self, values: torch.Tensor) -> None:
        restarts, device = values.shape[0], values.device
        self.best_variance = torch.full((restarts,), torch.inf, dtype=torch.float64, device=device)
        self.best_step = torch.zeros(restarts, dtype=torch.int64, device=device)
        self.waited = torch.zeros(restarts, dtype=torch.int64, device=device)
        self.stopped = torch.zeros(restarts, dtype=torch.bool, device=device)

    def _next_variance(self, values: torch.Tensor) -> torch.Tensor | None:
        """Take in this step's values (N, K); return VAR_t (N,) in float64, or None while undefined."""
        raise NotImplementedError

    def _move(self, device: torch.device) -> None:
        for name in self._state:
            if (value := getattr(self, name)) is not None:
                setattr(self, name, value.to(device))

    def state_dict(self) -> dict:
        """Everything a resumed run needs to continue bit-identically (copies, safe to keep)."""
        state = {name: copy_or_none(getattr(self, name)) for name in self._state}
        return {**state, "steps_seen": self.steps_seen, "pixel_index": copy_or_none(self.pixels.index)}

    def load_state_dict(self, state: dict) -> None:
        for name in self._state:
            setattr(self, name, copy_or_none(state[name]))
        self.steps_seen = state["steps_seen"]
        self.pixels.index = copy_or_none(state["pixel_index"])


class WindowedVariance(VarianceDetector):
    """ES-WMV: VAR_t = (1/W) sum over the last W outputs of the mean over pixels of (x - window mean)^2,
    the mean per-pixel population variance across the window, defined once W outputs have come.

    A FIFO of the W outputs plus running float64 sums S1 = sum x and S2 = sum x^2 per value make an
    update O(pixels): VAR_t = mean over values of (S2/W - (S1/W)^2). Subtracting the value that leaves
    the window rounds a little every step, so the sums are re-added from the window every W updates
    (amortised O(pixels)); this also clears a NaN once it has left the window.

    Memory: W * N * C * P * bytes(window_dtype) for the window plus 2 * N * C * P * 8 for the sums, with
    P = min(height * width, max_pixels) pixel positions: 512 x 512 x 3 at W = 100 in float32 is 315 MB (plus
    13 MB of sums); float16 halves the window; max_pixels=65536 makes it 79 MB in float32. A float16 window stores each
    output rounded to 11 significant bits (steps of 2^-11 just below 1), and VAR_t is that of the rounded
    values: fine while the outputs still move by more than that, as they do at the peak.

    The paper's settings (conf/stopping/wmv.yaml): window 100 and patience 1000 (a smaller patience stops
    sooner, less robustly).
    """

    _state = (*VarianceDetector._state, "window", "sum", "sum_squares")
    limits = {
        **{name: allowed for name, allowed in VarianceDetector.limits.items() if name != "start"},  # start: the window
        "window": integer(2),
        "window_dtype": one_of("float32", "float16", "bfloat16"),  # (or the torch.dtype, from Python)
    }

    def __init__(
        self,
        window: int,
        patience: int,
        *,
        max_pixels: int | None = None,
        window_dtype: torch.dtype | str = torch.float32,
        generator: torch.Generator | None = None,
        min_delta: float = 0.0,
    ):
        check_limits(self, window=window)
        if isinstance(window_dtype, str):  # from the config: "float32", "float16", "bfloat16"
            window_dtype = getattr(torch, window_dtype, None)
        if not isinstance(window_dtype, torch.dtype) or not window_dtype.is_floating_point:
            raise InputError(f"window_dtype must be a floating-point dtype, got {window_dtype}")
        super().__init__(patience, window, max_pixels, generator, min_delta)
        self.size, self.window_dtype = window, window_dtype
        self.window: torch.Tensor | None = None  # (W, N, K): the last W outputs, a ring buffer
        self.sum: torch.Tensor | None = None  # (N, K) float64: S1
        self.sum_squares: torch.Tensor | None = None  # (N, K) float64: S2

    def _begin(self, values: torch.Tensor) -> None:
        super()._begin(values)
        self.window = torch.zeros(self.size, *values.shape, dtype=self.window_dtype, device=values.device)
        self.sum = torch.zeros(values.shape, dtype=torch.float64, device=values.device)
        self.sum_squares = torch.zeros_like(self.sum)

    def load_state_dict(self, state: dict) -> None:
        if state["window"] is not None and len(state["window"]) != self.size:
            raise InputError(f"the saved window holds {len(state['window'])} outputs, this one {self.size}")
        super().load_state_dict(state)

    def _next_variance(self, values: torch.Tensor) -> torch.Tensor | None:
        slot = self.window[(self.steps_seen - 1) % self.size]
        if self.steps_seen > self.size:
            leaving = slot.double()
            self.sum -= leaving
            self.sum_squares.addcmul_(leaving, leaving, value=-1)
        slot.copy_(values)
        entering = slot.double()  # as stored, so that it leaves the sums exactly as it entered
        self.sum += entering
        self.sum_squares.addcmul_(entering, entering)
        if self.steps_seen < self.size:
            return None
        if self.steps_seen % self.size == 0:
            self._resum()
        mean = self.sum / self.size
        return (self.sum_squares / self.size - mean * mean).mean(dim=1)

    def _resum(self) -> None:
        """Re-add the sums from the window, one slot at a time (no W x pixels float64 temporary)."""
        self.sum.zero_()
        self.sum_squares.zero_()
        for slot in self.window:
            value = slot.double()
            self.sum += value
            self.sum_squares.addcmul_(value, value)


class ExponentialVariance(VarianceDetector):
    """ES-EMV: an exponential moving mean m and variance v of the outputs, per value,
    delta = x - m,  m += alpha * delta,  v = (1 - alpha) * (v + alpha * delta^2)
    (from m = the first output, v = 0), and VAR_t = the mean of v over values; it is tracked from the
    `start`-th update on. v is linear in delta^2, so only m is kept per value and VAR_t per restart:
    memory N * C * P * 8 bytes. The paper's notebook sums delta^2 over pixels where this averages (the
    same minimum) and clips m to [0, 1] (a no-op for outputs in [0, 1]). The paper's settings
    (conf/stopping/emv.yaml): alpha 0.1, patience 1000, start 100.
    """

    _state = (*VarianceDetector._state, "mean")
    limits = {**VarianceDetector.limits, "alpha": number(above=0, below=1)}

    def __init__(
        self,
        alpha: float,
        patience: int,
        start: int,
        *,
        max_pixels: int | None = None,
        generator: torch.Generator | None = None,
        min_delta: float = 0.0,
    ):
        check_limits(self, alpha=alpha)
        super().__init__(patience, start, max_pixels, generator, min_delta)
        self.alpha = alpha
        self.mean: torch.Tensor | None = None  # (N, K) float64: m

    def _next_variance(self, values: torch.Tensor) -> torch.Tensor:
        values = values.double()
        if self.steps_seen == 1:
            self.mean = values.clone()
            return torch.zeros(values.shape[0], dtype=torch.float64, device=values.device)
        delta = values - self.mean
        self.mean.add_(delta, alpha=self.alpha)
        return (1 - self.alpha) * (self.variance + self.alpha * delta.square().mean(dim=1))
