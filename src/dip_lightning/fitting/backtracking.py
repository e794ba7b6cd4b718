"""The reference's guard against sudden divergence during a DIP fit."""

import math

import torch

from dip_lightning.fitting.metrics import psnr_from_mse


class Backtracking:
    """If PSNR against the observation falls by more than `drop_db` since the last good step (or the
    loss is not finite), copy the parameters of that step back into the network.

    As in the reference, the check runs after the backward pass, so the optimizer step that follows
    applies the current gradients to the restored parameters; a non-finite step drops its gradients.
    """

    def __init__(self, drop_db: float):
        self.drop_db = drop_db
        self.good: list[torch.Tensor] | None = None
        self.good_psnr = -math.inf
        self.restores = 0
        self.in_a_row = 0  # restores since the last good step

    def state_dict(self) -> dict:
        return {"good": self.good, "good_psnr": self.good_psnr, "restores": self.restores, "in_a_row": self.in_a_row}

    def load_state_dict(self, state: dict) -> None:
        self.good, self.good_psnr = state["good"], state["good_psnr"]
        self.restores, self.in_a_row = state["restores"], state["in_a_row"]

    @torch.no_grad()
    def check(self, loss: float, parameters: list[torch.Tensor]) -> bool:
        """Return True when the parameters were restored."""
        finite = math.isfinite(loss)
        psnr = psnr_from_mse(loss)
        if finite and psnr - self.good_psnr >= -self.drop_db:
            if self.good is None:
                self.good = [p.detach().clone() for p in parameters]
            else:
                torch._foreach_copy_(self.good, [p.detach() for p in parameters])
            self.good_psnr = psnr
            self.in_a_row = 0
            return False
        if self.good is None:
            return False
        torch._foreach_copy_([p.data for p in parameters], self.good)
        if not finite:
            for p in parameters:
                p.grad = None
        self.restores += 1
        self.in_a_row += 1
        return True
