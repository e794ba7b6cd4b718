"""The forward operator A: what the observation would be, without noise, if the image were x."""

import torch
from torch import nn

from dip_lightning.data.crop import Crop


class Operator(nn.Module):
    """A linear map from images (N, C, H, W) to observations (N, C, H / scale, W / scale).

    Subclasses define `forward`. An operator that depends on the image (a mask) builds that part in
    `prepare`, which is called once the image's crop is known and before any other use.
    """

    scale = 1  # restored size / observed size
    baseline_name = "observation"  # what `baseline` shows

    def prepare(self, crop: Crop, generator: torch.Generator, synthetic: bool) -> None:
        """Build what depends on the image: `crop` places it in its source file."""

    def accept(self, observed: torch.Tensor) -> torch.Tensor:
        """A user's observation as the fit sees it (a mask zeroes the unknown pixels)."""
        return observed

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """A^T y, exact for any linear operator: the vector-Jacobian product of A at zero."""
        height, width = (n * self.scale for n in y.shape[-2:])
        x = torch.zeros(*y.shape[:-2], height, width, dtype=y.dtype, device=y.device, requires_grad=True)
        with torch.enable_grad():
            (result,) = torch.autograd.grad(self(x), x, grad_outputs=y)
        return result

    def baseline(self, observed: torch.Tensor) -> torch.Tensor:
        """The naive restoration that PSNR gains are measured against: the observation itself."""
        return observed

    def images(self) -> dict[str, torch.Tensor]:
        """Pictures of the operator worth saving with a run (a mask)."""
        return {}


class Identity(Operator):
    """A = I: denoising, JPEG artifact removal, flash / no-flash."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x
