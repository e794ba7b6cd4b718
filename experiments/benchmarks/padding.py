"""A photo whose size the network cannot take: the reference's crop against the canvas (fit_size=pad).

The stopping benchmark's tasks and images (experiments/stopping_benchmark.py), cut to 92 x 76 pixels: a
size that is not a multiple of the skip network's stride 32 (but is of the SR factor 4, so that the clean
image can be downsampled whole). Each case's observation is made once, at the full size, and the same
observation is restored twice with the defaults of a user's photo (observed=, the default skip network,
bf16 where the CPU has it) and a fixed budget (stopping=none, so that only the size handling differs):
  - crop: fit_size=crop, the reference's centre crop to 64 x 64 (a multiple of 32): the border is lost;
  - pad:  fit_size=pad, the network draws a 96 x 96 canvas with the image at its centre, the margins out
          of the data term, and the 92 x 76 image is cut back out.
Reported: the averaged output's PSNR at the end of the budget over all 92 x 76 pixels (pad), over the
64 x 64 pixels crop restored (pad against crop on the same pixels), and crop's; the best averaged PSNR over the steps.

    python experiments/benchmarks/padding.py [--jobs 2]     # writes padding.md and padding.json beside it
"""

import argparse
import json
import multiprocessing
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DATA = ROOT.parent / "shared" / "data"
HEIGHT, WIDTH = 76, 92
CROPPED = 64  # the reference's crop of 92 x 76 to multiples of 32
SIGMA_50 = ["task.sigma=50", "prior.reg_noise_std=0.05"]
INPAINT = ["task=inpaint", "mask=bernoulli"]
# name -> (half, task overrides, budget, image): the stopping benchmark's 64 px cases and halves
CASES = {
    "denoise s25 F16": ("tune", ["task=denoise"], 1200, "cbm3d9/F16.png"),
    "denoise s25 baboon": ("report", ["task=denoise"], 1200, "cbm3d9/baboon.png"),
    "denoise s10 kodim12": ("tune", ["task=denoise", "task.sigma=10"], 1200, "cbm3d9/kodim12.png"),
    "denoise s10 kodim01": ("report", ["task=denoise", "task.sigma=10"], 1200, "cbm3d9/kodim01.png"),
    "denoise s50 kodim02": ("tune", ["task=denoise", *SIGMA_50], 1200, "cbm3d9/kodim02.png"),
    "denoise s50 hill": ("report", ["task=denoise", *SIGMA_50], 1200, "cbm3d9/hill.png"),
    "inpaint 50% couple": ("tune", [*INPAINT, "mask.missing_fraction=0.5"], 1500, "classic/couple.png"),
    "inpaint 80% man": ("report", [*INPAINT, "mask.missing_fraction=0.8"], 1500, "classic/man.png"),
    "sr x4 comic": ("tune", ["task=sr", "task.factor=4"], 1500, "Set14/comic.png"),
    "deblur flowers": ("report", ["task=deblur"], 1200, "Set14/flowers.png"),
    "jpeg q10 foreman": ("tune", ["task=jpeg"], 1500, "Set14/foreman.png"),
    "jpeg q10 monarch": ("report", ["task=jpeg"], 1500, "Set14/monarch.png"),
}


def cropped_part(record: dict, scale: int):
    """The part of the restoration that a fit_size=crop run restored (its record's crop of the source)."""
    from dip_lightning.data.crop import Crop

    return lambda image: Crop(**record["crop"])(image, scale)


def observation(task: list[str], source: str, scratch: Path) -> dict[str, torch.Tensor]:
    """The case's observation of the central 92 x 76 pixels of `source`, its ground truth and its mask."""
    from dip_lightning.build import build_problem
    from dip_lightning.config.composition import composed
    from dip_lightning.data.crop import centred
    from dip_lightning.data.images import load_image, save_png

    clean = load_image(DATA / source)
    clean = centred(*clean.shape[-2:], HEIGHT, WIDTH)(clean)
    save_png(clean, scratch / "clean.png")
    with composed([*task, "image=file", f"image.source={scratch / 'clean.png'}"]) as cfg:
        physics, problem = build_problem(cfg)
    pictures = {"observed": problem.observed[0], "ground_truth": problem.ground_truth[0]}
    if "mask" in physics.operator.images():
        pictures["mask"] = physics.operator.images()["mask"][0]
    return pictures


