"""Where the default stops on one photo, step by step: the 128 px peppers photo at sigma 50 that the fast profile
answered 0.66 dB under profile=paper (experiments/benchmarks/fast_profile.md, tune half, its own run stopped at
step 325, the paper profile's at 593). Was it the stop, and would another detector have done better?

The photo is made as fast_profile.py makes it (the seed-0 observation of the crop, sigma 50 with the default input
noise, saved as a PNG) and fitted as `observed=` fits it (profile=fast) from SEEDS, each twice, one thread each:
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
from stopping_all_pixels import DEFAULT, NO_RESOLUTION, PREVIOUS, PROFILE, Trace, key_name, machine  # noqa: E402
from stopping_benchmark import config, fit  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "photo_stop_trace.json"
TASK = ["task=denoise", "task.sigma=50"]  # fast_profile.py's sigma 50: the default input noise
IMAGE, SIZE, BUDGET = "cbm3d9/peppers.png", 128, 1800  # the peaks are before step 600
SEEDS = (0, 1, 2, 3)
SHOWN = [DEFAULT, NO_RESOLUTION, PREVIOUS, (100, 0.1, 1.0)]  # today's, without its resolution, before, r1


def run_seed(seed: int) -> dict:
    torch.set_num_threads(1)
    from dip_lightning.build import build_stopping

    clean, observed = photo_files(TASK, IMAGE, SIZE, Path("/tmp/photo_stop_trace"))
    common = [*TASK, PROFILE, f"observed={observed}", f"ground_truth={clean}", f"task.num_iter={BUDGET}"]
    common.append(f"seed={seed}")
    held = ["stopping=validation", "stopping.patience=1000000000", "stopping.held_out.fraction=auto"]
    cfg = config([*common, *held, "++stopping.hand_back=0"])  # the detectors decide, not the criterion
    started, validation = time.perf_counter(), build_stopping(cfg)
    held_out, everything = Trace(validation), Trace()
    fit(cfg, [validation, held_out])
    fit(config([*common, "stopping=none"]), [everything])
    print(f"seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    return {
        "seed": seed, "psnr_avg": held_out.psnr_avg, "decisions": held_out.decisions,
        "held_out_errors": held_out.held_out_errors, "all_pixels": everything.psnr_avg, "machine": machine(),
    }  # fmt: skip


def saved() -> list[dict]:
    return json.loads(RESULTS.read_text()) if RESULTS.is_file() else []


def analyse() -> None:
    rows = sorted(saved(), key=lambda r: r["seed"])
    lines = [
        "# Where the default stops on one photo: peppers, 128 px, sigma 50",
        "",
        f"- Machine: {rows[0]['machine']}, 1 thread per fit, 2 at a time; torch {torch.__version__}; precision:",
        "  trainer.precision=auto's (bf16-mixed where the CPU has it natively)",
        "- Command: `python experiments/photo_stop_trace.py` (the method: its docstring)",
        "- Each cell: the step the output was kept at / the step the detector stopped / the step the average was kept",
        "  at, and the answer's gap to the all-pixel fit's best average (dB).",
        "",
        "| seed | all pixels: best average (step) | held-out fit: best average (step) | "
        + " | ".join(f"`{key_name(key)}`" for key in SHOWN)
        + " |",
        "|---|---|---|" + "---|" * len(SHOWN),
    ]
    gaps = {key: [] for key in SHOWN}
    for r in rows:
        oracle, answers = max(r["all_pixels"]), r["psnr_avg"]
        cells = []
        for key in SHOWN:
            kept, stopped, kept_avg = r["decisions"][key_name(key)]
            gaps[key].append(oracle - answers[kept_avg - 1])
            cells.append(f"{kept} / {stopped} / {kept_avg}: {gaps[key][-1]:.2f}")
        best = max(answers)
        lines.append(
            f"| {r['seed']} | {oracle:.2f} ({r['all_pixels'].index(oracle) + 1}) | {best:.2f} "
            f"({answers.index(best) + 1}) | " + " | ".join(cells) + " |"
        )
    lines.append("| mean gap | | | " + " | ".join(f"{statistics.mean(g):.2f}" for g in gaps.values()) + " |")
    (HERE / "photo_stop_trace.md").write_text("\n".join([*lines, ""]))
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    todo = [seed for seed in SEEDS if seed not in {r["seed"] for r in saved()}]
    photo_files(TASK, IMAGE, SIZE, Path("/tmp/photo_stop_trace"))
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        for result in pool.imap_unordered(run_seed, todo):
            RESULTS.write_text(json.dumps([*saved(), result]))
    analyse()


if __name__ == "__main__":
    main()
