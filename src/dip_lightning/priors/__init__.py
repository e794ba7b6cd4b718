"""Parametrisations of the restored image x: the deep prior x = f_theta(z), or the pixels themselves;
what each must provide: contract.Prior."""

from dip_lightning.priors.contract import Prior

__all__ = ["Prior"]