def run_case(name: str) -> dict:
    import tempfile

    from dip_lightning import restore
    from dip_lightning.fitting.metrics import psnr

    half, task, budget, source = CASES[name]
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as scratch:
        pictures = observation(task, source, Path(scratch))
    truth = pictures["ground_truth"][None]
    scale = truth.shape[-1] // pictures["observed"].shape[-1]
    row = {"case": name, "half": half, "budget": budget}
    settings = [item for item in task[1:] if not item.startswith("mask")]  # the mask is given as a picture
    for fit_size in ("crop", "pad"):  # crop first: its part of the image is where the two are compared
        started = time.perf_counter()
        result = restore(
            **pictures,
            task=task[0].split("=")[1],
            stopping="none",
            steps=budget,
            overrides=[*settings, f"fit_size={fit_size}", "threads=1", "save_every=null", "checkpoint_every=null"],
            output_dir=None,
            progress=False,
        )
        average = result.restored_avg[None]
        row[f"{fit_size}_seconds"] = round(time.perf_counter() - started, 1)
        row[f"{fit_size}_size"] = list(average.shape[-2:])
        row[f"{fit_size}_best"] = result.record["best_psnr_avg"]
        if fit_size == "crop":
            part = cropped_part(result.record, scale)
            row["crop_part"] = round(psnr(average, part(truth)), 3)
        else:
            row["pad_all"] = round(psnr(average, truth), 3)
            row["pad_part"] = round(psnr(part(average), part(truth)), 3)
    print(json.dumps(row), flush=True)
    return row


def write_report(rows: list[dict], seconds: float) -> None:
    from dip_lightning.hardware.machine import cpu_flags, cpu_name

    lines = [
        "# A photo of 92 x 76 pixels: the reference's crop against the canvas",
        "",
        f"Machine: {cpu_name()}, {torch.get_num_threads()} threads available, CPU flags of note: {cpu_flags()}; "
        f"torch {torch.__version__}; cases two at a time, one thread each; {seconds / 60:.0f} min in all.",
        "Command: `python experiments/benchmarks/padding.py` (method: its docstring). PSNR of the averaged output",
        "(exp_weight 0.99) at the end of the fixed budget, in dB; `best`: the highest averaged PSNR over the steps",
        "(scored every 10) on the pixels each run restores.",
        "",
        "| case | half | steps | crop: 64 x 64 | pad: same 64 x 64 | pad - crop | pad: all 92 x 76 "
        "| best crop | best pad |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        gain = row["pad_part"] - row["crop_part"]
        lines.append(
            f"| {row['case']} | {row['half']} | {row['budget']} | {row['crop_part']:.2f} | {row['pad_part']:.2f} "
            f"| {gain:+.2f} | {row['pad_all']:.2f} | {row['crop_best']:.2f} | {row['pad_best']:.2f} |"
        )
    lines.append("")
    for half in ("tune", "report"):
        chosen = [row for row in rows if row["half"] == half]
        if chosen:
            gains = [row["pad_part"] - row["crop_part"] for row in chosen]
            lines.append(
                f"- {half} half ({len(chosen)} cases): pad - crop on the same 64 x 64 pixels, mean "
                f"{np.mean(gains):+.3f} dB, worst {min(gains):+.3f} dB; pad restores {HEIGHT * WIDTH} pixels where "
                f"crop restores {CROPPED * CROPPED} ({CROPPED * CROPPED / (HEIGHT * WIDTH):.0%})."
            )
    (HERE / "padding.md").write_text("\n".join(lines) + "\n")
    (HERE / "padding.json").write_text(json.dumps(rows, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--cases", default=None, help="comma-separated case names (default: all)")
    args = parser.parse_args()
    names = args.cases.split(",") if args.cases else list(CASES)
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        rows = pool.map(run_case, names, chunksize=1)
    write_report(rows, time.perf_counter() - started)


if __name__ == "__main__":
    main()
