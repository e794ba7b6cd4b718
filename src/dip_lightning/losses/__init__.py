"""What the fit minimises: a data term averaged over the fitted values (loss.py; the data terms matched to
each noise model: data_terms.py), SURE (sure.py), regularisers; what each must provide:
contract.Objective, contract.DataTerm and contract.Regularizer."""

from dip_lightning.losses.contract import DataTerm, Objective, Regularizer

__all__ = ["DataTerm", "Objective", "Regularizer"]
