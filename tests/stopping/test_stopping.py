"""The ground-truth-free stopping detectors (ES-WMV, ES-EMV): their variance against a direct computation,
its numerical drift, when they stop and on which step, per restart, with subsampling and resumption."""

import io

import pytest
import torch

from dip_lightning.errors import InputError
from dip_lightning.stopping.detectors import ExponentialVariance, WindowedVariance


def random_images(steps: int, *shape: int, seed: int) -> torch.Tensor:
    return torch.rand(steps, *shape, generator=torch.Generator().manual_seed(seed))


def window_variance(window: torch.Tensor) -> torch.Tensor:
    """The definition: the population variance across the window (W, N, ...), the mean over values."""
    return torch.var(window.double(), dim=0, unbiased=False).flatten(1).mean(dim=1)


def v_shaped(turns: list[int], steps: int, seed: int = 0) -> torch.Tensor:
    """Outputs x_t = target + s_t * noise per restart: s_t falls linearly to 0.01 at step `turn` and rises
    again (the fit overfits), or, for a turn of 0, shrinks geometrically for ever (the fit still improves)."""
    generator = torch.Generator().manual_seed(seed)
    target = torch.rand(len(turns), 3, 8, 8, generator=generator)
    outputs = []
    for t in range(1, steps + 1):
        scale = [0.01 + 0.1 * abs(t - turn) / turn if turn else 0.1 * 0.99**t for turn in turns]
        noise = torch.randn(target.shape, generator=generator)
        outputs.append(target + torch.tensor(scale).view(-1, 1, 1, 1) * noise)
    return torch.stack(outputs)


def run(detector, outputs: torch.Tensor) -> tuple[list[torch.Tensor], list[int | None]]:
    """Feed the outputs; return what update() said at each step and the step each restart stopped at."""
    said, stopped_at = [], [None] * outputs.shape[1]
    for step, x in enumerate(outputs, 1):
        said.append(detector.update(x))
        for restart, stopped in enumerate(detector.stopped.tolist()):
            if stopped and stopped_at[restart] is None:
                stopped_at[restart] = step
    return said, stopped_at


def test_running_variance_is_the_window_variance_at_every_step():
    outputs = random_images(23, 3, 2, 4, 5, seed=0)  # N = 3 restarts
    detector = WindowedVariance(window=6, patience=1000)
    for step, x in enumerate(outputs, 1):
        new_best = detector.update(x)
        assert detector.steps_seen == step
        if step < 6:
            assert detector.variance is None and not new_best.any()
            continue
        expected = window_variance(outputs[step - 6 : step])
        assert torch.allclose(detector.variance, expected, rtol=0, atol=1e-15)
        assert detector.variance.shape == (3,) and detector.variance.dtype == torch.float64


def test_running_sums_do_not_drift_over_many_steps():
    outputs = random_images(5000, 1, 3, 4, 4, seed=1)
    detector = WindowedVariance(window=100, patience=10**6)
    for x in outputs:
        detector.update(x)
    assert (detector.variance - window_variance(outputs[-100:])).abs().item() < 1e-10
    # just after a re-summation (5000 is a multiple of W) the sums are those of the window
    assert (detector.sum - outputs[-100:].double().sum(0).flatten(1)).abs().max().item() < 1e-12


def test_a_nan_output_leaves_the_variance_once_it_leaves_the_window():
    outputs = random_images(40, 1, 1, 3, 3, seed=2)
    outputs[12] = torch.nan  # a diverged step (backtracking restores the weights, the output was NaN)
    detector = WindowedVariance(window=5, patience=1000)
    for step, x in enumerate(outputs, 1):
        detector.update(x)
        if step == 14:
            assert detector.variance.isnan().all()
    assert torch.allclose(detector.variance, window_variance(outputs[-5:]), rtol=0, atol=1e-15)


@pytest.mark.parametrize("make", [lambda: WindowedVariance(20, 100), lambda: ExponentialVariance(0.1, 100, 20)])
def test_each_restart_stops_patience_steps_after_its_own_minimum(make):
    turns = [150, 300, 0]  # overfits from step 150, from step 300, never within the run
    detector = make()
    said, stopped_at = run(detector, v_shaped(turns, 700))
    best = detector.best_step.tolist()
    assert 150 <= best[0] <= 170 and 300 <= best[1] <= 320  # the window / the average lags the turn a little
    assert best[2] == 700 and stopped_at[2] is None  # still improving: a new best at every step, no stop
    assert stopped_at[:2] == [best[0] + 100, best[1] + 100]  # exactly `patience` updates without a new best
    assert detector.stopped.tolist() == [True, True, False]
    for restart in range(2):  # the last new best reported is the recorded one, and none after a stop
        reported = [step for step, new_best in enumerate(said, 1) if new_best[restart]]
        assert reported[-1] == best[restart]


