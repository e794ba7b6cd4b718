"""The physics of a restoration problem, `y = noise(A(x))`: a forward operator A that the fit uses, and
how a clean image is degraded for a synthetic experiment. Each piece works without Lightning;
what each must provide: contract.Operator and contract.Noise."""

from dip_lightning.physics.contract import Noise, Operator

__all__ = ["Noise", "Operator"]
