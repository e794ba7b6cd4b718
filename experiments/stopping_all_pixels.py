"""The default's answer against the peak a fit on all pixels reaches: held-out validation, as a user's photo
runs it (profile=fast: the skip network at half width; stopping=auto: validation on noisy tasks), measured
against the best PSNR of the average of the same fit on every pixel (same seed, the task's budget).

Each case fits a centre crop of a ../shared/data image twice, one thread each: once with 5 % of the observed
pixels held out, where held-out validation's own detector (stopping.held_out.HeldOutMinimum) decides at
every patience, smoothing and resolution of VALIDATION as it would in a run (the fit ends when all have
stopped), and once on all pixels for the budget (stopping=none). Read off them, for each rule:
- its answer: the PSNR of the average it keeps (exp_weight 0.99) against the ground truth;
- `gap`: the all-pixel fit's best average minus that answer (the issue's target: mean < 0.3 dB, worst < 0.8);
- `gap held out`: the held-out fit's own best (within its steps) minus the answer (the old benchmark's gap);
- `below fixed`: the fixed budget's answer (the all-pixel fit's last average: no pixel held out) minus it;
- `refit`: the all-pixel fit's average at the step the rule kept the average at (a second fit from scratch,
  as many steps again).
Settings are chosen on the `tune` half (lowest mean gap, then worst gap, then fewest steps) and reported on
the `report` half. Writes stopping_all_pixels.md and its traces (stopping_all_pixels_traces.json).

    python experiments/stopping_all_pixels.py [--jobs 2] [--cases NAME,...]   # run, then analyse
    python experiments/stopping_all_pixels.py --analyse                         # analyse the saved traces
"""

import argparse
import datetime
import json
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stopping_benchmark import DATA, config, fit  # noqa: E402 (the benchmark's config and fit)

from dip_lightning.hardware.machine import cpu_flags, cpu_name  # noqa: E402

HERE = Path(__file__).resolve().parent
PROFILE = "profile=fast"  # the default for a user's photo (observed=): what the default's answer is
SIGMA_50 = ["task.sigma=50", "prior.reg_noise_std=0.05"]
# name -> (half, overrides, budget, image, crop size). The smooth crops (baby, bird, woman, kate) are the
# four centre crops of ../shared/data with the least gradient not used elsewhere: a high, flat peak.
CASES = {
    "denoise s15 128 Set5 baby": ("tune", ["task=denoise", "task.sigma=15"], 1800, "Set5/baby.png", 128),
    "denoise s15 128 kate": ("report", ["task=denoise", "task.sigma=15"], 1800, "dip/inpainting/kate.png", 128),
    "denoise s25 128 Set5 bird": ("tune", ["task=denoise"], 1800, "Set5/bird.png", 128),
    "denoise s25 128 Set5 woman": ("report", ["task=denoise"], 1800, "Set5/woman.png", 128),
    "denoise s25 128 kodim03": ("tune", ["task=denoise"], 1800, "cbm3d9/kodim03.png", 128),
    "denoise s25 128 Set14 face": ("report", ["task=denoise"], 1800, "Set14/face.png", 128),
    "denoise s10 64 kodim12": ("tune", ["task=denoise", "task.sigma=10"], 1800, "cbm3d9/kodim12.png", 64),
    "denoise s10 128 lena": ("report", ["task=denoise", "task.sigma=10"], 1800, "cbm3d9/lena.png", 128),
    "denoise s50 128 peppers": ("tune", ["task=denoise", *SIGMA_50], 1800, "cbm3d9/peppers.png", 128),
    "denoise s50 64 hill": ("report", ["task=denoise", *SIGMA_50], 1800, "cbm3d9/hill.png", 64),
    "jpeg q10 128 monarch": ("tune", ["task=jpeg"], 2400, "Set14/monarch.png", 128),
    "deblur 64 flowers": ("report", ["task=deblur"], 1800, "Set14/flowers.png", 64),
}
VAL_PATIENCE = (100, 200, 300)
VAL_SMOOTHING = (0.03, 0.1)
VAL_RESOLUTION = (0.0, 0.5, 1.0, 2.0, 3.0)  # standard errors of the paired held-out difference (0: today's rule)
VALIDATION = [(p, s, r) for p in VAL_PATIENCE for s in VAL_SMOOTHING for r in VAL_RESOLUTION]
DEFAULT = "p100 s0.03 r0.0"  # today's default on a photo: stopping=auto's smoothing, the fast profile's patience


