"""Stopping rules, restarts and SURE inside real fits: what results.json reports and keeps."""

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from conftest import TINY_NET, write_png

from dip_lightning.build import build_module
from dip_lightning.losses.data_terms import SquaredError
from dip_lightning.reporting.plots import read_metrics
from dip_lightning.stopping.callback import StoppingCallback
from dip_lightning.stopping.detectors import WindowedVariance
from dip_lightning.stopping.held_out import HeldOutPixels, held_out_error
from dip_lightning.stopping.lowest_variance import LowestVariance

SMALL = ["arch.num_channels_down=[16,16,16]", "arch.num_channels_up=[16,16,16]", "arch.num_channels_skip=[4,4,4]"]
QUICK_WMV = ["stopping=wmv", "stopping.detector.window=20", "stopping.detector.patience=100"]


class Decisions:
    """What a criterion decided on a sequence of outputs: what it kept at which step, and its stop."""

    def __init__(self):
        self.kept, self.stop_reason, self.step = [], None, 0

    def last_kept(self, part: str) -> int:
        return [step for step, parts, _ in self.kept if part in parts][-1]


def a_fit(observed: torch.Tensor | None = None) -> SimpleNamespace:
    """What a criterion sees of a fit: the observation, the physics (the identity), the outputs' shape."""
    outputs = SimpleNamespace(exp_weight=None, output_avg=torch.zeros(1, 3, 8, 8))
    physics = SimpleNamespace(operator=lambda image: image, noise=None)
    loss = SimpleNamespace(data_term=SquaredError())
    fit = dict(
        observed=observed, ground_truth=None, physics=physics, loss=loss, outputs=outputs, device=torch.device("cpu")
    )
    return SimpleNamespace(**fit, withhold=lambda held: None)


def held_positions() -> torch.Tensor:
    """The positions LowestVariance(seed=2) holds out of an 8 x 8 image at a fraction of 0.2."""
    return HeldOutPixels(0.2, 1).draw(torch.ones(1, 1, 8, 8, dtype=torch.bool), torch.Generator().manual_seed(5))


def decide_on(criterion, outputs, observed: torch.Tensor | None = None, ending_at: int | None = None) -> Decisions:
    """Run `criterion` on `outputs` (one a step, from step 1) as the stopping callback would."""
    fit, record = a_fit(observed), Decisions()
    criterion.setup(fit)
    criterion.start(fit)
    for output in outputs:
        record.step += 1
        decision = criterion.decide(record.step, output, output, ending=record.step == ending_at)
        for part, chosen in (("output", decision.keep_output), ("output_avg", decision.keep_average)):
            if chosen is not None and chosen.any():
                record.kept.append((record.step, (part,), chosen.tolist()))
        if decision.stop:
            record.stop_reason = criterion.reason()
            break
    return record


def feed(
    outputs, average_lag: int = 0, patience: int = 30, min_delta: float = 0.0, observed: torch.Tensor | None = None
) -> Decisions:
    """ES-WMV on `outputs`; with an `observed` image, gated by held_positions() of it."""
    detector = lambda generator: WindowedVariance(10, patience, generator=generator, min_delta=min_delta)  # noqa: E731
    held_out = None if observed is None else HeldOutPixels(0.2, 1)
    return decide_on(
        LowestVariance("ES-WMV", detector, seed=2, average_lag=average_lag, held_out=held_out), outputs, observed
    )


def settling_then_fitting_noise(steps: int = 200):
    """The output settles on an image (a shrinking wiggle), then fits noise (a growing one)."""
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 8, 8, generator=generator)
    wiggle = [1 / (t + 1) if t < 60 else (t - 59) / 60 for t in range(steps)]
    return [image + scale * 0.1 * torch.randn(1, 3, 8, 8, generator=generator) for scale in wiggle]


def test_es_wmv_stops_a_fit_whose_output_has_settled():
    module = feed(settling_then_fitting_noise())
    assert module.stop_reason is not None and "ES-WMV" in module.stop_reason
    best = int(module.stop_reason.split("lowest at step ")[1].split(" ")[0])
    assert 55 <= best <= 75 and module.kept[-1][2] == [True]
    assert module.last_kept("output") == module.last_kept("output_avg") == best  # no lag: both at the best
    assert module.step == best + 30  # stopped after the patience


