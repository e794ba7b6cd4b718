"""What the fit minimises: the squared error (loss.py), SURE (sure.py), regularisers; what each must
provide: contract.Objective and contract.Regularizer."""

from dip_lightning.losses.contract import Objective, Regularizer

__all__ = ["Objective", "Regularizer"]
