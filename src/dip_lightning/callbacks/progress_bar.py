"""A progress bar over the whole DIP run, labelled with the task and showing short metric names."""

import pytorch_lightning as pl
from pytorch_lightning.callbacks import TQDMProgressBar


class DipProgressBar(TQDMProgressBar):
    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        super().on_train_epoch_start(trainer, module)
        self.train_progress_bar.set_description(getattr(module, "name", "fit"))

    def get_metrics(self, trainer: pl.Trainer, module: pl.LightningModule) -> dict:
        """'train/psnr_observed' -> 'psnr_observed'; drop the logger's version number."""
        metrics = super().get_metrics(trainer, module)
        metrics.pop("v_num", None)
        return {name.split("/")[-1]: value for name, value in metrics.items()}