@pytest.mark.parametrize(("patience", "average_lag"), [(30, 20), (10, 20)])
def test_the_average_is_kept_its_lag_after_the_detected_step_or_at_the_stop(patience, average_lag):
    module = feed(settling_then_fitting_noise(), average_lag=average_lag, patience=patience)
    best = int(module.stop_reason.split("lowest at step ")[1].split(" ")[0])
    assert module.last_kept("output") == best
    assert module.last_kept("output_avg") == min(best + average_lag, module.step)
    assert module.step == best + patience


def test_the_es_benchmark_reads_es_wmvs_decision_off_a_recorded_variance():
    """experiments/stopping_benchmark.py decides on a recorded variance instead of running the callback: the
    same output step, average step and stop."""
    path = Path(__file__).resolve().parents[2] / "experiments" / "stopping_benchmark.py"
    spec = importlib.util.spec_from_file_location("es_benchmark", path)
    es_benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(es_benchmark)
    outputs = settling_then_fitting_noise()
    recorder, variance = WindowedVariance(10, 10**9), []
    for output in outputs:
        recorder.update(output)
        variance.append(None if recorder.variance is None else recorder.variance.item())
    for patience, average_lag, min_delta in [(30, 20, 0.0), (10, 20, 0.0), (30, 0, 0.0), (30, 20, 0.05)]:
        module = feed(outputs, average_lag=average_lag, patience=patience, min_delta=min_delta)
        expected = (module.last_kept("output"), module.step, module.last_kept("output_avg"))
        assert es_benchmark.es_decision(variance, patience, average_lag, min_delta) == expected
    # gated by held-out pixels: outputs that settle on the noise of the fitted pixels from step 30 on
    generator = torch.Generator().manual_seed(6)
    image, wiggle, noise, memorised = (torch.randn(1, 3, 8, 8, generator=generator) for _ in range(4))
    held = held_positions()
    outputs = [
        image + (-1) ** t * wiggle / t + 0.3 * (1 - 0.98 ** max(t - 30, 0)) * torch.where(held, memorised, noise)
        for t in range(1, 201)
    ]
    observed = image + 0.3 * noise
    recorder, variance = WindowedVariance(10, 10**9), []
    for output in outputs:
        recorder.update(output)
        variance.append(None if recorder.variance is None else recorder.variance.item())
    errors = [held_out_error(output - observed, held).item() for output in outputs]
    module = feed(outputs, average_lag=20, patience=30, observed=observed)
    expected = (module.last_kept("output"), module.step, module.last_kept("output_avg"))
    assert es_benchmark.es_decision(variance, 30, 20, 0.0, errors) == expected
    assert es_benchmark.es_decision(variance, 30, 20, 0.0) == (200, 200, 200)  # the variance alone: the end
    assert expected[0] < 60 and expected[1] < 200  # gated: near the noise's arrival, and it stopped


def test_a_run_that_ends_keeps_the_average_it_has():
    """The budget runs out while the average waits: the last step's average is kept."""
    criterion = LowestVariance("ES-WMV", lambda generator: WindowedVariance(10, 30), seed=0, average_lag=500)
    fit = decide_on(criterion, settling_then_fitting_noise()[:70], ending_at=70)
    assert fit.stop_reason is None and fit.last_kept("output") < 70 and fit.last_kept("output_avg") == 70


def test_es_wmv_does_not_stop_a_fit_still_changing():
    """Still improving: successive outputs differ less and less, so each step is a new minimum."""
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 8, 8, generator=generator)
    module = feed(image + 0.1 / (1 + t / 10) * torch.randn(1, 3, 8, 8, generator=generator) for t in range(200))
    assert module.stop_reason is None
    assert len(module.kept) > 150  # nearly every step a new lowest variance, kept as the result so far


