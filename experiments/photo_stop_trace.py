"""Where the default stops on 128 px photos at sigma 50, step by step. First the peppers photo that the fast profile
answered 0.66 dB under profile=paper (experiments/benchmarks/fast_profile.md, tune half, its own run stopped at
step 325, the paper profile's at 593): was it the stop, and would another detector have done better? Then more
photos at sigma 50, a tune and a report half (PHOTOS: hill is fast_profile.py's report photo), so that a choice
among the detectors rests on more than one photo.

Each photo is made as fast_profile.py makes it (the seed-0 observation of the crop, sigma 50 with the default
input noise, saved as a PNG) and fitted as `observed=` fits it (profile=fast) from SEEDS, each twice, one thread:
- held out as the default holds out (`stopping.held_out.fraction=auto`), with every detector of
  stopping_all_pixels.VALIDATION fed the held-out errors as a run's criterion feeds its own (its Trace): where
  each would have stopped, and the steps it would have kept;
- on every pixel for the budget: the peak of the average a fit reaches (the oracle, as stopping_all_pixels.py).
Writes photo_stop_trace.json (the traces) and photo_stop_trace.md.

    python experiments/photo_stop_trace.py [--jobs 2]   # fit what is missing, then analyse
"""

import argparse
import json
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixed_budget_spread import photo_files  # noqa: E402
from stopping_all_pixels import DEFAULT, PREVIOUS, PROFILE, RESOLVED, Trace, key_name, machine  # noqa: E402
from stopping_benchmark import config, fit  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "photo_stop_trace.json"
TASK = ["task=denoise", "task.sigma=50"]  # fast_profile.py's sigma 50: the default input noise
SIZE, BUDGET = 128, 1800  # the peaks are before step 600
PHOTOS = {  # name -> (half, image): the first the photo looked at first; the others at sigma 50 nowhere else
    "denoise s50 128 peppers": ("tune", "cbm3d9/peppers.png"),
    "denoise s50 128 Set14 man": ("tune", "Set14/man.png"),
    "denoise s50 128 Set14 coastguard": ("tune", "Set14/coastguard.png"),
    "denoise s50 128 hill": ("report", "cbm3d9/hill.png"),
    "denoise s50 128 Set14 bridge": ("report", "Set14/bridge.png"),
    "denoise s50 128 F16": ("report", "cbm3d9/F16.png"),
}
SEEDS = (0, 1, 2, 3)
SHOWN = [DEFAULT, RESOLVED, PREVIOUS, (100, 0.1, 1.0)]  # today's, the two before it, a resolution of 1


def files(name: str) -> tuple[Path, Path]:
    return photo_files(TASK, PHOTOS[name][1], SIZE, Path("/tmp/photo_stop_trace") / name.replace(" ", "_"))


def run_seed(job: tuple[str, int]) -> dict:
    """A photo's held-out fit with every detector, and its fit on every pixel: job = (photo, seed)."""
    torch.set_num_threads(1)
    from dip_lightning.build import build_stopping

    name, seed = job
    clean, observed = files(name)
    common = [*TASK, PROFILE, f"observed={observed}", f"ground_truth={clean}", f"task.num_iter={BUDGET}"]
    common.append(f"seed={seed}")
    held = ["stopping=validation", "stopping.patience=1000000000", "stopping.held_out.fraction=auto"]
    cfg = config([*common, *held, "++stopping.hand_back=0"])  # the detectors decide, not the criterion
    started, validation = time.perf_counter(), build_stopping(cfg)
    held_out, everything = Trace(validation), Trace()
    fit(cfg, [validation, held_out])
    fit(config([*common, "stopping=none"]), [everything])
    print(f"{name}, seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    return {
        "photo": name, "half": PHOTOS[name][0], "seed": seed, "machine": machine(),
        "psnr_avg": held_out.psnr_avg, "decisions": held_out.decisions,
        "held_out_errors": held_out.held_out_errors, "all_pixels": everything.psnr_avg,
    }  # fmt: skip


def saved() -> list[dict]:
    return json.loads(RESULTS.read_text()) if RESULTS.is_file() else []


def gap(run: dict, key: tuple) -> float:
    """The detector's answer's gap to the all-pixel fit's best average."""
    return max(run["all_pixels"]) - run["psnr_avg"][run["decisions"][key_name(key)][2] - 1]


def analyse() -> None:
    rows = sorted(saved(), key=lambda r: (list(PHOTOS).index(r["photo"]), r["seed"]))
    lines = [
        "# Where the default stops on 128 px photos at sigma 50",
        "",
        f"- Machine: {rows[0]['machine']}, 1 thread per fit, 2 at a time; torch {torch.__version__}; precision:",
        "  trainer.precision=auto's (bf16-mixed where the CPU has it natively)",
        "- Command: `python experiments/photo_stop_trace.py` (the method: its docstring)",
        "- Each cell: the step the output was kept at / the step the detector stopped / the step the average was kept",
        "  at, and the answer's gap to the all-pixel fit's best average (dB).",
        "",
        "| photo (half) | seed | all pixels: best average (step) | held-out fit: best average (step) | "
        + " | ".join(f"`{key_name(key)}`" for key in SHOWN)
        + " |",
        "|---|---|---|---|" + "---|" * len(SHOWN),
    ]
    for r in rows:
        oracle, answers = max(r["all_pixels"]), r["psnr_avg"]
        cells = [f"{'{} / {} / {}'.format(*r['decisions'][key_name(key)])}: {gap(r, key):.2f}" for key in SHOWN]
        best = max(answers)
        lines.append(
            f"| {r['photo']} ({r['half']}) | {r['seed']} | {oracle:.2f} ({r['all_pixels'].index(oracle) + 1}) | "
            f"{best:.2f} ({answers.index(best) + 1}) | " + " | ".join(cells) + " |"
        )
    lines += ["", "Per half (mean gap / worst gap over its photos and seeds):", ""]
    lines += ["| rule | " + " | ".join(sorted({r["half"] for r in rows}, reverse=True)) + " |", "|---|---|---|"]
    for key in SHOWN:
        cells = []
        for half in sorted({r["half"] for r in rows}, reverse=True):
            gaps = [gap(r, key) for r in rows if r["half"] == half]
            cells.append(f"{statistics.mean(gaps):.2f} / {max(gaps):.2f} ({len(gaps)} fits)")
        lines.append(f"| `{key_name(key)}` | " + " | ".join(cells) + " |")
    (HERE / "photo_stop_trace.md").write_text("\n".join([*lines, ""]))
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    done = {(r["photo"], r["seed"]) for r in saved()}
    todo = [(name, seed) for name in PHOTOS for seed in SEEDS if (name, seed) not in done]
    for name in PHOTOS:
        files(name)  # made once, before the workers share them
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        for result in pool.imap_unordered(run_seed, todo):
            RESULTS.write_text(json.dumps([*saved(), result]))
    analyse()


if __name__ == "__main__":
    main()
