"""stopping.hand_back: a fit held-out validation has not stopped that many steps before the budget's end gets
its held-out pixels back for the last steps, and its result is the last step's (stopping/lowest_held_out_error.py)."""

import io
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import TINY_NET, write_png

from dip_lightning.errors import InputError
from dip_lightning.losses.data_terms import SquaredError
from dip_lightning.reporting.plots import read_metrics
from dip_lightning.stopping.held_out import HeldOutPixels
from dip_lightning.stopping.lowest_held_out_error import LowestHeldOutError

BUDGET = 40


def a_fit(budget: int = BUDGET) -> SimpleNamespace:
    """Two restarts of a 16 x 16 RGB image under the identity; `withheld` records what the data term leaves out."""
    generator = torch.Generator().manual_seed(0)
    truth = torch.rand(1, 3, 16, 16, generator=generator)
    fit = SimpleNamespace(
        observed=truth + 0.1 * torch.randn(truth.shape, generator=generator),
        ground_truth=None,
        physics=SimpleNamespace(operator=lambda image: image, noise=None),
        loss=SimpleNamespace(data_term=SquaredError()),
        outputs=SimpleNamespace(exp_weight=0.9, output_avg=torch.zeros(2, 3, 16, 16)),
        device=torch.device("cpu"),
        budget=budget,
        withheld=[],
    )
    fit.withhold = lambda held: fit.withheld.append(held.clone())
    return fit


def course(fit: SimpleNamespace, first_stops_at: int, memorises: float = 0.02) -> list[torch.Tensor]:
    """Outputs of two restarts: the first reaches the observation's clean part at `first_stops_at` and
    then memorises noise of its own at the rate `memorises` (its held-out error rises: it stops `patience`
    later; at 0 it stays where it is); the second keeps approaching the truth to the budget's end (it never
    stops)."""
    generator = torch.Generator().manual_seed(1)
    clean = fit.observed - 0.1 * torch.randn(fit.observed.shape, generator=torch.Generator().manual_seed(0))
    outputs = []
    for step in range(1, fit.budget + 1):
        first = 0.3 * max(first_stops_at - step, 0) + memorises * max(step - first_stops_at, 0)
        second = 0.3 * (1 - step / fit.budget) + 0.01
        scales = torch.tensor([first, second])[:, None, None, None]
        outputs.append(clean + scales * torch.randn(2, 3, 16, 16, generator=generator))
    return outputs


def criterion(hand_back: int, confirm: float = 0.0) -> LowestHeldOutError:
    return LowestHeldOutError(
        "held-out validation",
        HeldOutPixels(0.1),
        patience=5,
        smoothing=1.0,
        seed=0,
        hand_back=hand_back,
        confirm=confirm,
    )


def run(rule: LowestHeldOutError, fit: SimpleNamespace, outputs: list[torch.Tensor], first_step: int = 1) -> list:
    made = []
    for step, output in enumerate(outputs, start=first_step):
        decision = rule.decide(step, output, output, ending=step == fit.budget)
        keeps = [None if d is None else d.tolist() for d in (decision.keep_output, decision.keep_average)]
        made.append((step, *keeps, bool(decision.stop), sorted(decision.errors)))
    return made


def test_a_fit_not_stopped_gets_its_held_out_pixels_back_and_keeps_every_last_step():
    fit, rule = a_fit(), criterion(hand_back=10)
    rule.setup(fit)
    rule.start(fit)
    held = fit.withheld[0]
    assert held.any() and len(fit.withheld) == 1
    made = run(rule, fit, course(fit, first_stops_at=12))
    before, after = made[: BUDGET - 11], made[BUDGET - 11 :]  # steps 1-29 and 30-40
    assert rule.detector.stopped.tolist() == [True, False]  # the first stopped by its patience, the second not
    assert all(errors == ["psnr_held_out", "psnr_held_out_avg"] for *_, errors in before)
    assert not any(stop for *_, stop, _ in made)
    assert len(fit.withheld) == 2 and not fit.withheld[1].any()  # every pixel in the data term from step 30
    assert [step for step, *_ in after] == list(range(30, 41))
    assert all(keep == average == [False, True] and not errors for _, keep, average, _, errors in after)


