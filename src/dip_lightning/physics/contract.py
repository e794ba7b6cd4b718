"""The physics' parts, to a task (conf/task/*.yaml: `physics`): the forward operator A (operator.py's
`Operator`, a base class: A, its adjoint where linear, the naive baseline, its scale) and a noise model.

A noise model makes a synthetic observation from A(x): called with y = A(x) ((N, C, h, w) in [0, 1])
and the run's generator, it returns the noisy observation of the same shape, drawing every random number
from that generator (a run is reproducible from its seed), and says what held-out validation needs to
know of it (`correlation_block`: noise.py). Gaussian noise, JPEG compression and the
paper's fig. 2 corruptions are in noise.py.

A noise model is added with two files: its class (noise.py) and a yaml that names it as a task's
`physics.noise`; the contract test (tests/physics/) draws from every one twice with one seed."""

from typing import Protocol, runtime_checkable

import torch

from dip_lightning.physics.operator import Operator


@runtime_checkable
class Noise(Protocol):
    """How a synthetic observation departs from A(x): called with y = A(x) and the run's generator, it
    returns the noisy observation of the same shape, every random number drawn from that generator."""

    correlation_block: int  # its errors are independent across blocks of this many pixels (1: across pixels)

    def __call__(self, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor: ...


__all__ = ["Noise", "Operator"]
