"""The reference's 'LBFGS' option as one optimizer: a short Adam warm-up, then L-BFGS."""

from collections.abc import Callable, Iterable

import torch

from dip_lightning.limits import check_limits, integer, number


class AdamThenLBFGS(torch.optim.Optimizer):
    """`warmup_steps` Adam steps at `warmup_lr`, then L-BFGS at `lr` with no tolerance stop.

    Each step is one L-BFGS iteration; its history is kept across steps, so N steps here equal the
    reference's single L-BFGS call with max_iter=N. It needs the closure that the DIP loop passes.
    """

    limits = {
        "lr": number(above=0),
        "warmup_steps": integer(0),
        "warmup_lr": number(above=0),
        "history_size": integer(1),
    }

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float,
        warmup_steps: int,
        warmup_lr: float,
        history_size: int,
    ):
        check_limits(self, lr=lr, warmup_steps=warmup_steps, warmup_lr=warmup_lr, history_size=history_size)
        params = list(params)
        super().__init__(params, {"lr": lr})
        self.warmup_steps = warmup_steps
        self.adam = torch.optim.Adam(params, lr=warmup_lr)
        self.lbfgs = torch.optim.LBFGS(
            params, lr=lr, max_iter=1, history_size=history_size, tolerance_grad=-1, tolerance_change=-1
        )
        self.steps_taken = 0

    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor:
        if closure is None:
            raise RuntimeError("AdamThenLBFGS needs a closure (it does not run with 16-mixed precision)")
        self.steps_taken += 1
        if self.steps_taken <= self.warmup_steps:
            with torch.enable_grad():
                loss = closure()
            self.adam.step()
            return loss
        self.lbfgs.param_groups[0]["lr"] = self.param_groups[0]["lr"]  # follow any LR schedule
        return self.lbfgs.step(closure)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.adam.zero_grad(set_to_none)

    def state_dict(self) -> dict:
        return {"steps_taken": self.steps_taken, "adam": self.adam.state_dict(), "lbfgs": self.lbfgs.state_dict()}

    def load_state_dict(self, state_dict: dict) -> None:
        self.steps_taken = state_dict["steps_taken"]
        self.adam.load_state_dict(state_dict["adam"])
        self.lbfgs.load_state_dict(state_dict["lbfgs"])


def flattens_gradients(optimizer: Callable[..., torch.optim.Optimizer]) -> bool:
    """Whether the optimizer a config builds (a class, or a partial of one) views each gradient as one flat
    vector, as L-BFGS does: a channels_last parameter refuses such a view (hardware/layout.py)."""
    built = getattr(optimizer, "func", optimizer)
    return isinstance(built, type) and issubclass(built, (torch.optim.LBFGS, AdamThenLBFGS))
