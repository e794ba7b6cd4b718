"""Noise as cameras make it: DIP with the data term matched to each noise model against DIP with the squared
error and the noise's classical baseline, on the same observations, stopped by held-out validation.

Each case corrupts a 64 x 64 centre crop of a ../shared/data image with one noise model (conf/noise, its
default parameters) and fits it twice, `loss=<matched>` and `loss=mse`, with `stopping=validation` (5 % of
the pixels held out, the run's own data term measured on them) within 1800 steps; the kept average's PSNR
is the result, the best PSNR of the average over the steps (the oracle of the same fit) shows what the stop
lost. The baseline restores the very observation the fits saw (reporting/baselines.py). The cases are split
in two halves as the stopping benchmark's; nothing here is tuned, so both are reported, the report half
on its own too. Writes noise_models.md and noise_models.json beside this script.

    python experiments/benchmarks/noise_models.py [--jobs 2]
"""

import argparse
import datetime
import json
import multiprocessing
import os
import statistics
import time
from pathlib import Path

import torch

from dip_lightning.hardware.machine import cpu_flags, cpu_name

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[2] / "shared" / "data"
STEPS, CROP = int(os.environ.get("NOISE_STEPS", 1800)), 64
# noise -> (matched loss, its baseline's label)
NOISES = {
    "poisson": ("poisson", "Anscombe + BM3D"),
    "poisson_gaussian": ("anscombe", "Anscombe + BM3D"),
    "speckle": ("gamma", "log + BM3D"),
    "impulse": ("l1", "3 x 3 median"),
}
# name -> (half, noise, image)
CASES = {
    "poisson F16": ("tune", "poisson", "cbm3d9/F16.png"),
    "poisson kodim01": ("report", "poisson", "cbm3d9/kodim01.png"),
    "poisson_gaussian kodim02": ("tune", "poisson_gaussian", "cbm3d9/kodim02.png"),
    "poisson_gaussian hill": ("report", "poisson_gaussian", "cbm3d9/hill.png"),
    "speckle comic": ("tune", "speckle", "Set14/comic.png"),
    "speckle flowers": ("report", "speckle", "Set14/flowers.png"),
    "impulse foreman": ("tune", "impulse", "Set14/foreman.png"),
    "impulse man": ("report", "impulse", "classic/man.png"),
}


def baseline(noise: str, cfg_noise: dict, observed: torch.Tensor) -> torch.Tensor:
    from dip_lightning.reporting.baselines import anscombe_bm3d_denoise, log_bm3d_denoise, median_denoise

    if noise == "poisson":
        return anscombe_bm3d_denoise(observed, 1 / cfg_noise["peak"], 0.0)
    if noise == "poisson_gaussian":
        return anscombe_bm3d_denoise(observed, cfg_noise["gain"], cfg_noise["sigma"])
    if noise == "speckle":
        return log_bm3d_denoise(observed, cfg_noise["looks"])
    return median_denoise(observed)


def fit(job: tuple[str, str]) -> dict:
    """One fit of case `name` with `loss`; with the baseline on its observation when the loss is matched."""
    from omegaconf import OmegaConf

    from dip_lightning import restore
    from dip_lightning.config.composition import composed
    from dip_lightning.fitting.metrics import psnr

    torch.set_num_threads(1)
    name, loss = job
    half, noise, image = CASES[name]
    overrides = [f"noise={noise}", f"loss={loss}", f"image.center_crop={CROP}", "check_fit=false", "threads=1"]
    start = time.perf_counter()
    result = restore(
        image=str(DATA / image),
        task="denoise",
        stopping="validation",
        steps=STEPS,
        overrides=overrides,
        output_dir=None,
        progress=False,
    )
    kept = ("psnr_input", "psnr_avg", "best_psnr_avg", "steps", "stop_step_avg")
    row = {"case": name, "half": half, "noise": noise, "loss": loss, "seconds": round(time.perf_counter() - start, 1)}
    row |= {key: result.record.get(key) for key in kept}
    if loss == NOISES[noise][0]:
        with composed([f"noise={noise}"]) as cfg:
            parameters = OmegaConf.to_container(cfg.noise, resolve=True)
        observed, truth = result.images["observation"], result.images["ground_truth"]
        restored = baseline(noise, parameters, observed)
        row["baseline"] = round(psnr(restored[None], truth[None]), 4)
    return row


def table(rows: list[dict], halves: tuple[str, ...]) -> list[str]:
    lines = [
        "| case | half | noise | input | DIP, matched loss | DIP, squared error | baseline | oracle, kept at |",
        "|---|---|---|---|---|---|---|---|",
    ]
    by_case = {}
    for row in rows:
        by_case.setdefault(row["case"], {})[row["loss"]] = row
    gaps = []
    for name, (half, noise, _) in CASES.items():
        if half not in halves or name not in by_case:
            continue
        matched, plain = by_case[name].get(NOISES[noise][0]), by_case[name].get("mse")
        if matched is None or plain is None:
            continue
        gaps.append(matched["best_psnr_avg"] - matched["psnr_avg"])
        lines.append(
            f"| {name} | {half} | {noise} | {matched['psnr_input']:.2f} | {matched['psnr_avg']:.2f} "
            f"(`loss={matched['loss']}`) | {plain['psnr_avg']:.2f} | {matched['baseline']:.2f} "
            f"({NOISES[noise][1]}) | {matched['best_psnr_avg']:.2f}, {matched['stop_step_avg']} |"
        )
    if gaps:
        lines.append("")
        lines.append(
            f"Held-out validation's gap to the oracle of the same fit (matched loss): mean {statistics.mean(gaps):.2f} "
            f"dB, worst {max(gaps):.2f} dB over {len(gaps)} cases."
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    jobs = [(name, loss) for name, (_, noise, _) in CASES.items() for loss in (NOISES[noise][0], "mse")]
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        rows = pool.map(fit, jobs, chunksize=1)
    minutes = (time.perf_counter() - started) / 60
    (HERE / "noise_models.json").write_text(json.dumps(rows, indent=1) + "\n")
    machine = f"{cpu_name()} ({cpu_flags()}), torch {torch.__version__}, {args.jobs} fits at a time, one thread each"
    text = [
        "# Noise models: DIP with the matched data term, with the squared error, and the classical baseline",
        "",
        f"{datetime.date.today()}, {machine}; {minutes:.0f} minutes in all.",
        "Command: `python experiments/benchmarks/noise_models.py` (the method: its docstring). Each DIP column is",
        f"the PSNR (dB) of the average kept by held-out validation (`stopping=validation`, {STEPS} steps at most),",
        f"on a {CROP} x {CROP} centre crop corrupted with the noise's default parameters (conf/noise); the baseline",
        "restores the same observation. The last column is the best PSNR of the matched fit's average over its",
        "steps (what a stop with the ground truth would keep) and the step the rule kept it at.",
        "",
        "## Report half",
        "",
        *table(rows, ("report",)),
        "",
        "## Both halves (nothing here is tuned on either)",
        "",
        *table(rows, ("tune", "report")),
        "",
    ]
    (HERE / "noise_models.md").write_text("\n".join(text))
    print("\n".join(text))


if __name__ == "__main__":
    main()
