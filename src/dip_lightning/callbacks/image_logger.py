"""Pictures for the dashboards (W&B, TensorBoard), so that runs can be compared by eye: the images that
do not change once at the start, the restoration and its average every `every_n_steps` and at the end
(the result the run returns). Loggers that take no images (CSV) are skipped."""

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger

from dip_lightning.data.images import to_pil
from dip_lightning.limits import check_limits, integer, optional


class ImageLogger(pl.Callback):
    limits = {"every_n_steps": optional(integer(1))}  # null: at the end only

    def __init__(self, every_n_steps: int | None):
        check_limits(self, every_n_steps=every_n_steps)
        self.every_n_steps = every_n_steps

    def on_train_start(self, trainer: pl.Trainer, module) -> None:
        _log_images(trainer, module.fixed_images(), trainer.global_step)

    def on_train_batch_end(self, trainer: pl.Trainer, module, outputs, batch, batch_idx: int) -> None:
        step = trainer.global_step
        if self.every_n_steps and step % self.every_n_steps == 0 and step < trainer.max_steps:
            _log_images(trainer, module.restoration(), step)

    def on_train_end(self, trainer: pl.Trainer, module) -> None:
        _log_images(trainer, module.restoration(), trainer.global_step)


def _log_images(trainer: pl.Trainer, images: dict[str, torch.Tensor], step: int) -> None:
    for logger in trainer.loggers:
        for name, image in images.items():
            picture = image[0].detach().float().clamp(0, 1).cpu()
            if isinstance(logger, WandbLogger):
                logger.log_image(key=f"images/{name}", images=[to_pil(picture)], step=step)
            elif isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image(f"images/{name}", picture, step, dataformats="CHW")