def test_es_wmv_stops_a_real_fit_and_keeps_its_result_at_the_detected_step(fit, tmp_path):
    results = fit(*SMALL, *QUICK_WMV, "task.num_iter=3000")
    assert results["status"] == "finished" and results["steps"] < 3000
    assert results["stop_reason"].startswith("ES-WMV: the output's variance was lowest at step")
    assert results["steps"] == results["stop_step"] + 100  # stopped after the patience
    assert results["stop_step_avg"] == results["steps"]  # the average's lag (auto: 300) is longer: kept at the stop
    # where it stops differs with the CPU's bf16 bits: +2.93 dB at step 458 in a 1-thread worker on a Xeon
    # with AMX (its best average), more on an AMD EPYC
    assert results["psnr_avg"] > results["psnr_input"] + 2.5
    assert results["gap_to_best"] == pytest.approx(results["best_psnr_avg"] - results["psnr_avg"], abs=1e-3)
    assert results["gap_to_best"] < 1.0


def test_the_step_a_rule_stops_at_is_scored_in_the_curves(fit_logged, tmp_path):
    # eval_every beyond the budget: the regular scoring skips every step, wherever the rule stops (which
    # differs between bf16 and fp32 machines), so the stop's score can only come from the stop itself
    results = fit_logged(*TINY_NET, "image.max_size=32", *QUICK_WMV, "task.eval_every=5000", "task.num_iter=3000")
    assert results["steps"] < 3000
    psnr_avg = read_metrics(tmp_path / "run")["psnr_avg"]
    assert list(psnr_avg) == [results["steps"]]  # the one step with a score is the one the run stopped at
    assert psnr_avg[results["steps"]] == pytest.approx(results["psnr_avg"], abs=1e-3)  # the average kept at the stop


def test_the_oracle_keeps_the_best_psnr_and_says_it_read_the_ground_truth(fit):
    results = fit(
        *TINY_NET,
        "image.max_size=32",
        "stopping=oracle",
        "stopping.metric=psnr",
        "stopping.patience=100",
        "task.num_iter=3000",
    )
    assert results["stop_reason"].startswith("oracle (reads the ground truth")
    assert results["psnr"] == results["best_psnr"] and results["stop_step"] == results["best_psnr_step"]
    assert results["steps"] < 2000


def test_a_budget_that_runs_out_first_keeps_the_lowest_variance_so_far(fit):
    results = fit(*TINY_NET, "stopping=wmv", "stopping.detector.window=5", "task.num_iter=30")
    assert results["steps"] == 30
    assert results["stop_reason"] == "ES-WMV, gated by held-out pixels: no stop in the 30 of 30 steps run"
    assert 5 <= results["stop_step"] <= 30


class Outputs(pl.Callback):
    """Keeps every step's output and average (N, C, H, W), by the step that made them."""

    def __init__(self):
        self.outputs, self.averages = [], {}

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.outputs.append(outputs["output"].clone())
        self.averages[module.outputs.step] = outputs["output_avg"].clone()


