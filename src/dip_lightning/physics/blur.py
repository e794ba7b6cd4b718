"""Deblurring, and the example of how a task is added: this operator and conf/task/deblur.yaml."""

import torch
import torch.nn.functional as F

from dip_lightning.data.images import read_image
from dip_lightning.errors import InputError
from dip_lightning.limits import PATH, check_limits, number, optional
from dip_lightning.physics.kernels import gaussian_kernel
from dip_lightning.physics.operator import Operator


def kernel_from_file(path: str) -> torch.Tensor:
    """A picture of the blur kernel (gray or colour, any size), normalised to sum 1."""
    kernel = read_image(path).mean(0)
    if kernel.sum() <= 0:
        raise InputError(f"the blur kernel {path} is black: it must have some bright pixels")
    return kernel / kernel.sum()


class Blur(Operator):
    """Convolution of each channel with a Gaussian of `sigma` pixels, or with the kernel in
    `kernel_path`; the image is extended by reflection at its borders."""

    limits = {"sigma": number(above=0), "kernel_path": optional(PATH)}  # sigma in pixels

    def __init__(self, sigma: float, kernel_path: str | None):
        check_limits(self, "blur ", sigma=sigma, kernel_path=kernel_path)
        super().__init__()
        kernel = kernel_from_file(kernel_path) if kernel_path else gaussian_kernel(sigma)
        self.register_buffer("kernel", kernel.flip(0, 1)[None, None])  # flipped: a convolution

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = self.kernel.shape[-2:]
        padded = F.pad(x, ((width - 1) // 2, width // 2, (height - 1) // 2, height // 2), mode="reflect")
        channels = x.shape[1]
        return F.conv2d(padded, self.kernel.to(x.dtype).expand(channels, 1, -1, -1), groups=channels)
