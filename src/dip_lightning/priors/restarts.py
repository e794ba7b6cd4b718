"""Restarts: N independently initialised deep priors (their own weights and z) fitted to the same
image at once, as the paper's "averaged over runs". Their outputs form a batch (N, C, H, W).

Two ways to run them: one after the other (`batched=False`), or as one batched computation over
stacked parameters (`torch.func.vmap`, which turns the convolutions into grouped ones). Both compute
the same thing; which is faster depends on the hardware (experiments/benchmarks/suite.md)."""

import copy

import torch
from torch import nn
from torch.func import functional_call, replace_all_batch_norm_modules_, stack_module_state, vmap

from dip_lightning.data.crop import Crop
from dip_lightning.errors import InputError


def _key(name: str) -> str:
    """A parameter's dotted name as a key a module accepts."""
    return name.replace(".", "|")


class Restarts(nn.Module):
    def __init__(self, priors: list[nn.Module], batched: bool):
        """priors: N deep priors built one after the other (so each has its own initial weights)."""
        super().__init__()
        if len(priors) < 2:
            raise InputError(f"restarts needs at least 2 fits, got {len(priors)}")
        self.batched = batched
        self.total_stride, self.min_input_size = priors[0].total_stride, priors[0].min_input_size
        self.register_buffer("z", None)
        if batched:  # the networks' weights move into stacked tensors; the priors keep making z
            nets = [prior.net for prior in priors]
            for net in nets:  # BatchNorm on each image's own statistics (train mode), without running stats
                replace_all_batch_norm_modules_(net)
            params, buffers = stack_module_state(nets)
            self.stacked = nn.ParameterDict({_key(name): nn.Parameter(p) for name, p in params.items()})
            for name, buffer in buffers.items():
                self.register_buffer(_key(name), buffer)
            self.buffer_names = list(buffers)
            # the architecture only, without memory; outside the module tree, so that .to(device) leaves it
            object.__setattr__(self, "shape_net", copy.deepcopy(nets[0]).to("meta"))
            for prior in priors:
                del prior.net
        self.priors = nn.ModuleList(priors)

    @property
    def count(self) -> int:
        return len(self.priors)

    def prepare(self, height: int, width: int, crop: Crop, generator: torch.Generator, observed: torch.Tensor) -> None:
        for prior in self.priors:
            prior.prepare(height, width, crop, generator, observed)
        self.z = torch.cat([prior.z for prior in self.priors])

    @property
    def input(self) -> torch.Tensor:
        return self.z

    def perturb(self, z: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.priors[0].perturb(z, generator)

    def render(self, z: torch.Tensor) -> torch.Tensor:
        if not self.batched:
            return torch.cat([prior.render(z[i : i + 1]) for i, prior in enumerate(self.priors)])
        params = {name.replace("|", "."): p for name, p in self.stacked.items()}  # back to dotted names
        buffers = {name: getattr(self, _key(name)) for name in self.buffer_names}

        def one(p, b, x):
            return functional_call(self.shape_net, (p, b), (x[None],))[0]

        return self.priors[0].canvas.cut(vmap(one)(params, buffers, z))

    def forward(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.render(self.perturb(z, generator) if generator is not None else z)

    def restart_parameters(self) -> list[list[torch.Tensor]]:
        """Each fit's parameters: slices of the stacked tensors (views), or each network's own."""
        if self.batched:
            return [[p[i] for p in self.stacked.values()] for i in range(self.count)]
        return [list(prior.parameters()) for prior in self.priors]

    def images(self) -> dict[str, torch.Tensor]:
        return self.priors[0].images()
