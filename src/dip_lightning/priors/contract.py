"""What a parametrisation of the restored image is to the module (module.py) and the losses: the deep
prior x = f_theta(z) (deep.py), the pixels themselves (pixels.py), or N of either fitted at once
(restarts.py). The module calls `prepare` once, feeds `input` every step, `perturb`s it with the step's
generator, `render`s x from it, and backtracking restores `restart_parameters` per fit; `images` are the
fixed pictures worth saving. A prior fed the observation itself (the deep prior's input_type=observation)
also has `place(delta)`: a perturbation of the observation as one of its input, for a loss that probes
the network around it (SURE).

A prior is added with two files: its module and conf/prior/<name>.yaml whose `_target_` is a partial
taking `channels` (the module gives it); the contract test (tests/priors/) builds every conf/prior option."""

from typing import Protocol, runtime_checkable

import torch

from dip_lightning.data.crop import Crop


@runtime_checkable
class Prior(Protocol):
    """A parametrisation of the image the module fits (the deep prior x = net(z), or the pixels)."""

    total_stride: int  # the sizes the prior can draw are multiples of it ...
    min_input_size: int  # ... and at least this (the canvas is drawn around the photo to fit both)

    def prepare(self, height: int, width: int, crop: Crop, generator: torch.Generator, observed: torch.Tensor) -> None:
        """Draw what the fit starts from for a restoration of H x W (z, or the pixels), from `generator`."""

    @property
    def input(self) -> torch.Tensor:
        """The fixed input served every step (z; an empty tensor for the pixels)."""

    def perturb(self, z: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The step's input: z moved by the input noise (reg_noise_std), drawn from `generator`."""

    def render(self, z: torch.Tensor) -> torch.Tensor:
        """x, (N, C, H, W), from the (perturbed) input."""

    def restart_parameters(self) -> list[list[torch.Tensor]]:
        """The parameters of each independent fit (one list per restart)."""

    def images(self) -> dict[str, torch.Tensor]:
        """Fixed pictures of the prior worth saving with the run (a picture fed as input)."""

    def parameters(self): ...