def test_a_settled_output_stops_the_fit():
    """Converges to a fixed image by steps of shrinking noise, then stays: the variance reaches its floor."""
    generator = torch.Generator().manual_seed(3)
    target = torch.rand(1, 1, 6, 6, generator=generator)
    noise = torch.randn(400, 1, 1, 6, 6, generator=generator)
    scale = (1 - torch.arange(1, 401) / 200).clamp(min=0).view(-1, 1, 1, 1, 1)  # 0 from step 200 on
    detector = WindowedVariance(window=10, patience=50)
    _, stopped_at = run(detector, target + 0.1 * scale * noise)
    assert detector.best_step.item() == 209  # the first window of settled outputs only: variance 0
    assert detector.best_variance.item() == 0 and stopped_at == [259]


def test_subsampling_watches_the_same_pixels_every_step():
    outputs = random_images(15, 2, 3, 16, 16, seed=4)
    detector = WindowedVariance(window=4, patience=1000, max_pixels=20, generator=torch.Generator().manual_seed(5))
    expected_index = torch.randperm(256, generator=torch.Generator().manual_seed(5))[:20].sort().values
    for step, x in enumerate(outputs, 1):
        detector.update(x)
        assert torch.equal(detector.pixels.index, expected_index)
        if step >= 4:
            watched = outputs[step - 4 : step].flatten(3)[..., expected_index]  # (W, N, C, 20)
            assert torch.allclose(detector.variance, window_variance(watched), rtol=0, atol=1e-15)
    assert detector.window.shape == (4, 2, 3 * 20)  # W x N x C x max_pixels values held


def test_half_precision_window_is_the_variance_of_the_rounded_outputs():
    outputs = random_images(12, 1, 3, 8, 8, seed=6)
    detector = WindowedVariance(window=5, patience=1000, window_dtype=torch.float16)
    for x in outputs:
        detector.update(x)
    assert detector.window.dtype == torch.float16 and detector.sum.dtype == torch.float64
    rounded = window_variance(outputs[-5:].half())
    assert torch.allclose(detector.variance, rounded, rtol=0, atol=1e-15)
    assert torch.allclose(detector.variance, window_variance(outputs[-5:]), rtol=1e-3, atol=0)


def test_exponential_variance_follows_its_recursion_and_starts_at_start():
    outputs = random_images(30, 2, 1, 3, 3, seed=7).double()
    detector = ExponentialVariance(alpha=0.25, patience=1000, start=10)
    mean, variance = outputs[0].flatten(1).clone(), torch.zeros(2, 9, dtype=torch.float64)
    for step, x in enumerate(outputs, 1):
        new_best = detector.update(x)
        if step > 1:
            delta = x.flatten(1) - mean
            mean += 0.25 * delta
            variance = 0.75 * (variance + 0.25 * delta**2)  # per value, then the mean over values
        assert torch.allclose(detector.variance, variance.mean(dim=1), rtol=1e-12, atol=0)
        if step < 10:
            assert not new_best.any() and detector.best_step.tolist() == [0, 0]
        if step == 10:
            assert new_best.all() and detector.best_step.tolist() == [10, 10]


@pytest.mark.parametrize(
    "make",
    [
        lambda seed: WindowedVariance(8, 15, max_pixels=10, generator=torch.Generator().manual_seed(seed)),
        lambda seed: WindowedVariance(8, 15, window_dtype=torch.float16),
        lambda seed: ExponentialVariance(0.1, 15, 5, max_pixels=10, generator=torch.Generator().manual_seed(seed)),
    ],
)
def test_a_resumed_detector_continues_bit_identically(make):
    outputs = v_shaped([40, 60], 120, seed=8)
    original = make(0)
    for x in outputs[:37]:
        original.update(x)
    buffer = io.BytesIO()
    torch.save(original.state_dict(), buffer)  # as a checkpoint holds it
    buffer.seek(0)
    resumed = make(99)  # another generator: the saved pixel positions must win
    resumed.load_state_dict(torch.load(buffer))
    for x in outputs[37:]:
        assert torch.equal(original.update(x), resumed.update(x))
        assert torch.equal(original.variance, resumed.variance)
        assert torch.equal(original.best_step, resumed.best_step)
        assert torch.equal(original.stopped, resumed.stopped)
    assert original.steps_seen == resumed.steps_seen == 120 and original.stopped.all()


def test_bad_settings_are_refused():
    with pytest.raises(InputError):
        WindowedVariance(window=1, patience=10)
    with pytest.raises(InputError):
        WindowedVariance(window=10, patience=0)
    with pytest.raises(InputError):
        WindowedVariance(10, 10, max_pixels=100)  # subsampling needs the caller's generator
    with pytest.raises(InputError):
        ExponentialVariance(alpha=1.0, patience=10, start=10)
