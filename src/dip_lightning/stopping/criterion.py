"""The contract of a stopping rule: a criterion sees each step's outputs and returns its decision; the one
callback (stopping/callback.py) owns the Lightning glue, the one host synchronisation a step, the log, the
kept result and the saved state.

A new rule is a subclass of `StoppingCriterion` in a file of its own and a yaml in conf/stopping/ whose
`_target_` is that class (its settings are the constructor's arguments); build.build_stopping wraps it in
the callback, and the tests pick it up from conf/stopping/ (tests/stopping/test_criteria.py).

What a criterion may read of the fit (`Fit`): the observation, the ground truth (None on a user's photo:
only a research bound may read it), the physics, the fit's outputs (their shapes, `exp_weight`), its
device and budget; what it may change: `withhold` positions of the observation from the data term, in
`setup` (before the first step), and give them back later by withholding fewer.
Its decisions are tensors on the fit's device: it must not synchronise with the host in `decide` (the
callback reads every decision's flags and logged values in one transfer)."""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Protocol

import torch


class Fit(Protocol):
    """What a stopping criterion sees of the fit (the task's LightningModule)."""

    observed: torch.Tensor  # (1, C, h, w): what the fit is fitted to
    ground_truth: torch.Tensor | None  # for scoring only; None on a user's photo
    physics: object  # .operator: A, (N, C, H, W) -> the observation's shape; .noise: the noise model (None: none)
    loss: object  # .data_term: what the fit minimises per value (losses/data_terms.py), held-out validation too
    outputs: object  # fitting.outputs.FitOutputs: .output_avg (N, C, H, W), .exp_weight (None: no average)
    device: torch.device
    budget: int  # the steps the fit may run (trainer.max_steps), read from `start` on

    def withhold(self, held: torch.Tensor) -> None:
        """Leave the observation's `held` positions ((1, 1, h, w) bool) out of the data term (and no others)."""


@dataclass
class Decision:
    """A criterion's decision at one step, per fit ((N,) bool tensors on the fit's device; None: none).

    keep_output: the fits whose output of this step becomes their result;
    average_waits: their averages are to be kept by a later step's `keep_average` (until then a saved
        result holds the current average);
    keep_average: the fits whose average of this step becomes their result's average;
    stop: () bool, end the fit at this step (the criterion's `reason` says why);
    errors: mean squared errors to log, as PSNRs (psnr_held_out...); values: statistics logged as they are."""

    keep_output: torch.Tensor | None = None
    average_waits: bool = False
    keep_average: torch.Tensor | None = None
    stop: torch.Tensor | bool = False
    errors: dict[str, torch.Tensor] = field(default_factory=dict)
    values: dict[str, torch.Tensor] = field(default_factory=dict)


class StoppingCriterion(ABC):
    """When to stop a fit and which step's output (and average) to return, decided from its outputs."""

    def setup(self, fit: Fit) -> None:  # noqa: B027 (a hook: most criteria need none)
        """Before the optimiser and the first step (the place to withhold pixels). By default nothing."""

    @abstractmethod
    def start(self, fit: Fit) -> str:
        """At the fit's start, on its device (again after a resume); return the rule's name as results.json's
        `stopping` says it."""

    @abstractmethod
    def decide(self, step: int, output: torch.Tensor, output_avg: torch.Tensor, ending: bool) -> Decision:
        """This step's outputs (N, C, H, W) and their averages (meaningless without averaging): the
        decision. `ending`: the fit ends at this step anyway (its budget is spent)."""

    @abstractmethod
    def reason(self) -> str:
        """Why the fit stopped, once a decision said stop: results.json's stop_reason."""

    @abstractmethod
    def state_dict(self) -> dict:
        """Everything a resumed fit needs to decide on bit for bit as if never stopped."""

    @abstractmethod
    def load_state_dict(self, state: dict) -> None: ...
