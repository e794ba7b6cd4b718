"""Whether the fitted pixels' residual, corrected by how much of its own noise a pixel keeps, tracks the whole
image's error where the held-out error does not (held_out_bias.md: on texture the pixels the fit predicts are
not those it denoises).

A fitted pixel's value moves towards its own observation as the fit goes on. Model the average as a smoother:
at a fitted pixel it is (1 - h) x (what the fit predicts there from the rest) + h x (the observation), with the
prediction's error that of a held-out pixel. Then, for noise of variance sigma^2 independent across pixels:
- the held-out residual r_h = E_p + sigma^2 (E_p: the prediction's error),
- the fitted residual r_f = (1 - h)^2 (E_p + sigma^2), so (1 - h)^2 = r_f / r_h,
- the fitted pixels' error E_f = (1 - h)^2 E_p + h^2 sigma^2 = r_f - sigma^2 (1 - 2 h): Stein's unbiased
  risk estimate, its divergence h read off the two residuals.
The whole image's error is then (1 - f) E_f + f E_p (f: the held-out fraction). This records, every step of
the held-out fits of experiments/stopping_all_pixels.py's denoising cases (as held_out_bias.py fits them), the
average's held-out and fitted residuals and its error against the truth, and compares the step each estimate
is lowest at (with the task's sigma, with sigma estimated from the observation by physics/noise_estimation.py,
and with the task's sigma off by a few per cent: SCALES) with the truth's.
Writes fitted_pixel_error.md and its traces (fitted_pixel_error.json).

    python experiments/fitted_pixel_error.py [--jobs 2] [--seed 0] [--cases NAME,...]   # fit, then analyse
    python experiments/fitted_pixel_error.py --analyse
"""

import argparse
import datetime
import json
import math
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from held_out_bias import fit_missing, held_out_config  # noqa: E402 (its fits, as held_out_bias.py fits them)
from stopping_all_pixels import CASES, machine  # noqa: E402 (that benchmark's cases and machine label)
from stopping_benchmark import fit  # noqa: E402

from dip_lightning.fitting.metrics import psnr_from_mse as psnr  # noqa: E402

HERE = Path(__file__).resolve().parent
TRACES = HERE / "fitted_pixel_error.json"
DENOISING = [name for name in CASES if name.startswith("denoise")]
SCALES = (0.9, 0.95, 1.05, 1.1)  # the task's sigma times these: how much the estimate rests on sigma


class Residuals(pl.Callback):
    """Every step the average's mean squared residual against the observation at the held-out and at the
    fitted pixels, and its mean squared error against the ground truth over the whole image."""

    def __init__(self, validation):
        self.validation, self.rows = validation, []

    @torch.no_grad()
    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        held = self.validation.criterion.held_out.held.float()
        average = outputs["output_avg"].float()
        residual = (average - module.observed.float()).square().mean(1, keepdim=True)
        at_held = (residual * held).sum() / held.sum()
        at_fitted = (residual * (1 - held)).sum() / (1 - held).sum()
        error = (average - module.ground_truth).square().mean()
        self.rows.append([round(value, 9) for value in (at_held.item(), at_fitted.item(), error.item())])


def run_case(job: tuple[str, int]) -> dict:
    """A case's held-out fit from `seed` to its budget, as held_out_bias.py fits it: job = (name, seed)."""
    from dip_lightning.build import build_stopping
    from dip_lightning.physics.noise_estimation import estimate_gaussian_sigma

    torch.set_num_threads(1)
    name, seed = job
    cfg = held_out_config(name, seed)
    validation = build_stopping(cfg)
    residuals = Residuals(validation)
    module = fit(cfg, [validation, residuals])
    print(f"{name}, seed {seed}: {len(residuals.rows)} steps", flush=True)
    held_out = validation.criterion.held_out.held
    return {
        "case": name,
        "seed": seed,
        "fraction": held_out.float().mean().item(),
        "sigma": cfg.task.sigma / 255,
        "sigma_estimated": estimate_gaussian_sigma(module.observed) / 255,
        "rows": residuals.rows,
        "machine": machine(),
    }


