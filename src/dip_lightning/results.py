"""The record of a run: restored images, the side-by-side picture and `results.json`, the one file
that every later tool (tables, sweeps, plots) reads."""

import json
import math
from pathlib import Path

import torch

from dip_lightning.atomic import write_atomically
from dip_lightning.comparison import side_by_side
from dip_lightning.images import save_png
from dip_lightning.metrics import psnr, ssim
from dip_lightning.tasks.base import DeepImagePrior

RESULTS_FILE = "results.json"


def _number(value: float | None) -> float | None:
    """JSON has no inf or nan: a perfect fit is written as a large finite PSNR, nan as null."""
    if value is None or math.isnan(value):
        return None
    return round(min(value, 999.0), 4)


@torch.no_grad()
def evaluate(module: DeepImagePrior) -> tuple[dict[str, float | None], dict[str, torch.Tensor]]:
    """Metrics of the final and averaged restorations, and the images to save."""
    restored = module.render()
    averaged = module.output_avg if module.hparams.exp_weight is not None and module.global_step > 0 else None
    truth = module.ground_truth
    images = {**module.fixed_images(), "restored": restored}
    if averaged is not None:
        images["restored_avg"] = averaged
    metrics = {
        "psnr": psnr(restored, truth) if truth is not None else None,
        "psnr_avg": psnr(averaged, truth) if truth is not None and averaged is not None else None,
        "ssim": ssim(restored, truth) if truth is not None else None,
        "ssim_avg": ssim(averaged, truth) if truth is not None and averaged is not None else None,
        "psnr_observed": psnr(module.forward_operator(restored), module.observed),
        "psnr_input": psnr(module.naive_restoration(), truth) if truth is not None else None,
    }
    return {name: _number(value) for name, value in metrics.items()}, images


def comparison_picture(module: DeepImagePrior, metrics: dict, images: dict[str, torch.Tensor]):
    """observation | restoration (the averaged one when there is one) | ground truth, with PSNRs."""

    def caption(name: str, value: float | None) -> str:
        return name if value is None else f"{name}  {value:.2f} dB"

    if "restored_avg" in images:
        restored = (caption("averaged", metrics["psnr_avg"]), images["restored_avg"][0])
    else:
        restored = (caption("restored", metrics["psnr"]), images["restored"][0])
    panels = [
        (caption(f"observation ({module.baseline_name})", metrics["psnr_input"]), images["observation"][0]),
        restored,
    ]
    if "ground_truth" in images:
        panels.append(("ground truth", images["ground_truth"][0]))
    return side_by_side(panels)


def write_results(module: DeepImagePrior, directory: Path, record: dict) -> dict:
    """Save the images and `results.json` (atomically); return the full record."""
    directory = Path(directory)
    metrics, images = evaluate(module)
    for name, image in images.items():
        save_png(image[0], directory / f"{name}.png")
    save_png(comparison_picture(module, metrics, images), directory / "comparison.png")
    height, width = images["restored"].shape[-2:]
    top, left, crop_height, crop_width = module.crop_box
    record = {
        **record,
        "num_params": module.num_params,
        "steps": module.global_step,
        **metrics,
        "size": [height, width],
        "crop": {
            "top": top,
            "left": left,
            "height": crop_height,
            "width": crop_width,
            "source_height": module.source_size[0],
            "source_width": module.source_size[1],
        },
        "backtracks": module.backtracking.restores if module.backtracking is not None else None,
        "files": sorted([f"{name}.png" for name in images] + ["comparison.png"]),
    }
    text = json.dumps(record, indent=2) + "\n"
    write_atomically(directory / RESULTS_FILE, lambda handle: handle.write(text.encode()))
    return record
