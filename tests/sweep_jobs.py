"""A sweep folder made by hand, as DIP runs leave it: a job's .hydra/, results.json, restorations and
csv/metrics.csv (the reporting and run tests read such folders)."""

import json
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = (24, 32)  # height, width of every restoration
METRIC_COLUMNS = ("epoch", "loss", "loss_data", "psnr", "psnr_avg", "psnr_observed", "step")


def write_metrics(run_dir: Path, rows: list[dict]) -> Path:
    """csv/metrics.csv as Lightning's CSVLogger writes it: a metric not logged at a step is an empty cell."""
    path = run_dir / "csv" / "metrics.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(METRIC_COLUMNS)] + [",".join(str(row.get(name, "")) for name in METRIC_COLUMNS) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def fit_rows(steps: int = 30, with_truth: bool = True) -> list[dict]:
    """Made-up curves of a fit: psnr_observed and loss every step, psnr and psnr_avg every 10."""
    rows = []
    for step in range(1, steps + 1):
        row = {"epoch": 0, "step": step, "loss": 0.1 / step, "loss_data": 0.1 / step, "psnr_observed": 10 + step / 10}
        if with_truth and step % 10 == 0:
            row.update(psnr=20 + step / 10, psnr_avg=19 + step / 10)
        rows.append(row)
    return rows


def make_job(sweep: Path, name: str, lr: str, record: dict | None, picture=None, avg_picture=None, rows=None) -> Path:
    """A job folder as a DIP run leaves it: .hydra/, results.json, restorations and csv/metrics.csv."""
    folder = sweep / name
    (folder / ".hydra").mkdir(parents=True)
    overrides = ["task=denoise", f"optimizer.lr={lr}", "seed=0"]
    (folder / ".hydra" / "overrides.yaml").write_text("".join(f"- {override}\n" for override in overrides))
    (folder / ".hydra" / "config.yaml").write_text("seed: 0\noptimized_metric: psnr_avg\ntask:\n  name: denoise\n")
    if record is not None:
        (folder / "results.json").write_text(json.dumps(record))
    for file, color in (("restored.png", picture), ("restored_avg.png", avg_picture)):
        if color is not None:
            Image.fromarray(np.full((*SIZE, 3), color, np.uint8)).save(folder / file)
    if rows is not None:
        write_metrics(folder, rows)
    return folder


def finished(**scores) -> dict:
    record = {"task": "denoise", "arch": "skip", "image": "astronaut", "seed": 0, "status": "finished"}
    record.update(steps=30, num_iter=30, seconds=12.5, ssim=0.71, best_psnr_step=30, psnr_input=20.69)
    record.update(psnr=None, psnr_avg=None, best_psnr=None)
    return {**record, **scores}
