"""Where held-out validation stops early: the error at the held-out pixels against the error of the whole image.

Held-out validation estimates the restoration's error at the pixels the fit never sees (held_out.py: their
error against the observation, minus the noise variance). Its minimum is the image's only if the fit's error
there moves as its error everywhere does. This replays one fit of experiments/stopping_all_pixels.py (a case and
seed, as that benchmark fits it: one thread, the run's precision) and records, every step, the average's error
on the held-out pixels against the observation (what the rule sees), against the ground truth there, and the
ground truth's error over the whole image (what the user gets). Writes held_out_bias.md.

    python experiments/held_out_bias.py ["denoise s25 160 kodim01"] [--seed 2] [--steps 900]
"""

import argparse
import datetime
import math
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stopping_all_pixels import machine, photo  # noqa: E402 (that benchmark's cases and machine label)
from stopping_benchmark import config, fit  # noqa: E402

HERE = Path(__file__).resolve().parent
EVERY = 25  # steps between the table's rows


class Errors(pl.Callback):
    """Every step the average's held-out error against the observation, its error against the ground truth at
    the held-out pixels and over the whole image; the fit ends after `steps`."""

    def __init__(self, validation, steps: int):
        self.validation, self.steps, self.rows = validation, steps, []

    @torch.no_grad()
    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        held_out = self.validation.criterion.held_out
        (observed,) = held_out.errors(outputs["output_avg"])  # as the rule measures it
        squared = (outputs["output_avg"].float() - module.ground_truth).square()
        at_held = (squared * held_out.held).sum() / (held_out.held.sum() * squared.shape[1])
        self.rows.append((observed.item(), at_held.item(), squared.mean().item()))
        trainer.should_stop = len(self.rows) >= self.steps


def psnr(error: float) -> float:
    return -10 * math.log10(error)


def main() -> None:
    from dip_lightning.build import build_stopping

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", nargs="?", default="denoise s25 160 kodim01")
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--steps", type=int, default=900)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the benchmark fitted it: the same bits
    held = ["stopping=validation", "stopping.patience=1000000000", "stopping.held_out.fraction=auto"]
    cfg = config([*photo(args.case), f"seed={args.seed}", *held, "++stopping.hand_back=0"])
    validation = build_stopping(cfg)
    errors = Errors(validation, args.steps)
    fit(cfg, [validation, errors])
    rows = errors.rows
    lowest = min(range(len(rows)), key=lambda i: rows[i][0])
    truth_best = min(range(len(rows)), key=lambda i: rows[i][2])
    count = int(validation.criterion.held_out.held.sum())
    lines = [
        "# The error at the held-out pixels against the whole image's",
        "",
        f"- Case: {args.case}, seed {args.seed} (experiments/stopping_all_pixels.py's fit, fraction=auto: {count}",
        "  pixels held out), one thread; the average (the profile's exp_weight) every step",
        f"- Machine: {machine()}; torch {torch.__version__}; date {datetime.date.today()}",
        f'- Command: `python experiments/held_out_bias.py "{args.case}" --seed {args.seed} --steps {args.steps}`',
        "",
        f"The held-out error (what the rule sees) is lowest at step {lowest + 1}; the whole image's error within these",
        f"{len(rows)} steps at step {truth_best + 1} ({psnr(rows[lowest][2]):.2f} dB there against "
        f"{psnr(rows[truth_best][2]):.2f}).",
        "",
        "| step | held-out error vs the observation | at the held-out pixels vs the truth: PSNR | "
        "whole image vs the truth: PSNR |",
        "|---|---|---|---|",
    ]
    for step in sorted({*range(EVERY, len(rows) + 1, EVERY), lowest + 1}):
        observed, at_held, whole = rows[step - 1]
        lines.append(f"| {step} | {observed:.6f} | {psnr(at_held):.2f} | {psnr(whole):.2f} |")
    (HERE / "held_out_bias.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