def fit_module(configure, *overrides, callbacks=()):
    module = build_module(configure(*overrides))
    recorder = Outputs()
    quiet = dict(logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
    pl.Trainer(max_steps=module.hparams.num_iter, callbacks=[*callbacks, recorder], **quiet).fit(module)
    return module, recorder


def test_the_kept_output_and_average_are_those_of_their_steps(configure):
    stopping = StoppingCallback(
        LowestVariance("ES-WMV", lambda generator: WindowedVariance(5, 15), seed=0, average_lag=7)
    )
    module, recorder = fit_module(configure, *TINY_NET, "image.max_size=32", "task.num_iter=200", callbacks=[stopping])
    kept = module.outputs
    step, step_avg = kept.kept_step.item(), kept.kept_step_avg.item()
    assert module.global_step == step + 15 and step_avg == step + 7
    assert torch.equal(kept.kept_output, recorder.outputs[step - 1])
    assert torch.equal(kept.kept_output_avg, recorder.averages[step_avg])


@pytest.mark.parametrize("batched", [False, True])
def test_restarts_are_independent_fits_whose_mean_is_the_restoration(configure, batched):
    overrides = [*TINY_NET, "image.max_size=32", "restarts=2", f"restarts_batched={batched}", "task.num_iter=4"]
    module, recorder = fit_module(configure, *overrides)
    outputs = recorder.outputs
    last = outputs[-1]
    assert last.shape == (2, 3, 32, 32) and not torch.allclose(last[0], last[1])  # own weights and z
    assert torch.allclose(module.restoration()["restored"], last.mean(0, keepdim=True).clamp(0, 1))
    average = outputs[0]
    for output in outputs[1:]:
        average = average * 0.99 + output * 0.01
    assert torch.allclose(module.restoration()["restored_avg"], average.mean(0, keepdim=True), atol=1e-6)
    without_noise = ["prior.reg_noise_std=0", f"restarts_batched={batched}"]  # (each restart draws its own noise)
    restarts, _ = fit_module(configure, *overrides, *without_noise)
    single, _ = fit_module(configure, *TINY_NET, "image.max_size=32", "task.num_iter=4", "prior.reg_noise_std=0")
    # the first restart is the single run; batched, grouped convolutions round a little differently and
    # Adam's first steps amplify that (1e-6 after one step, about 3e-3 after four): far below restart-to-restart
    gap = (single.outputs.output[0] - restarts.outputs.output[0]).abs().max()
    assert gap < 0.02 * (restarts.outputs.output[0] - restarts.outputs.output[1]).abs().max() if batched else gap < 1e-5
    assert module.num_params == 2 * single.num_params


def test_batched_and_sequential_restarts_compute_the_same_fit(configure):
    common = [*TINY_NET, "image.max_size=32", "restarts=2", "task.num_iter=3", "prior.reg_noise_std=0"]
    batched, _ = fit_module(configure, *common, "restarts_batched=true")
    sequential, _ = fit_module(configure, *common, "restarts_batched=false")
    gap = (batched.outputs.output - sequential.outputs.output).abs().max()  # rounding only (see above)
    assert gap < 0.02 * (sequential.outputs.output[0] - sequential.outputs.output[1]).abs().max()


def test_restarts_record_each_fits_score(fit):
    results = fit(*TINY_NET, "restarts=2", "task.num_iter=20")
    assert results["restarts"] == 2 and len(results["psnr_avg_restarts"]) == 2
    assert results["psnr_avg"] >= min(results["psnr_avg_restarts"])


def test_each_restart_stops_on_its_own(fit):
    results = fit(
        *TINY_NET,
        "restarts=2",
        "stopping=wmv",
        "stopping.detector.window=5",
        "stopping.detector.patience=20",
        "task.num_iter=400",
    )
    assert isinstance(results["stop_step"], list) and len(results["stop_step"]) == 2
    assert results["steps"] == max(results["stop_step"]) + 20


def test_sure_denoises_without_ground_truth_in_its_loss(fit, tmp_path):
    results = fit(*SMALL, "experiment=denoise_sure", "image.max_size=64", "task.num_iter=200")
    assert results["psnr"] > results["psnr_input"] + 3
    header = (tmp_path / "run" / "results.json").read_text()
    assert json.loads(header)["task"] == "denoise"


def test_the_all_pixel_oracle_is_a_plain_fits_best_average(fit, tmp_path):
    """experiments/stopping_all_pixels.py's oracle, the best average of its fit on all pixels, is what a
    plain run of the same case and seed records as its best (best_psnr_avg)."""
    path = Path(__file__).resolve().parents[2] / "experiments" / "stopping_all_pixels.py"
    spec = importlib.util.spec_from_file_location("all_pixels", path)
    all_pixels = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(all_pixels)
    photo = write_png(tmp_path / "clean.png", np.random.default_rng(3).integers(0, 256, (40, 40, 3), dtype=np.uint8))
    all_pixels.CASES = {"tiny": ("tune", ["task=denoise", *TINY_NET], 30, str(photo), 32)}
    all_pixels.VALIDATION = [(5, 0.1, 0.0), (5, 0.1, 1.0)]
    threads = torch.get_num_threads()
    try:
        result = all_pixels.run_case(("tiny", 0.05, True))
        record = fit(
            "task=denoise", *TINY_NET, "profile=fast", "image=file", f"image.source={photo}", "image.center_crop=32",
            "task.num_iter=30", "stopping=none",
        )  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    assert len(result["all_pixels"]) == 30 and set(result["fits"]["0.05"]["decisions"]) == {
        "p5 s0.1 r0.0",
        "p5 s0.1 r1.0",
    }
    assert max(result["all_pixels"]) == pytest.approx(record["best_psnr_avg"], abs=1e-3)
    assert all_pixels.outcome({**result, "half": "tune", "budget": 30}, "fixed")["gap"] == pytest.approx(
        max(result["all_pixels"]) - result["all_pixels"][-1]
    )
