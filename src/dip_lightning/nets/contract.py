"""What a network of the deep prior is to the rest of the package (priors/deep.py, the canvas, the memory
and time estimates): a module from z (N, C_in, H, W) to an image (N, C_out, H, W) of the same size, for
every H and W that are multiples of `total_stride` and at least `min_input_size`. The priors draw a canvas
of such a size around any photo (data/canvas.py), so these two numbers are all a network must declare.

A network is added with two files: its module (here) and conf/arch/<name>.yaml, whose `_target_` builds it
from num_input_channels and num_output_channels (the prior passes them) and its own keys; the contract tests
(tests/nets/test_nets.py) take every arch option as shipped."""

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class Network(Protocol):
    """A network of the deep prior: called with z (N, input channels, H, W), H and W of a size it takes,
    it returns the image (N, output channels, H, W) of the same size."""

    total_stride: int  # H and W must be multiples of it (1: any size)
    min_input_size: int  # and at least this (BatchNorm over one image needs more than one value a channel)

    def __call__(self, z: torch.Tensor) -> torch.Tensor: ...