def key_name(key: tuple) -> str:
    return "p{} s{} r{}".format(*key)


class Trace(pl.Callback):
    """Every step the averaged output's PSNR against the ground truth; with the validation criterion beside
    it, every VALIDATION detector fed the held-out errors (and, for a resolution above 0, the average's
    held-out values) as the criterion feeds its own, each decision recorded where that detector stops;
    the fit ends when all have stopped."""

    def __init__(self, validation=None):
        from dip_lightning.stopping.held_out import HeldOutMinimum

        self.validation, self.psnr_avg = validation, []
        self.detectors = {key_name(key): HeldOutMinimum(*key) for key in VALIDATION} if validation else {}
        self.decisions = {}  # name -> [kept output step, steps run, kept average step]

    @torch.no_grad()
    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        from dip_lightning.fitting.metrics import psnr

        average = outputs["output_avg"]
        self.psnr_avg.append(round(psnr(average, module.ground_truth), 3))
        if self.validation is None:
            return
        step, held_out = len(self.psnr_avg), self.validation.criterion.held_out
        error, error_avg = held_out.errors(outputs["output"], average)
        values = held_out.values(average)
        for name, detector in self.detectors.items():
            if name in self.decisions:
                continue
            detector.update(error, values if detector.resolves else error_avg, step)
            if detector.stopped.all() or step == trainer.max_steps:
                kept, kept_avg = detector.output.best_step.item(), detector.average.best_step.item()
                self.decisions[name] = [int(kept), step, int(kept_avg)]
        trainer.should_stop = len(self.decisions) == len(self.detectors)


def run_case(name: str) -> dict:
    torch.set_num_threads(1)
    from dip_lightning.build import build_stopping

    half, overrides, budget, image, size = CASES[name]
    common = [*overrides, PROFILE, "image=file", f"image.source={DATA / image}", f"image.center_crop={size}"]
    common += [f"task.num_iter={budget}"]
    started = time.perf_counter()
    cfg = config([*common, "stopping=validation", "stopping.patience=1000000000"])  # the detectors decide
    validation = build_stopping(cfg)
    held_out = Trace(validation)
    fit(cfg, [validation, held_out])
    all_pixels = Trace()
    fit(config([*common, "stopping=none"]), [all_pixels])
    seconds = round(time.perf_counter() - started, 1)
    print(f"{name}: {seconds:.0f} s, held-out fit {len(held_out.psnr_avg)} steps", flush=True)
    return {
        "case": name,
        "half": half,
        "budget": budget,
        "size": size,
        "held_out": held_out.psnr_avg,
        "all_pixels": all_pixels.psnr_avg,
        "decisions": held_out.decisions,
        "seconds": seconds,
    }


def outcome(result: dict, rule: str) -> dict:
    """A rule's answer on a case: 'fixed' (the budget on all pixels) or a VALIDATION detector's name."""
    everything, oracle = result["all_pixels"], max(result["all_pixels"])
    if rule == "fixed":
        answer, used, refit = everything[-1], result["budget"], everything[-1]
        held_oracle = oracle
    else:
        _, used, kept_avg = result["decisions"][rule]
        answer, refit = result["held_out"][kept_avg - 1], everything[kept_avg - 1]
        held_oracle = max(result["held_out"][:used])
    return {
        "psnr": answer,
        "gap": oracle - answer,
        "gap_held_out": held_oracle - answer,
        "below_fixed": everything[-1] - answer,
        "refit_gap": oracle - refit,
        "used": used / result["budget"],
    }


def summary(results: list[dict], rule: str) -> dict:
    outcomes = [outcome(r, rule) for r in results]
    return {
        "mean_gap": statistics.fmean(o["gap"] for o in outcomes),
        "worst_gap": max(o["gap"] for o in outcomes),
        "mean_gap_held_out": statistics.fmean(o["gap_held_out"] for o in outcomes),
        "worst_below_fixed": max(o["below_fixed"] for o in outcomes),
        "mean_refit_gap": statistics.fmean(o["refit_gap"] for o in outcomes),
        "used": statistics.fmean(o["used"] for o in outcomes),
    }


def choose(tune: list[dict], rules: list[str]) -> str:
    scored = {rule: summary(tune, rule) for rule in rules}
    return min(
        scored, key=lambda n: (round(scored[n]["mean_gap"], 2), round(scored[n]["worst_gap"], 2), scored[n]["used"])
    )


