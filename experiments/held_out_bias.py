"""Where held-out validation stops early: the error at the held-out pixels against the error of the whole image.

Held-out validation estimates the restoration's error at the pixels the fit never sees (held_out.py: their
error against the observation, minus the noise variance). Its minimum is the image's only if the fit's error
there moves as its error everywhere does. This replays fits of experiments/stopping_all_pixels.py (its cases,
fitted as that benchmark fits them: one thread each, the run's precision, fraction=auto, to the budget) and
records, every step, the average's error on the held-out pixels against the observation (what the rule sees),
against the ground truth there, and the ground truth's error over the whole image (what the user gets). Writes
held_out_bias.md and its traces (held_out_bias.json).

    python experiments/held_out_bias.py [--jobs 2] [--seed 0] [--cases NAME,...]   # fit, then analyse
    python experiments/held_out_bias.py --analyse
"""

import argparse
import datetime
import json
import multiprocessing
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stopping_all_pixels import CASES, machine, photo  # noqa: E402 (that benchmark's cases and machine label)
from stopping_benchmark import config, fit  # noqa: E402

from dip_lightning.fitting.metrics import psnr_from_mse as psnr  # noqa: E402

HERE = Path(__file__).resolve().parent
TRACES = HERE / "held_out_bias.json"
DETAIL = ("denoise s25 160 kodim01", 2)  # the check half's worst premature stop: shown step by step
EVERY = 25  # steps between the detail's rows


class Errors(pl.Callback):
    """Every step the average's held-out error against the observation, its mean squared error against the
    ground truth at the held-out pixels and over the whole image."""

    def __init__(self, validation):
        self.validation, self.rows = validation, []

    @torch.no_grad()
    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        held_out = self.validation.criterion.held_out
        (observed,) = held_out.errors(outputs["output_avg"])  # as the rule measures it
        squared = (outputs["output_avg"].float() - module.ground_truth).square()
        at_held = (squared * held_out.held).sum() / (held_out.held.sum() * squared.shape[1])
        self.rows.append([round(value, 8) for value in (observed.item(), at_held.item(), squared.mean().item())])


def held_out_config(name: str, seed: int):
    """A case's held-out fit from `seed` as stopping_all_pixels fits it (fraction=auto), to its budget."""
    held = ["stopping=validation", "stopping.patience=1000000000", "stopping.held_out.fraction=auto"]
    return config([*photo(name), f"seed={seed}", *held, "++stopping.hand_back=0"])


def fit_missing(traces: list[dict], path: Path, names: list[str], seed: int, jobs: int, work) -> None:
    """`work((name, seed))` for each case of `names` not yet in `traces` from `seed`, `jobs` at a time; each result
    appended to `traces` and saved to `path` as it comes (what is done survives an interruption)."""
    done = {(t["case"], t["seed"]) for t in traces}
    todo = [(name, seed) for name in names if (name, seed) not in done]
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        for result in pool.imap_unordered(work, todo):
            traces.append(result)
            path.write_text(json.dumps(traces))


def run_case(job: tuple[str, int]) -> dict:
    """A case's held-out fit from `seed`, as stopping_all_pixels fits it, to its budget: job = (name, seed)."""
    from dip_lightning.build import build_stopping

    torch.set_num_threads(1)  # as the benchmark fitted it: the same bits
    name, seed = job
    cfg = held_out_config(name, seed)
    validation = build_stopping(cfg)
    errors = Errors(validation)
    fit(cfg, [validation, errors])
    print(f"{name}, seed {seed}: {len(errors.rows)} steps", flush=True)
    count = int(validation.criterion.held_out.held.sum())
    return {"case": name, "seed": seed, "held_out": count, "rows": errors.rows, "machine": machine()}


def lowest(rows: list, column: int) -> int:
    """The step (from 1) of a column's lowest value."""
    return min(range(len(rows)), key=lambda i: rows[i][column]) + 1


def analyse(traces: list[dict]) -> str:
    machines = sorted({t["machine"] for t in traces})
    lines = [
        "# The error at the held-out pixels against the whole image's",
        "",
        f"- Machine: {'; '.join(machines)}; torch {torch.__version__}; date {datetime.date.today()}",
        "- Command: `python experiments/held_out_bias.py [--seed N]` (experiments/stopping_all_pixels.py's cases and",
        "  fits, fraction=auto, one thread each, to the budget; the average, the profile's exp_weight, every step)",
        "",
        "Per case: the step where the held-out error (against the observation: what the rule sees) is lowest; where",
        "the error against the truth at the held-out pixels is (what that error estimates); where the whole image's",
        "is (what the user gets). Lost: the whole image's best PSNR minus its PSNR at the held-out error's lowest",
        "(what a rule that found that minimum exactly would lose), in two parts: by the estimand (the image's best",
        "minus the image at the held-out pixels' own best: the pixels the fit predicts are not those it denoises) and",
        "by sampling (the rest: the held-out error's noise moves its minimum away from the held-out pixels' best).",
        "",
        "| case (half) | seed | held out | held-out error lowest at | at the held-out pixels: best (step) | "
        "whole image: best (step) | lost | by the estimand | by sampling |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for t in sorted(traces, key=lambda t: (t["seed"], list(CASES).index(t["case"]))):
        rows = t["rows"]
        seen, held, whole = lowest(rows, 0), lowest(rows, 1), lowest(rows, 2)
        best = psnr(rows[whole - 1][2])
        lost, estimand = best - psnr(rows[seen - 1][2]), best - psnr(rows[held - 1][2])
        lines.append(
            f"| {t['case']} ({CASES[t['case']][0]}) | {t['seed']} | {t['held_out']} | {seen} | "
            f"{psnr(rows[held - 1][1]):.2f} ({held}) | {best:.2f} ({whole}) | {lost:.2f} | {estimand:.2f} | "
            f"{lost - estimand:+.2f} |"
        )
    detail = [t for t in traces if (t["case"], t["seed"]) == DETAIL]
    if detail:
        rows = detail[0]["rows"]
        seen = lowest(rows, 0)
        lines += [
            "",
            f"## {DETAIL[0]}, seed {DETAIL[1]}, step by step",
            "",
            "| step | held-out error vs the observation | at the held-out pixels vs the truth: PSNR | "
            "whole image vs the truth: PSNR |",
            "|---|---|---|---|",
        ]
        for step in sorted({*range(EVERY, min(len(rows), 1200) + 1, EVERY), seen}):
            observed, at_held, whole = rows[step - 1]
            lines.append(f"| {step} | {observed:.6f} | {psnr(at_held):.2f} | {psnr(whole):.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument("--analyse", action="store_true", help="only analyse the saved traces")
    args = parser.parse_args()
    traces = json.loads(TRACES.read_text()) if TRACES.is_file() else []
    if not args.analyse:
        names = args.cases.split(",") if args.cases else list(CASES)
        fit_missing(traces, TRACES, names, args.seed, args.jobs, run_case)
    report = analyse(traces)
    (HERE / "held_out_bias.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
