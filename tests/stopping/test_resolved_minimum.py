"""A held-out estimate that resolves a high peak: the average's kept step moves only by a lower held-out error
its own sampling error can tell apart (stopping.statistics.ResolvedMinimum, stopping.resolution)."""

import numpy as np
import pytest
import torch
from conftest import TINY_NET, write_png

from dip_lightning.errors import InputError
from dip_lightning.stopping.held_out import HeldOutMinimum
from dip_lightning.stopping.statistics import ResolvedMinimum, RunningMinimum, paired_change


def test_the_paired_standard_error_matches_a_monte_carlo_estimate():
    """Held-out values (e + n)^2 at two steps, e the fit's error there and n the noise of the same held-out
    pixels, both drawn afresh as a new set of held-out pixels would be: the spread of the mean change over
    many draws is the standard error one draw reports, far below the error of either mean alone."""
    generator = torch.Generator().manual_seed(0)
    count, draws = 2000, 400
    changes, errors, unpaired = [], [], []
    for _ in range(draws):
        before = 0.05 * torch.randn(count, generator=generator)
        after = before + 0.01 * torch.randn(count, generator=generator) + 0.002
        noise = 0.1 * torch.randn(count, generator=generator)
        values, kept = (after + noise).square()[None], (before + noise).square()[None]
        change, error = paired_change(values, kept)
        changes.append(change.item())
        errors.append(error.item())
        unpaired.append(values.std().item() / count**0.5)
    assert np.std(changes) == pytest.approx(np.mean(errors), rel=0.1)
    assert np.mean(errors) < 0.3 * np.mean(unpaired)  # pairing cancels the noise the two steps share


def falling_estimate_after_a_peak(steps: int = 300, peak: int = 100, count: int = 2500):
    """Held-out values of the average of a fit whose true error falls to `peak` and then rises, while its
    held-out estimate keeps falling a little: the noise of the held-out pixels happens to correlate with the
    error's later change (a sampling accident of about one standard error)."""
    generator = torch.Generator().manual_seed(1)
    noise, floor, start, direction = (
        scale * torch.randn(count, generator=generator, dtype=torch.float64) for scale in (0.1, 0.03, 0.2, 1.0)
    )
    for other in (noise, floor):  # the later change: uncorrelated with the noise and the error at the peak ...
        direction -= other * (direction @ other) / (other @ other)
    direction -= 0.003 * count * noise / (noise @ noise)  # ... but for a slight correlation with the noise
    errors, values = [], []
    for step in range(1, steps + 1):
        error = floor + start * max(0.0, 1 - step / peak) + 1e-5 * max(0, step - peak) * direction
        errors.append(error.square().mean().item())
        values.append((error + noise).square())
    return errors, torch.stack(values)[:, None]


def test_a_flat_held_out_estimate_after_the_peak_keeps_the_average_at_the_peak():
    truth, values = falling_estimate_after_a_peak()
    means = values.double().mean(-1)
    assert np.argmin(truth) + 1 == 100 and truth[-1] > truth[99]  # the true error rose after step 100
    assert means.argmin().item() + 1 == 300  # the estimate kept falling to the end
    plain, resolved = RunningMinimum(), ResolvedMinimum(2.0)
    frozen = torch.zeros(1, dtype=torch.bool)
    for step, (mean, value) in enumerate(zip(means, values, strict=True), start=1):
        plain.update(mean, step, frozen)
        resolved.update(value, step, frozen)
    assert plain.best_step.item() == 300  # today's rule follows the drift to the end
    assert 90 <= resolved.best_step.item() <= 110  # resolved: the peak


def test_resolution_zero_keeps_the_lowest_mean_as_the_running_minimum_does():
    generator = torch.Generator().manual_seed(2)
    values = torch.randn(200, 2, 50, generator=generator).square() + torch.linspace(1, 0, 200)[:, None, None]
    plain, resolved = RunningMinimum(), ResolvedMinimum(0.0)
    frozen = torch.zeros(2, dtype=torch.bool)
    for step, value in enumerate(values, start=1):
        assert torch.equal(plain.update(value.double().mean(-1), step, frozen), resolved.update(value, step, frozen))
    assert torch.equal(plain.best_step, resolved.best_step) and torch.equal(plain.waited, resolved.waited)


def test_a_resolving_detector_takes_the_averages_values_and_waits_from_its_kept_step():
    truth, values = falling_estimate_after_a_peak()
    detector = HeldOutMinimum(patience=50, smoothing=1.0, resolution=2.0)
    for step, (error, value) in enumerate(zip(truth, values, strict=True), start=1):
        detector.update(torch.tensor([error]), value, step)  # the output's error: lowest at step 100
        if detector.stopped.all():
            break
    assert detector.resolves and 90 <= detector.average.best_step.item() <= 110
    assert step <= 160  # neither improved resolvably for 50 steps: stopped long before the end
    with pytest.raises(InputError, match="stopping.resolution"):
        HeldOutMinimum(patience=50, smoothing=1.0, resolution=-1)


def test_a_run_with_a_resolution_keeps_an_average_and_records_its_step(fit, tmp_path):
    noisy = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    path = write_png(tmp_path / "noisy.png", noisy)
    results = fit(*TINY_NET, f"observed={path}", "task.num_iter=30", "+stopping.resolution=1.0")
    assert results["stopping"] == "held-out validation" and 1 <= results["stop_step_avg"] <= results["steps"]