def test_a_fit_waiting_on_an_unresolved_rise_keeps_its_kept_step_and_only_an_improving_one_is_handed_back():
    """With confirm, a fit that waited its patience after its low but whose held-out error has not risen
    resolvably (the first: unchanged after step 12) runs on; at the hand-back step it was not improving, so
    it keeps its kept step; the pixels go back for the second, still improving. A resolved rise still stops."""
    fit, rule = a_fit(), criterion(hand_back=10, confirm=2.0)
    rule.setup(fit)
    rule.start(fit)
    made = run(rule, fit, course(fit, first_stops_at=12, memorises=0.0))
    assert rule.detector.stopped.tolist() == [False, False] and rule.detector.waited_out().tolist() == [True, False]
    assert rule.handed_back.tolist() == [False, True] and not fit.withheld[-1].any()
    assert rule.detector.average.best_step[0].item() <= 12
    assert all(keep == average == [False, True] and not stop for step, keep, average, stop, _ in made if step >= 30)
    rising, rule = a_fit(), criterion(hand_back=10, confirm=2.0)
    rule.setup(rising)
    rule.start(rising)
    run(rule, rising, course(rising, first_stops_at=12))
    assert rule.detector.stopped.tolist() == [True, False]


def test_a_fit_with_no_restart_improving_at_the_hand_back_step_stops_there():
    fit, rule = a_fit(), criterion(hand_back=10, confirm=2.0)
    rule.setup(fit)
    rule.start(fit)
    flat = course(fit, first_stops_at=12, memorises=0.0)
    made = run(rule, fit, [torch.cat([output[:1], output[:1]]) for output in flat])  # both as the first
    assert [step for step, *_, stop, _ in made if stop] == list(range(30, 41))  # (a run ends at the first)
    assert torch.equal(fit.withheld[-1], fit.withheld[0])  # nothing given back
    assert made[29][1:3] == ([False, False], [False, False])


def test_without_hand_back_the_pixels_stay_out_to_the_end():
    fit, rule = a_fit(), criterion(hand_back=0)
    rule.setup(fit)
    rule.start(fit)
    made = run(rule, fit, course(fit, first_stops_at=12))
    assert len(fit.withheld) == 1 and all(errors for *_, errors in made)


def test_a_fit_resumed_after_the_hand_back_has_every_pixel_at_its_first_step_and_decides_as_before():
    fit = a_fit()
    outputs = course(fit, first_stops_at=12)
    whole = criterion(hand_back=10)
    whole.setup(fit)
    whole.start(fit)
    expected = run(whole, fit, outputs)
    saved, saved_fit = criterion(hand_back=10), a_fit()
    saved.setup(saved_fit)
    saved.start(saved_fit)
    before = run(saved, saved_fit, outputs[:33])
    buffer = io.BytesIO()
    torch.save(saved.state_dict(), buffer)
    buffer.seek(0)
    resumed, resumed_fit = criterion(hand_back=10), a_fit()
    resumed.setup(resumed_fit)
    resumed.load_state_dict(torch.load(buffer, weights_only=False))  # Lightning restores callbacks before start
    resumed.start(resumed_fit)
    assert not resumed_fit.withheld[-1].any()  # given back before the first resumed step
    assert before + run(resumed, resumed_fit, outputs[33:], first_step=34) == expected


def test_a_budget_within_the_hand_back_holds_no_pixel_out():
    fit, rule = a_fit(budget=8), criterion(hand_back=10)
    rule.setup(fit)
    rule.start(fit)
    assert fit.withheld[0].any() and not fit.withheld[1].any()  # drawn, then given back before the first step
    made = run(rule, fit, course(fit, first_stops_at=3))
    assert all(keep == average == [True, True] and not stop for _, keep, average, stop, _ in made)


def test_hand_back_must_be_a_whole_number_of_steps():
    with pytest.raises(InputError, match="stopping.hand_back"):
        criterion(hand_back=-1)


def test_a_run_that_hands_back_measures_the_held_out_pixels_until_then_and_returns_its_last_step(fit_logged, tmp_path):
    noisy = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    path = write_png(tmp_path / "noisy.png", noisy)
    never = "stopping.patience=1000"
    every_step = "trainer.log_every_n_steps=1"
    kept = fit_logged(*TINY_NET, f"observed={path}", "task.num_iter=30", never, every_step, "++stopping.hand_back=10")
    assert kept["stopping"] == "held-out validation"
    assert kept["stop_step"] == kept["stop_step_avg"] == kept["steps"] == 30
    held_out = read_metrics(tmp_path / "run")["psnr_held_out"]
    # measured up to the hand-back at step 20, not after (the fit sees those pixels): the log repeats step 19's
    assert len({held_out[step] for step in range(19, 31)}) == 1 and held_out[18] != held_out[19]
