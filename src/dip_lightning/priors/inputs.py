"""The network input z and the one-item 'dataset' that serves it at every optimisation step."""

import torch
from torch.utils.data import Dataset

from dip_lightning.errors import InputError

INPUT_TYPES = ("noise", "meshgrid", "image", "observation")


# z's stream: the seed times _MIX plus _OFFSET, modulo 2^63, a one-to-one map with no fixed point (_MIX - 1 is
# even, _OFFSET odd): never the stream of the same seed's degradation, torch.Generator(seed); see input_generator
_MIX, _OFFSET = 0x1E3779B97F4A7C15, 0x632BE59BD9B4E019


def input_generator(seed: int) -> torch.Generator:
    """The generator z is drawn from: its own stream, apart from the degradation's. Drawn from the
    degradation's own generator (torch.Generator(seed)), a photo's z would repeat the random numbers that
    made the photo's noise wherever the photo is this tool's own synthetic observation of the same seed
    (the observation.png of a run, restored with observed=): torch.randn turns the same uniform numbers
    into the noise that torch.rand gives as z, so the network gets the noise as input and fits it (measured:
    0.6 dB lower on a 128 px photo at sigma 25, and held-out pixels whose error fell below the noise's
    variance)."""
    return torch.Generator().manual_seed((seed * _MIX + _OFFSET) % 2**63)


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
