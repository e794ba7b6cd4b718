"""The stopping contract, over every rule conf/stopping/ ships: each builds a StoppingCriterion, decides
without the host (tensors on the fit's device), and a criterion saved half way and loaded into a fresh one
decides the rest bit for bit as the one that was never saved."""

import io
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from dip_lightning.build import build_stopping
from dip_lightning.config.location import config_dir
from dip_lightning.losses.data_terms import SquaredError
from dip_lightning.stopping import Decision, StoppingCriterion

RULES = sorted(path.stem for path in (Path(config_dir()) / "stopping").glob("*.yaml") if path.stem != "none")
# settings that make each rule decide within a few dozen steps (windows, patience, the oracle's checks)
QUICK = {
    "wmv": ["stopping.detector.window=5", "stopping.detector.patience=10"],
    "emv": ["stopping.detector.start=5", "stopping.detector.patience=10"],
    "validation": ["stopping.patience=10"],
    "auto": ["stopping.when=every_image", "stopping.patience=10", "stopping.smoothing=0.3"],
    "oracle": ["stopping.every=1", "stopping.patience=10"],
}


def a_fit(generator: torch.Generator) -> SimpleNamespace:
    """What a criterion sees of a fit of two restarts of a 12 x 12 RGB image (the identity's physics)."""
    truth = torch.rand(1, 3, 12, 12, generator=generator)
    outputs = SimpleNamespace(exp_weight=0.9, output_avg=torch.zeros(2, 3, 12, 12))
    physics = SimpleNamespace(operator=lambda image: image, noise=None)
    loss = SimpleNamespace(data_term=SquaredError())
    observed = truth + 0.1 * torch.randn(truth.shape, generator=generator)
    fit = dict(
        observed=observed, ground_truth=truth, physics=physics, loss=loss, outputs=outputs, device=torch.device("cpu")
    )
    return SimpleNamespace(**fit, withhold=lambda held: None)


def outputs_of(fit: SimpleNamespace, steps: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Outputs that approach the truth, then a noise of their own (as a fit memorises the noise of the
    pixels it sees, not that of the held-out ones): a fit's course."""
    noise = 0.1 * torch.randn(fit.observed.shape, generator=generator)
    wiggle = [0.3 * max(1 - t / 20, 0) + 0.1 * max(t - 30, 0) / 30 for t in range(1, steps + 1)]  # down, then up
    return [
        fit.ground_truth + scale * torch.randn(2, 3, 12, 12, generator=generator) + t / steps * noise
        for t, scale in enumerate(wiggle, start=1)
    ]


def decisions(criterion: StoppingCriterion, outputs: list[torch.Tensor], first_step: int) -> list[tuple]:
    """Every decision on `outputs` from `first_step` on, as plain values; the average is the output here."""
    made = []
    for step, output in enumerate(outputs, start=first_step):
        decision = criterion.decide(step, output, output, ending=False)
        assert isinstance(decision, Decision)
        made.append(
            (
                None if decision.keep_output is None else decision.keep_output.tolist(),
                None if decision.keep_average is None else decision.keep_average.tolist(),
                bool(decision.stop),
                {name: value.item() for name, value in {**decision.errors, **decision.values}.items()},
            )
        )
    return made


def criterion_of(configure, rule: str) -> StoppingCriterion:
    callback = build_stopping(configure(f"stopping={rule}", *QUICK[rule]))
    return callback.criterion


@pytest.mark.parametrize("rule", RULES)
def test_every_shipped_rule_is_a_criterion_that_resumes_bit_for_bit(configure, rule):
    assert set(RULES) == set(QUICK)  # a new rule gets its quick settings here
    fit = a_fit(torch.Generator().manual_seed(0))
    course = outputs_of(fit, 60, torch.Generator().manual_seed(1))
    whole, saved = criterion_of(configure, rule), criterion_of(configure, rule)
    assert isinstance(whole, StoppingCriterion) and type(whole).__module__.startswith("dip_lightning.stopping.")
    for criterion in (whole, saved):
        criterion.setup(fit)
        assert isinstance(criterion.start(fit), str)
    expected = decisions(whole, course, 1)
    before = decisions(saved, course[:25], 1)
    buffer = io.BytesIO()
    torch.save(saved.state_dict(), buffer)  # as a checkpoint holds it
    resumed = criterion_of(configure, rule)
    resumed.setup(fit)
    resumed.start(fit)
    buffer.seek(0)
    resumed.load_state_dict(torch.load(buffer, weights_only=False))
    assert before + decisions(resumed, course[25:], 26) == expected
    assert any(keep for keep, *_ in expected if keep) and any(stop for _, _, stop, _ in expected)  # it decided
    stopped = next(step for step, (_, _, stop, _) in enumerate(expected, start=1) if stop)
    whole_again = criterion_of(configure, rule)
    whole_again.setup(fit)
    whole_again.start(fit)
    decisions(whole_again, course[:stopped], 1)
    assert whole_again.reason().startswith(whole_again.start(fit).split(",")[0].split(" (")[0])  # says which rule
