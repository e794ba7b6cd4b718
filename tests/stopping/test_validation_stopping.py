"""Stopping without ground truth: held-out validation, ES-WMV on a variance that never rises, the default
rule for a user's image, and what a run saves while a rule waits."""

import json
import math

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from conftest import TINY_NET, compose_config, write_png

from dip_lightning.build import build_module, build_stopping
from dip_lightning.callbacks.result_writer import ResultWriter
from dip_lightning.errors import InputError
from dip_lightning.fitting.metrics import psnr
from dip_lightning.fitting.outputs import FitOutputs
from dip_lightning.losses.data_terms import (
    AbsoluteError,
    AnscombeSquaredError,
    GammaLikelihood,
    PoissonLikelihood,
    SquaredError,
)
from dip_lightning.physics.noise import (
    GaussianNoise,
    ImpulseNoise,
    JpegCompression,
    PoissonGaussianNoise,
    PoissonNoise,
    SpeckleNoise,
)
from dip_lightning.stopping.callback import StoppingCallback
from dip_lightning.stopping.detectors import WindowedVariance
from dip_lightning.stopping.held_out import (
    HeldOutGate,
    HeldOutMinimum,
    HeldOutPixels,
    auto_fraction,
    held_out_error,
    held_out_mean,
)
from dip_lightning.stopping.lowest_held_out_error import LowestHeldOutError
from dip_lightning.stopping.lowest_variance import LowestVariance


def test_the_held_out_error_estimates_the_true_error_plus_the_noise_variance():
    """E||x - y||^2 over held-out pixels = ||x - x_true||^2 + sigma^2 for noise independent of x."""
    generator = torch.Generator().manual_seed(0)
    truth = torch.rand(1, 3, 256, 256, generator=generator)
    sigma = 0.1
    restored = truth + 0.05 * torch.randn(truth.shape, generator=generator)  # the fit's own error
    held = HeldOutPixels(0.05, 1).draw(torch.ones(1, 1, 256, 256, dtype=torch.bool), generator)
    estimates = []
    for _ in range(20):  # fresh noise each time: the estimator's expectation
        observed = truth + sigma * torch.randn(truth.shape, generator=generator)
        estimates.append(held_out_error(restored - observed, held).item())
    true_error = held_out_error(restored - truth, held).item()
    assert np.mean(estimates) == pytest.approx(true_error + sigma**2, rel=0.01)
    assert np.std(estimates) < 0.02 * (true_error + sigma**2)


