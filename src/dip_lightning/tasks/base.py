"""The DIP loop shared by every task: fit net(z) to one observation y by minimising
||A(net(z)) - y||^2 with a fixed input z, and keep the restoration along the way.

A task is a small subclass that owns its forward operator A (`forward_operator`) and the way a clean
image becomes an observation (`degrade`)."""

import logging
import math
from collections.abc import Callable

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from dip_lightning.backtracking import Backtracking
from dip_lightning.errors import InputError
from dip_lightning.images import crop, crop_box
from dip_lightning.inputs import FixedInput, make_input
from dip_lightning.metrics import psnr, psnr_from_mse, ssim

log = logging.getLogger(__name__)


class DeepImagePrior(pl.LightningModule):
    """Fit a randomly initialised network, fed a fixed noise tensor, to one corrupted image.

    Give either `image` (a clean image the task corrupts: a synthetic experiment with ground truth)
    or `observed` (an already corrupted image), optionally with its `ground_truth`, which is used for
    scoring only, never by the fit.
    """

    task_name = "identity"
    scale = 1  # restored size / observed size

    def __init__(
        self,
        net: Callable[..., nn.Module],
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
        image: torch.Tensor | None = None,
        observed: torch.Tensor | None = None,
        ground_truth: torch.Tensor | None = None,
        num_iter: int = 3000,
        input_type: str = "noise",
        input_depth: int = 32,
        reg_noise_std: float = 1.0 / 30.0,
        exp_weight: float | None = 0.99,
        backtrack_db: float | None = None,
        eval_every: int = 10,
        seed: int = 0,
    ):
        super().__init__()
        # The images are data and the factories objects (an inpainting mask maker too): not hyper-parameters.
        self.save_hyperparameters(ignore=["net", "optimizer", "scheduler", "image", "observed", "ground_truth", "mask"])
        self.automatic_optimization = False
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        generator = torch.Generator().manual_seed(seed)
        source = self._check_sources(image, observed, ground_truth)
        synthetic = image is not None

        with torch.random.fork_rng(devices=[]):  # the initial weights depend on `seed` alone
            torch.manual_seed(seed)
            self.net = net(num_input_channels=input_depth, num_output_channels=source.shape[0])
        self.num_params = sum(p.numel() for p in self.net.parameters())

        self.source_size = tuple(source.shape[-2:])
        self.crop_box = self._crop_for_network(synthetic)
        if synthetic:
            clean = crop(image, self.crop_box)
            observation = self.degrade(clean, generator)
        else:
            observation = self.accept(crop(observed, self.crop_box), generator)
            clean = None if ground_truth is None else crop(ground_truth, [n * self.scale for n in self.crop_box])
        self.register_buffer("observed", observation[None].float())
        self.register_buffer("ground_truth", None if clean is None else clean[None].float())
        height, width = (n * self.scale for n in observation.shape[-2:])
        self.register_buffer("z", make_input(input_type, input_depth, height, width, generator))
        self.register_buffer("output_avg", torch.zeros(1, source.shape[0], height, width))
        self.backtracking = Backtracking(backtrack_db) if backtrack_db is not None else None
        self.noise_generator: torch.Generator | None = None

    def _crop_for_network(self, synthetic: bool) -> tuple[int, int, int, int]:
        """The centre crop of the source image that makes the restoration a multiple of the network's
        total stride (and of the scale), as the reference crops its images; refuse what is too small."""
        stride = getattr(self.net, "total_stride", 1)
        multiple = math.lcm(stride, self.scale) // (1 if synthetic else self.scale)
        box = crop_box(*self.source_size, multiple)
        (height, width), (_, _, new_height, new_width) = self.source_size, box
        if (new_height, new_width) != (height, width):
            log.info(
                f"centre-cropped the {'clean' if synthetic else 'observed'} image from {width}x{height} to "
                f"{new_width}x{new_height}, a multiple of {multiple} for the network's stride"
            )
        zoom = 1 if synthetic else self.scale
        min_size = getattr(self.net, "min_input_size", stride)
        if min(new_height, new_width) * zoom < min_size:
            raise InputError(
                f"the restored image would be {new_width * zoom}x{new_height * zoom} pixels, but this network "
                f"needs at least {min_size} on each side: use a larger image or a network with fewer levels"
            )
        return box

    def _check_sources(self, image, observed, ground_truth) -> torch.Tensor:
        if (image is None) == (observed is None):
            raise InputError("give either a clean `image` to corrupt or an `observed` (already corrupted) image")
        if image is not None and ground_truth is not None:
            raise InputError("`ground_truth` goes with `observed`; a clean `image` is its own ground truth")
        if ground_truth is not None:
            expected = tuple(n * self.scale for n in observed.shape[-2:])
            if tuple(ground_truth.shape[-2:]) != expected or ground_truth.shape[0] != observed.shape[0]:
                raise InputError(
                    f"ground truth is {tuple(ground_truth.shape)} (C, H, W) but the restoration of an observation "
                    f"of {tuple(observed.shape)} will be {(observed.shape[0], *expected)}"
                )
        return image if image is not None else observed

    # ----- what a task defines -------------------------------------------------------------------
    def degrade(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The synthetic observation of a (cropped) clean image, shape (C, h, w)."""
        return clean

    def accept(self, observed: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Prepare a user's (cropped) observation."""
        return observed

    def forward_operator(self, x: torch.Tensor) -> torch.Tensor:
        """A: what the observation would be if the image were x (no noise)."""
        return x

    def fixed_images(self) -> dict[str, torch.Tensor]:
        """The images a run saves that do not change while it fits: observation, ground truth, ..."""
        images = {"observation": self.observed}
        if self.ground_truth is not None:
            images["ground_truth"] = self.ground_truth
        return images

    baseline_name = ""  # how `naive_restoration` is made, when it is not the observation itself

    def naive_restoration(self) -> torch.Tensor:
        """The baseline that PSNR gains are measured against (`psnr_input`): the observation as is."""
        return self.observed

    # ----- the loop -------------------------------------------------------------------------------
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)

    def data_term(self, output: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(self.forward_operator(output).float(), self.observed)

    def on_fit_start(self) -> None:
        self.noise_generator = torch.Generator(device=self.device).manual_seed(self.hparams.seed + 1)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(FixedInput(self.z, self.hparams.num_iter), batch_size=None)

    def perturb(self, z: torch.Tensor) -> torch.Tensor:
        """Input-noise regularisation: z + N(0, reg_noise_std^2), redrawn at every step."""
        if not self.hparams.reg_noise_std:
            return z
        noise = torch.randn(z.shape, generator=self.noise_generator, device=z.device, dtype=z.dtype)
        return z + noise * self.hparams.reg_noise_std

    def training_step(self, z: torch.Tensor, batch_idx: int) -> dict[str, torch.Tensor]:
        optimizer = self.optimizers()
        step = {}

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            output = self(self.perturb(z))
            loss = self.data_term(output)
            self.manual_backward(loss)
            loss_value = loss.item()  # the one host sync of a step
            restored = self.backtracking is not None and self.backtracking.check(loss_value, self.parameter_list)
            if not math.isfinite(loss_value) and not restored:
                raise FloatingPointError(
                    f"the loss became {loss_value} at step {self.global_step}: lower the learning rate, "
                    "use trainer.precision=32-true, or set task.backtrack_db to recover automatically"
                )
            step.update(output=output.detach(), loss=loss_value)
            return loss

        optimizer.step(closure=closure)
        if (scheduler := self.lr_schedulers()) is not None:
            scheduler.step()

        output = step["output"].float()
        if self.hparams.exp_weight is not None:
            if self.global_step == 1:
                self.output_avg.copy_(output)
            else:
                self.output_avg.lerp_(output, 1 - self.hparams.exp_weight)
        self.log("train/loss", step["loss"])
        self.log("train/psnr_observed", psnr_from_mse(step["loss"]), prog_bar=True)
        last = self.global_step >= self.trainer.max_steps
        if self.ground_truth is not None and (self.global_step % self.hparams.eval_every == 0 or last):
            self.log_metrics_against_ground_truth(output)
        return {"loss": torch.tensor(step["loss"]), "output": output, "output_avg": self.output_avg}

    def log_metrics_against_ground_truth(self, output: torch.Tensor) -> None:
        outputs = {"": output}
        if self.hparams.exp_weight is not None:
            outputs["_avg"] = self.output_avg
        for suffix, image in outputs.items():
            self.log(f"val/psnr{suffix}", psnr(image, self.ground_truth), prog_bar=True)
            self.log(f"val/ssim{suffix}", ssim(image, self.ground_truth))

    @property
    def parameter_list(self) -> list[torch.Tensor]:
        return list(self.net.parameters())

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(self.net.parameters())
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self.scheduler_factory(optimizer)}

    # ----- results --------------------------------------------------------------------------------
    @torch.no_grad()
    def render(self) -> torch.Tensor:
        """The restoration from the clean input z, with BatchNorm in training mode as in the reference."""
        self.net.train()
        return self.net(self.z).float().clamp(0, 1)
