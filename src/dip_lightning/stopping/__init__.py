"""When to stop a fit and which step to return: stopping criteria run by the one stopping callback;
what a rule must provide: criterion.StoppingCriterion."""

from dip_lightning.stopping.criterion import Decision, StoppingCriterion

__all__ = ["Decision", "StoppingCriterion"]