def _anscombe_divergence(f: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    term = AnscombeSquaredError(0.02, 5)
    return (term.expected_transform(f) - term.expected_transform(x)).square()


# noise, its data term, and what the term's expectation over the noise exceeds its value at the clean image by
DIVERGENCES = {
    "poisson, squared": (PoissonNoise(30), SquaredError(), lambda f, x: (f - x).square()),
    "poisson, likelihood": (PoissonNoise(30), PoissonLikelihood(), lambda f, x: f - x * f.log() - x + x * x.log()),
    "poisson_gaussian, squared": (PoissonGaussianNoise(0.02, 5), SquaredError(), lambda f, x: (f - x).square()),
    "poisson_gaussian, anscombe": (PoissonGaussianNoise(0.02, 5), AnscombeSquaredError(0.02, 5), _anscombe_divergence),
    "speckle, squared": (SpeckleNoise(10), SquaredError(), lambda f, x: (f - x).square()),
    "speckle, gamma": (SpeckleNoise(10), GammaLikelihood(), lambda f, x: f.log() + x / f - x.log() - 1),
    "impulse, absolute": (ImpulseNoise(0.1), AbsoluteError(), lambda f, x: 0.9 * (f - x).abs()),
}


@pytest.mark.parametrize("case", list(DIVERGENCES))
def test_the_held_out_statistic_of_each_noise_is_unbiased(case):
    """Over fresh draws of the noise, the held-out mean of the data term at a restoration, less its mean at
    the clean image, estimates the term's divergence from the clean image there: its expectation differs
    from it by no more than the draws' own spread allows (4 standard errors). The squared error is
    unbiased for the MSE under every noise of mean x (impulse noise, not of mean x, with its absolute error)."""
    noise, term, divergence = DIVERGENCES[case]
    generator = torch.Generator().manual_seed(0)
    truth = 0.1 + 0.8 * torch.rand(1, 3, 64, 64, generator=generator)
    restored = (truth + 0.05 * torch.randn(truth.shape, generator=generator)).clamp(0.02, 1)  # the fit's error
    held = HeldOutPixels(0.05, 1).draw(torch.ones(1, 1, 64, 64, dtype=torch.bool), generator)
    differences = []
    for _ in range(200):  # fresh noise each time: the estimator's expectation
        observed = noise(truth, generator)
        at = [held_out_mean(term.pointwise(image, observed), held).item() for image in (restored, truth)]
        differences.append(at[0] - at[1])
    expected = held_out_mean(divergence(restored, truth), held).item()
    standard_error = np.std(differences) / np.sqrt(len(differences))
    assert abs(np.mean(differences) - expected) < 4 * standard_error, (np.mean(differences), expected)
    assert expected > 10 * standard_error  # the test can tell a biased statistic: the divergence stands out


def test_held_out_pixels_are_a_fraction_of_the_known_ones_in_blocks():
    generator = torch.Generator().manual_seed(1)
    support = torch.rand(1, 1, 64, 96, generator=generator) > 0.5  # an inpainting mask's known pixels
    held = HeldOutPixels(0.1, 1).draw(support, generator)
    assert not (held & ~support).any()
    assert held.sum() / support.sum() == pytest.approx(0.1, abs=0.02)
    blocks = HeldOutPixels(0.1, 8).draw(torch.ones(1, 1, 64, 96, dtype=torch.bool), generator)
    tiles = blocks[0, 0].reshape(8, 8, 12, 8).permute(0, 2, 1, 3).flatten(2)  # every 8 x 8 tile
    assert torch.all(tiles.all(-1) | ~tiles.any(-1))  # whole JPEG blocks, or none of a block
    with pytest.raises(InputError, match=r"fraction must be a finite number in \(0, 0.5\) or auto, got 0.7"):
        HeldOutPixels(0.7, 1)


@pytest.mark.parametrize(
    ("size", "block", "fraction"),
    [(64, 1, 0.05), (128, 1, 0.02), (100, 1, 0.03), (512, 1, 0.02), (128, 8, 0.05), (1024, 8, 0.02)],
)
def test_fraction_auto_holds_out_about_300_positions_between_2_and_5_percent(size, block, fraction):
    """5 % of a 64 px photo (205 pixels), 2 % of a 128 px one (328), 300 of a 100 px one; JPEG's 8 x 8
    blocks count as positions: 5 % of a 128 px photo's 256 blocks."""
    assert auto_fraction(size**2 // block**2) == pytest.approx(fraction)
    support = torch.ones(1, 1, size, size, dtype=torch.bool)
    held = HeldOutPixels("auto", block).draw(support, torch.Generator().manual_seed(0))
    expected = fraction * size**2 / block**2  # positions held out
    assert abs(held.sum().item() / block**2 - expected) < 4 * expected**0.5  # within 4 sigma of a binomial draw


def whole_blocks(held: torch.Tensor, size: int) -> bool:
    """Whether every size x size tile of `held` (1, 1, h, w) is held out whole or not at all."""
    height, width = held.shape[-2:]
    tiles = held[0, 0].reshape(height // size, size, width // size, size).permute(0, 2, 1, 3).flatten(2)
    return bool(torch.all(tiles.all(-1) | ~tiles.any(-1)))


def test_held_out_blocks_are_as_large_as_the_noise_models_correlation():
    support = torch.ones(1, 1, 64, 96, dtype=torch.bool)
    jpeg = HeldOutPixels(0.1).draw(support, torch.Generator().manual_seed(1), JpegCompression(10))
    gaussian = HeldOutPixels(0.1).draw(support, torch.Generator().manual_seed(1), GaussianNoise(25))
    none = HeldOutPixels(0.1).draw(support, torch.Generator().manual_seed(1))
    assert JpegCompression.correlation_block == 8 and whole_blocks(jpeg, 8)
    assert not whole_blocks(gaussian, 8) and torch.equal(gaussian, none)  # single pixels
    assert torch.equal(HeldOutPixels(0.1, 8).draw(support, torch.Generator().manual_seed(1), GaussianNoise(25)), jpeg)


def test_the_validation_detector_keeps_the_lowest_errors_and_stops_after_its_patience():
    errors = [1 / (t + 1) for t in range(50)] + [0.02 + 0.001 * t for t in range(100)]  # down, then up
    errors_avg = [1 / (t + 1) for t in range(70)] + [0.015 + 0.001 * t for t in range(80)]  # later
    detector = HeldOutMinimum(patience=30, smoothing=1.0)
    for step, (error, error_avg) in enumerate(zip(errors, errors_avg, strict=True), start=1):
        detector.update(torch.tensor([error]), torch.tensor([error_avg]), step)
        if detector.stopped.all():
            break
    assert detector.output.best_step.item() == 50 and detector.average.best_step.item() == 70
    assert step == 100  # both waited 30 steps: the later one decides


def test_patience_growth_waits_through_a_late_plateau_that_patience_alone_stops_on():
    """Falling to step 400, flat for 150 steps, falling again to step 700, then rising: patience 100 stops
    on the plateau (kept at its first step, 401); with growth 0.5 it waits 200 steps there and keeps the true low."""
    errors = [1 - t / 1000 for t in range(400)] + [0.6] * 150 + [0.6 - (t + 1) / 1000 for t in range(150)]
    errors += [0.45 + (t + 1) / 1000 for t in range(400)]

    def fitted(growth: float) -> tuple[int, int]:
        detector = HeldOutMinimum(patience=100, smoothing=1.0, patience_growth=growth)
        for step, error in enumerate(errors, start=1):
            detector.update(torch.tensor([error]), torch.tensor([error]), step)
            if detector.stopped.all():
                return detector.average.best_step.item(), step
        return detector.average.best_step.item(), step

    assert fitted(0.0) == (401, 501)
    assert fitted(0.5) == (700, 1050)  # waited 0.5 x 700 = 350 steps after its low
    with pytest.raises(InputError, match="stopping.patience_growth"):
        HeldOutMinimum(patience=100, smoothing=1.0, patience_growth=-0.1)


def test_confirm_waits_through_a_plateau_its_values_cannot_resolve_and_stops_on_a_resolved_rise():
    """An average's held-out values (1,000 of them): the noise they share, a slow wander of the average's own
    (as an exponential average wanders), and a mean that falls to step 400, stays flat for 250 steps, falls
    again to step 950, then rises. Patience alone stops on the plateau, where the wander made the last low;
    with confirm the plateau's rises are within their standard errors, and the fit keeps the true low and
    stops once the rise after it is resolved, its patience after."""
    generator = torch.Generator().manual_seed(0)
    shared = 0.05 * torch.randn(1, 1000, generator=generator)
    means = [1 - t / 1000 for t in range(400)] + [0.6] * 250 + [0.6 - (t + 1) / 1000 for t in range(300)]
    means += [0.3 + (t + 1) / 2000 for t in range(400)]

    def fitted(confirm: float) -> tuple[int, int]:
        detector, wander = HeldOutMinimum(patience=100, smoothing=1.0, confirm=confirm), torch.zeros(1, 1000)
        steps = torch.Generator().manual_seed(1)  # the same wander for every setting
        for step, mean in enumerate(means, start=1):
            wander = 0.98 * wander + 0.002 * torch.randn(1, 1000, generator=steps)
            values = mean + shared + wander
            detector.update(values.mean(1), values if detector.resolves else values.mean(1), step)
            if detector.stopped.all():
                break
        return detector.average.best_step.item(), step

    kept, stopped = fitted(0.0)
    assert 400 < kept < 550 and stopped == kept + 100  # on the plateau
    assert fitted(1.0) == fitted(2.0) == (950, 1050)
    with pytest.raises(InputError, match="stopping.confirm"):
        HeldOutMinimum(patience=100, smoothing=1.0, confirm=-1)


def test_a_variance_that_keeps_falling_does_not_keep_the_last_step(configure):
    """On small images the network memorises the noise and settles on it: ES-WMV's variance then falls to
    the peak and on to the end, while the error on pixels the fit never saw rises. The variance alone keeps
    the last step; gated by the held-out error (stopping=wmv's default) it keeps the peak."""
    settings = configure("stopping=wmv").stopping
    generator = torch.Generator().manual_seed(0)
    truth, wiggle = torch.rand(1, 3, 16, 16, generator=generator), torch.randn(1, 3, 16, 16, generator=generator)
    noise, memorised = (0.1 * torch.randn(1, 3, 16, 16, generator=generator) for _ in range(2))
    observed = truth + noise
    held = HeldOutPixels(0.2, 1).draw(torch.ones(1, 1, 16, 16, dtype=torch.bool), generator)
    gated = WindowedVariance(10, settings.detector.patience, min_delta=settings.detector.min_delta)
    gate, plain = HeldOutGate(settings.smoothing), WindowedVariance(10, 10**9)
    for step in range(1, 401):
        fitted = 1 - math.exp(-max(step - 60, 0) / 100)  # how much noise the network has memorised
        output = truth + (-1) ** step * wiggle / step + fitted * torch.where(held, memorised, noise)
        plain.update(output, step)
        gate.kept(gated.update(output, step, gate.allows(held_out_error(output - observed, held))))
    assert plain.best_step.item() == 400  # the variance never rose: the memorised noise
    assert 40 <= gated.best_step.item() <= 90  # the peak, before the noise came in


def test_an_output_kept_before_its_average_leaves_the_current_average_as_the_result():
    outputs = FitOutputs(restarts=1, channels=1, height=2, width=2, exp_weight=0.5)
    outputs.update(torch.zeros(1, 1, 2, 2), [True], step=1)
    outputs.keep(torch.tensor([True]), ("output",), average_waits=True)  # ES-WMV's detection at step 1
    for step in range(2, 5):
        outputs.update(torch.ones(1, 1, 2, 2), [True], step)
    output, average = outputs.result()
    assert output.sum() == 0 and torch.equal(average, outputs.output_avg)  # the average it has now
    assert outputs.kept_steps() == ([1], [4])
    outputs.keep(torch.tensor([True]), ("output_avg",))  # the lag is over: kept for good
    outputs.update(torch.full((1, 1, 2, 2), 5.0), [True], step=5)
    assert torch.equal(outputs.result()[1], torch.full((1, 1, 2, 2), 0.875)) and outputs.kept_steps() == ([1], [4])


class Interrupt(pl.Callback):
    def __init__(self, step: int):
        self.step, self.average = step, None

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if trainer.global_step == self.step:
            self.average = module.outputs.output_avg.clone()
            raise KeyboardInterrupt


def test_an_interrupted_run_saves_its_current_average_not_the_first_detections(configure, tmp_path):
    module = build_module(configure(*TINY_NET, "image.max_size=32", "task.num_iter=100"))
    criterion = LowestVariance("ES-WMV", lambda generator: WindowedVariance(5, 1000), seed=0, average_lag=1000)
    stopping = StoppingCallback(criterion)
    interrupt, writer = Interrupt(40), ResultWriter(tmp_path / "out", {}, every_n_steps=None)
    quiet = dict(logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
    with pytest.raises(SystemExit):  # Lightning ends a Ctrl-C so, after the callbacks' on_exception
        pl.Trainer(max_steps=100, callbacks=[stopping, interrupt, writer], **quiet).fit(module)
    record = json.loads((tmp_path / "out" / "results.json").read_text())
    assert record["status"] == "interrupted" and record["stop_step_avg"] == 40
    assert record["psnr_avg"] == pytest.approx(psnr(interrupt.average, module.ground_truth), abs=1e-3)


def test_a_users_noisy_image_is_stopped_by_held_out_validation_by_default(fit, tmp_path):
    noisy = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    path = write_png(tmp_path / "noisy.png", noisy)
    results = fit(*TINY_NET, f"observed={path}", "task.num_iter=20")
    assert results["stopping"] == "held-out validation" and results["stop_step"] >= 1
    synthetic = fit(*TINY_NET, "image.max_size=32", "task.num_iter=5")  # a paper-style experiment: its budget
    assert synthetic["stopping"] is None and synthetic["steps"] == 5
    off = fit(*TINY_NET, f"observed={path}", "task.num_iter=5", "stopping=none")
    assert off["stopping"] is None and "stop_step" not in off
    noiseless = fit(*TINY_NET, f"observed={path}", "task=sr", "task.num_iter=5")  # no noise to overfit: its budget
    assert noiseless["stopping"] is None and noiseless["steps"] == 5


def test_the_default_rule_can_stop_synthetic_observations_too(configure):
    """stopping.when=every_image: the noise-aware default on a clean image corrupted
    here (the mini paper presets set it; stopping=none still turns it off); still not on the noiseless
    tasks; a value it does not know is refused by name."""
    assert isinstance(build_stopping(configure(*TINY_NET, "stopping.when=every_image")).criterion, LowestHeldOutError)
    assert build_stopping(configure(*TINY_NET, "stopping.when=every_image", "task=sr")) is None
    assert build_stopping(configure("experiment=paper_denoise_mini", "stopping=none")) is None  # still off there
    assert isinstance(build_stopping(configure("experiment=paper_denoise_mini")).criterion, LowestHeldOutError)
    with pytest.raises(InputError, match=r"stopping.when must be one of \('observed', 'every_image'\), got 'always'"):
        build_stopping(configure(*TINY_NET, "stopping.when=always"))


def test_withheld_pixels_are_left_out_of_the_data_term(tmp_path):
    cfg = compose_config(tmp_path / "run", "~logger", "check_fit=false", *TINY_NET, "image.max_size=32")
    module = build_module(cfg)
    held = torch.zeros(1, 1, 32, 32, dtype=torch.bool)
    held[..., :16, :] = True
    module.withhold(held)
    z = module.prior.input
    network = lambda delta: module.prior.render(z)  # noqa: E731
    with torch.no_grad():
        terms = module.loss(network, module.observed, module.physics.operator, None, module.fit_weight)
        kept_half = (terms.output - module.observed)[..., 16:, :].square().mean()
    assert terms.data.item() == pytest.approx(kept_half.item(), rel=1e-5)
