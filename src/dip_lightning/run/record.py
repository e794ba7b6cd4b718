"""The record of a fit: restored images, the side-by-side picture and `results.json` (run/results.py's
RunRecord), the one file that every later tool (tables, sweeps, plots) reads."""

import math
from pathlib import Path

import torch

from dip_lightning.data.images import save_png
from dip_lightning.fitting.metrics import psnr
from dip_lightning.module import DeepImagePrior
from dip_lightning.run.comparison import comparison_picture
from dip_lightning.run.results import RunRecord

SCORES = ("psnr", "psnr_avg", "ssim", "ssim_avg")
RESTORATIONS = ("restored", "restored_avg")  # written in the picture's own format; the other pictures 8-bit


def _number(value: float | None) -> float | None:
    """JSON has no inf or nan: a perfect fit is written as a large finite PSNR, nan as null."""
    if value is None or math.isnan(value):
        return None
    return round(min(value, 999.0), 4)


@torch.no_grad()
def evaluate(module: DeepImagePrior) -> dict[str, float | None]:
    """The scores of the restoration the run returns (null without ground truth), the fit of A of it to
    the observation, and the naive baseline's score (`psnr_input`)."""
    truth, operator, result = module.ground_truth, module.physics.operator, module.outputs.result()
    metrics = dict.fromkeys((*SCORES, "psnr_observed"))
    if result is not None:
        if truth is not None:
            metrics.update(module.scores(*result))
        metrics["psnr_observed"] = psnr(operator(result[0].mean(0, keepdim=True)), module.observed)
    metrics["psnr_input"] = psnr(operator.baseline(module.observed), truth) if truth is not None else None
    return {name: _number(value) for name, value in metrics.items()}


def restart_scores(module: DeepImagePrior) -> dict[str, list[float | None]]:
    """With restarts: each fit's own scores (psnr_restarts, psnr_avg_restarts), to see what averaging
    them gained."""
    result = module.outputs.result()
    if module.hparams.restarts == 1 or result is None or module.ground_truth is None:
        return {}
    scores = {"psnr_restarts": result[0]}
    if module.hparams.exp_weight is not None:
        scores["psnr_avg_restarts"] = result[1]
    return {
        name: [_number(psnr(image[None], module.ground_truth)) for image in images] for name, images in scores.items()
    }


def fit_record(module: DeepImagePrior, known: dict) -> RunRecord:
    """The record of a fit, built from its parts: `known`, what the run is (build.describe) and its session
    (the results writer's: status, time, where it ran), then the module's facts and the scores."""
    best = {name: value if name.endswith("_step") else _number(value) for name, value in module.best_scores().items()}
    record = RunRecord(**{**known, **module.record(), **evaluate(module), **best, **restart_scores(module)})
    score, best_score = (
        (record.psnr_avg, record.best_psnr_avg) if record.psnr_avg is not None else (record.psnr, record.best_psnr)
    )
    if score is not None and best_score is not None:
        record.gap_to_best = round(best_score - score, 4)  # what stopping here lost
    return record


def write_results(module: DeepImagePrior, directory: Path, known: dict) -> RunRecord:
    """Save the images and `results.json` (atomically) of the fit (`known`: see fit_record); return its record."""
    directory = Path(directory)
    record = fit_record(module, known)
    images = {**module.fixed_images(), **module.restoration()}
    for name, image in images.items():
        if name in RESTORATIONS and module.photo_format is not None:  # back in the picture's mode and depth
            module.photo_format.save(image[0], directory / f"{name}.png")
        else:
            save_png(image[0], directory / f"{name}.png")
    save_png(comparison_picture(module, record.to_json()), directory / "comparison.png")
    record.files = sorted([f"{name}.png" for name in images] + ["comparison.png"])
    record.write(directory)
    return record