def estimates(trace: dict, sigma: float) -> list[float]:
    """The whole image's error every step, from the two residuals and `sigma` (the model in the docstring)."""
    variance, fraction, values = sigma**2, trace["fraction"], []
    for at_held, at_fitted, _ in trace["rows"]:
        kept = math.sqrt(min(1.0, at_fitted / at_held))  # 1 - h
        predicted = at_held - variance
        fitted = at_fitted - variance * (1 - 2 * (1 - kept))
        values.append((1 - fraction) * fitted + fraction * predicted)
    return values


def lowest(values: list[float]) -> int:
    return min(range(len(values)), key=values.__getitem__)


def lost_at_lowest(trace: dict, values: list[float]) -> tuple[float, int]:
    """What a rule that found the lowest of `values` exactly would lose against the whole image's best PSNR,
    and that step (from 1)."""
    truth = [row[2] for row in trace["rows"]]
    step = lowest(values)
    return psnr(min(truth)) - psnr(truth[step]), step + 1


def analyse(traces: list[dict]) -> str:
    machines = sorted({t["machine"] for t in traces})
    lines = [
        "# The fitted pixels' residual as an estimate of the whole image's error",
        "",
        f"- Machine: {'; '.join(machines)}; torch {torch.__version__}; date {datetime.date.today()}",
        "- Command: `python experiments/fitted_pixel_error.py [--seed N]` (the denoising cases of",
        "  experiments/stopping_all_pixels.py, fitted as held_out_bias.py fits them: fraction=auto, to the budget)",
        "",
        "Per case: the whole image's best PSNR (its step), and what a rule that found each estimate's lowest",
        "exactly would lose against it (its step): the held-out residual (what held-out validation sees); the",
        "smoother model's estimate with the task's sigma, and with sigma estimated from the observation",
        "(physics/noise_estimation.py, as a user's photo would have it).",
        "",
        "| case (half) | seed | sigma: task / estimated | best (step) | held out: lost (step) | "
        "model, task's sigma | model, estimated sigma |",
        "|---|---|---|---|---|---|---|",
    ]
    ordered = sorted(traces, key=lambda t: (t["seed"], list(CASES).index(t["case"])))
    losses = {"held out": [], "model, task's sigma": [], "model, estimated sigma": []}
    for t in ordered:
        truth = [row[2] for row in t["rows"]]
        cells = []
        for key, values in zip(
            losses,
            ([row[0] for row in t["rows"]], estimates(t, t["sigma"]), estimates(t, t["sigma_estimated"])),
            strict=True,
        ):
            lost, step = lost_at_lowest(t, values)
            losses[key].append(lost)
            cells.append(f"{lost:.2f} ({step})")
        lines.append(
            f"| {t['case']} ({CASES[t['case']][0]}) | {t['seed']} | {t['sigma'] * 255:.1f} / "
            f"{t['sigma_estimated'] * 255:.1f} | {psnr(min(truth)):.2f} ({lowest(truth) + 1}) | "
            + " | ".join(cells)
            + " |"
        )
    for scale in SCALES:
        losses[f"model, {scale} x the task's sigma"] = [
            lost_at_lowest(t, estimates(t, t["sigma"] * scale))[0] for t in ordered
        ]
    lines += ["", f"Over the {len(ordered)} fits:", "", "| estimate | mean lost | worst lost |", "|---|---|---|"]
    for key, values in losses.items():
        lines.append(f"| {key} | {sum(values) / len(values):.2f} | {max(values):.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", help="comma-separated case names (default: the denoising ones)")
    parser.add_argument("--analyse", action="store_true", help="only analyse the saved traces")
    args = parser.parse_args()
    traces = json.loads(TRACES.read_text()) if TRACES.is_file() else []
    if not args.analyse:
        names = args.cases.split(",") if args.cases else DENOISING
        fit_missing(traces, TRACES, names, args.seed, args.jobs, run_case)
    report = analyse(traces)
    (HERE / "fitted_pixel_error.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
