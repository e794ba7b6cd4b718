"""A resumed run keeps the metrics it logged before it was killed: Lightning's CSV logger clears
metrics.csv when it starts, so its rows are read before and put back (up to the step the run goes on
from; later rows were lost with the process and are logged again)."""

import csv
import io
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.loggers import CSVLogger

from dip_lightning.atomic import write_atomically


class ResumedMetrics(pl.Callback):
    def __init__(self, loggers: list):
        """Built before the trainer, so before the CSV loggers clear their files."""
        self.kept: dict[Path, list[dict]] = {}
        for logger in loggers:
            if isinstance(logger, CSVLogger):
                path = Path(logger.log_dir) / "metrics.csv"
                if path.is_file():
                    with path.open(newline="") as handle:
                        self.kept[path] = list(csv.DictReader(handle))

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        for path, rows in self.kept.items():
            rows = [row for row in rows if row.get("step") and float(row["step"]) <= trainer.global_step]
            if not rows:
                continue
            text = io.StringIO()
            writer = csv.DictWriter(text, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
            write_atomically(path, lambda handle, text=text: handle.write(text.getvalue().encode()))