def analyse(results: list[dict], minutes: float | None, command: str) -> str:
    from dip_lightning.hardware.precision import resolve_precision

    halves = {half: [r for r in results if r["half"] == half] for half in ("tune", "report")}
    names = [key_name(key) for key in VALIDATION]
    best = choose(halves["tune"], names)
    best_today = choose(halves["tune"], [n for n in names if n.endswith(" r0.0")])
    shown = ["fixed", DEFAULT, best_today, best]
    shown = list(dict.fromkeys(shown))
    lines = [
        "# The default's answer against the peak of a fit on all pixels",
        "",
        f"- Machine: {cpu_name()} ({cpu_flags()}), 1 thread per case, 2 cases at a time; torch {torch.__version__};",
        f"  precision {resolve_precision('auto', 'cpu')} (trainer.precision=auto); date {datetime.date.today()}"
        + (f"; {minutes:.0f} minutes" if minutes else ""),
        f"- Command: `{command}`",
        f"- {len(results)} cases: a centre crop of a ../shared/data image, `{PROFILE}` (the default on a photo),",
        "  fitted with 5 % of the observed pixels held out (8 x 8 blocks for JPEG) and again on all pixels, same",
        "  seed. gap = the all-pixel fit's best average - the rule's answer; gap held out = the held-out fit's",
        "  own best (the previous benchmark's gap); below fixed = the budget on all pixels - the answer (positive:",
        "  the rule did worse); refit = a second fit on all pixels to the step the rule kept the average at",
        "  (its gap; it costs those steps again). p = patience, s = smoothing, r = resolution (standard errors).",
        f"- Today's default on a photo: `{DEFAULT}`. Chosen on the tune half, among resolution 0 (today's rule):",
        f"  `{best_today}`; among all: `{best}`.",
        "",
    ]
    for half in ("report", "tune"):
        cases = halves[half]
        lines += [f"## The {half} half ({len(cases)} cases)", ""]
        lines += [
            "| rule | mean gap | worst gap | mean gap held out | worst below fixed | refit: mean gap | steps used |"
        ]
        lines += ["|---|---|---|---|---|---|---|"]
        for rule in shown:
            s = summary(cases, rule)
            lines.append(
                f"| {rule} | {s['mean_gap']:.2f} | {s['worst_gap']:.2f} | {s['mean_gap_held_out']:.2f} | "
                f"{s['worst_below_fixed']:.2f} | {s['mean_refit_gap']:.2f} | {s['used'] * 100:.0f} % |"
            )
        lines += ["", "| case | all pixels: best (step) | held out: best (step) | " + " | ".join(shown) + " |"]
        lines.append("|---|---|---" + "|---" * len(shown) + "|")
        for r in cases:
            everything, held = r["all_pixels"], r["held_out"]
            cells = []
            for rule in shown:
                o = outcome(r, rule)
                cells.append(f"{o['psnr']:.2f} ({o['used'] * r['budget']:.0f})")
            lines.append(
                f"| {r['case']} | {max(everything):.2f} ({everything.index(max(everything)) + 1}) | "
                f"{max(held):.2f} ({held.index(max(held)) + 1}) | " + " | ".join(cells) + " |"
            )
        lines.append("")
    lines += ["## Every setting (mean gap / worst gap / steps used)", "", "| rule | tune | report |", "|---|---|---|"]
    for rule in ["fixed", *names]:
        cells = []
        for half in ("tune", "report"):
            s = summary(halves[half], rule)
            cells.append(f"{s['mean_gap']:.2f} / {s['worst_gap']:.2f} / {s['used'] * 100:.0f} %")
        lines.append(f"| {rule} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument("--analyse", action="store_true", help="only analyse the saved traces")
    args = parser.parse_args()
    output, traces = HERE / "stopping_all_pixels.md", HERE / "stopping_all_pixels_traces.json"
    command = "python experiments/stopping_all_pixels.py" + (f" --cases '{args.cases}'" if args.cases else "")
    minutes = None
    done = json.loads(traces.read_text()) if traces.is_file() else []
    if not args.analyse:
        started = time.perf_counter()
        names = args.cases.split(",") if args.cases else list(CASES)
        todo = [name for name in names if name not in {r["case"] for r in done}]
        with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
            for result in pool.imap_unordered(run_case, todo):
                done.append(result)
                traces.write_text(json.dumps(done))  # what is done so far survives an interruption
        minutes = (time.perf_counter() - started) / 60
    report = analyse([r for r in done if r["case"] in CASES], minutes, command)
    output.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
