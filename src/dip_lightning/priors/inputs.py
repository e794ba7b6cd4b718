"""The network input z and the one-item 'dataset' that serves it at every optimisation step."""

import torch
from torch.utils.data import Dataset

from dip_lightning.errors import InputError

INPUT_TYPES = ("noise", "meshgrid", "image", "observation")


def make_input(kind: str, depth: int, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
    """z of shape (1, depth, H, W): uniform noise in [0, 0.1) (the reference's `get_noise`), or the
    2-channel meshgrid of x and y coordinates in [0, 1]. An image input (a picture, the observation)
    is read, not made."""
    if kind == "noise":
        return torch.rand(1, depth, height, width, generator=generator) * 0.1
    if kind == "meshgrid":
        if depth != 2:
            raise InputError(f"input_type=meshgrid needs input_depth=2, got {depth}")
        y, x = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
        return torch.stack([x, y])[None]
    raise InputError(f"unknown input_type {kind!r}; choose one of {INPUT_TYPES}")


class FixedInput(Dataset):
    """z, once per step: one epoch is the whole iteration budget, so the progress bar spans the run.
    z is returned as is (no copy), so once it lives on the device no step transfers it again."""

    def __init__(self, z: torch.Tensor, steps: int):
        self.z, self.steps = z, steps

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.z
