"""When to stop without ground truth, measured broadly: ES-WMV and held-out validation against the paper's
fixed budgets, on noise levels, tasks and images no default was tuned on (64, 128 and 256 px crops).

Each case fits one crop of a ../shared/data image for the task's budget with 5 % of the observed pixels
held out of the fit (stopping=validation's setting; 8 x 8 blocks for JPEG), and records at every step:
the PSNR of the raw and averaged outputs against the ground truth (the oracle is the averaged output's
best within the budget), ES-WMV's windowed variance of the raw output (window 100), and the held-out
error of the raw and averaged outputs. Every rule is then read off that record as its callback decides
during a run: ES-WMV by `es_decision` (tested to equal the callback), validation by the callback's own
detector (stopping.held_out.HeldOutMinimum) fed the recorded errors. A few cases also run without held-out
pixels, to measure what withholding costs the fit.

The cases are split in two halves: every rule's setting is chosen on the `tune` half and reported on the
`report` half only. Writes stopping_benchmark.md, stopping_benchmark.json and the traces
(stopping_benchmark_traces.json) beside this script. Cases run two at a time, one thread each (2 cores).

    python experiments/stopping_benchmark.py [--jobs 2] [--cases NAME,...]   # run, then analyse
    python experiments/stopping_benchmark.py --analyse                         # analyse the saved traces
"""

import argparse
import datetime
import json
import multiprocessing
import statistics
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from dip_lightning.hardware.machine import cpu_flags, cpu_name

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
HERE = Path(__file__).resolve().parent
TRACES_MACHINE = (  # where the saved traces were fitted (an analysis alone says so, wherever it runs)
    "AMD EPYC (avx2 avx512f avx512dq avx512ifma avx512cd avx512bw avx512vl avx512_bf16 avx512vbmi avx512_vbmi2 "
    "avx512_vnni avx512_bitalg avx512_vpopcntdq)"
)
TRACES_DATE = "2026-11-29"
WINDOW = 100
LAG = 300  # ES-WMV's average_lag=auto at exp_weight 0.99
SIGMA_50 = ["task.sigma=50", "prior.reg_noise_std=0.05"]  # the reference: reg_noise_std 1/20 for sigma 50
INPAINT = ["task=inpaint", "mask=bernoulli"]
SR_X8 = ["task=sr", "task.factor=8", "prior.reg_noise_std=0.05"]  # the reference's x8 noise; 2000 of its 4000 steps
# name -> (half, overrides, budget, image, crop size, also fit without held-out pixels)
# cheap cases first: an analysis of what has finished is already a report. Denoising runs the paper text's
# 1800 steps (the notebook's 3000 for the first two cases), inpainting 2000 of the paper's 6001.
CASES = {
    "denoise s25 64 F16": ("tune", ["task=denoise"], 3000, "cbm3d9/F16.png", 64, True),
    "denoise s25 64 baboon": ("report", ["task=denoise"], 3000, "cbm3d9/baboon.png", 64, True),
    "denoise s10 64 kodim12": ("tune", ["task=denoise", "task.sigma=10"], 1800, "cbm3d9/kodim12.png", 64, False),
    "denoise s10 64 kodim01": ("report", ["task=denoise", "task.sigma=10"], 1800, "cbm3d9/kodim01.png", 64, False),
    "denoise s50 64 kodim02": ("tune", ["task=denoise", *SIGMA_50], 1800, "cbm3d9/kodim02.png", 64, False),
    "denoise s50 64 hill": ("report", ["task=denoise", *SIGMA_50], 1800, "cbm3d9/hill.png", 64, False),
    "inpaint 50% 64 couple": ("tune", [*INPAINT, "mask.missing_fraction=0.5"], 2000, "classic/couple.png", 64, False),
    "inpaint 80% 64 man": ("report", [*INPAINT, "mask.missing_fraction=0.8"], 2000, "classic/man.png", 64, False),
    "sr x4 64 comic": ("tune", ["task=sr", "task.factor=4"], 2000, "Set14/comic.png", 64, False),
    "deblur 64 flowers": ("report", ["task=deblur"], 1800, "Set14/flowers.png", 64, False),
    "jpeg q10 64 foreman": ("tune", ["task=jpeg"], 2400, "Set14/foreman.png", 64, False),
    "denoise s25 128 kodim03": ("tune", ["task=denoise"], 1800, "cbm3d9/kodim03.png", 128, True),
    "denoise s25 128 Set14 face": ("report", ["task=denoise"], 1800, "Set14/face.png", 128, True),
    "denoise s50 128 peppers": ("tune", ["task=denoise", *SIGMA_50], 1800, "cbm3d9/peppers.png", 128, False),
    "denoise s10 128 lena": ("report", ["task=denoise", "task.sigma=10"], 1800, "cbm3d9/lena.png", 128, False),
    "sr x8 128 Set5 baby": ("tune", SR_X8, 2000, "Set5/baby.png", 128, False),
    "sr x8 128 Set14 zebra": ("report", SR_X8, 2000, "Set14/zebra.png", 128, False),
    "inpaint 50% 128 boat": ("report", [*INPAINT, "mask.missing_fraction=0.5"], 2000, "classic/boat.png", 128, False),
    "jpeg q10 128 monarch": ("tune", ["task=jpeg"], 2400, "Set14/monarch.png", 128, False),
    "denoise s25 256 Set14 barbara": ("tune", ["task=denoise"], 1800, "Set14/barbara.png", 256, False),
    "denoise s25 256 Set14 pepper": ("report", ["task=denoise"], 1800, "Set14/pepper.png", 256, False),
    # the failure the stopping issue reported: ES-WMV's variance kept falling on this 64 x 64 photo
    "denoise s25 64 astronaut": ("tune", ["task=denoise"], 3000, "astronaut", 64, False),
}
ES_PATIENCE = (300, 500, 1000)
ES_MIN_DELTA = (0.0, 0.001, 0.003, 0.01, 0.03)
VAL_PATIENCE = (200, 300, 500, 1000)
VAL_SMOOTHING = (0.03, 0.1, 0.3)


def config(overrides: list[str]):
    from dip_lightning.config.location import config_dir
    from dip_lightning.config.resolvers import register_resolvers

    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        return compose("config", overrides=[*overrides, "~logger", "check_fit=false", "save_every=null"])


class Trace(pl.Callback):
    """Every step: the raw and averaged outputs' PSNR against the ground truth, ES-WMV's variance and, with a
    validation rule beside it, the held-out errors of the raw and averaged outputs."""

    def __init__(self, validation=None):
        from dip_lightning.stopping.detectors import WindowedVariance

        self.detector, self.validation = WindowedVariance(WINDOW, 10**9), validation
        self.rows = {name: [] for name in ("psnr", "psnr_avg", "variance", "held_out", "held_out_avg")}

    @torch.no_grad()
    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        from dip_lightning.fitting.metrics import psnr
        from dip_lightning.stopping.held_out import held_out_error

        output, average = outputs["output"], outputs["output_avg"]
        self.detector.update(output)
        rows = self.rows
        rows["variance"].append(
            None if self.detector.variance is None else float(f"{self.detector.variance.item():.5g}")
        )
        rows["psnr"].append(round(psnr(output, module.ground_truth), 3))
        rows["psnr_avg"].append(round(psnr(average, module.ground_truth), 3))
        if self.validation is not None:
            operator, observed, held = module.physics.operator, module.observed, self.validation.criterion.held_out.held
            for name, image in (("held_out", output), ("held_out_avg", average)):
                rows[name].append(float(f"{held_out_error(operator(image) - observed, held).item():.6g}"))


def fit(cfg, callbacks: list) -> pl.LightningModule:
    """The config's fit as a run fits it (its module, precision and layout: train.module_for), with
    `callbacks` and nothing else."""
    from dip_lightning.hardware.precision import resolve_precision
    from dip_lightning.train import module_for

    precision = resolve_precision("auto", "cpu")  # as a run's default: bf16 where the CPU has it natively
    module, _ = module_for(cfg, None, precision)
    quiet = dict(logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
    pl.Trainer(max_steps=cfg.task.num_iter, precision=precision, callbacks=callbacks, **quiet).fit(module)
    return module


def run_case(name: str) -> dict:
    torch.set_num_threads(1)
    from dip_lightning.build import build_stopping

    half, overrides, budget, image, size, also_full = CASES[name]
    if "/" in image:  # a file of ../shared/data, its central size x size pixels
        common = [*overrides, "image=file", f"image.source={DATA / image}", f"image.center_crop={size}"]
    else:  # an embedded photo, shrunk to `size` on its longer side
        common = [*overrides, f"image={image}", f"image.max_size={size}"]
    common += [f"task.num_iter={budget}"]
    started = time.perf_counter()
    cfg = config([*common, "stopping=validation", "stopping.patience=1000000000"])  # records, never stops
    validation = build_stopping(cfg)
    trace = Trace(validation)
    fit(cfg, [validation, trace])
    result = {"case": name, "half": half, "budget": budget, "size": size, "trace": trace.rows}
    if also_full:
        full = Trace()
        fit(config([*common, "stopping=none"]), [full])
        result["full"] = {name: full.rows[name] for name in ("psnr", "psnr_avg", "variance")}
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(f"{name}: {result['seconds']:.0f} s", flush=True)
    return result


# ----- the rules, read off a trace ---------------------------------------------------------------------
def es_decision(
    variance: list[float | None],
    patience: int,
    lag: int,
    min_delta: float = 0.0,
    held_out: list[float] | None = None,
    smoothing: float = 0.1,
) -> tuple[int, int, int]:
    """(the step whose output is kept, the steps run, the step whose average is kept): ES-WMV's rule on a
    recorded variance (steps from 1), with the average kept `lag` steps after the output or at the stop;
    with the recorded `held_out` errors, gated by them as LowestVariance's HeldOutGate."""
    best, best_step, used = float("inf"), 0, len(variance)
    smoothed, at_kept = None, float("inf")
    for step, value in enumerate(variance, start=1):
        if held_out is not None:
            error = held_out[step - 1]
            smoothed = error if smoothed is None else smoothed + smoothing * (error - smoothed)
        if value is None:
            continue
        if value < best * (1 - min_delta) and (smoothed is None or smoothed <= at_kept):
            best, best_step, at_kept = value, step, smoothed
        elif step - best_step >= patience:
            used = step
            break
    return best_step, used, min(best_step + lag, used)


def validation_decision(errors: list[float], errors_avg: list[float], patience: int, smoothing: float):
    """The same triple for held-out validation, decided by the criterion's own detector on the recorded errors."""
    from dip_lightning.stopping.held_out import HeldOutMinimum

    detector = HeldOutMinimum(patience, smoothing)
    used = len(errors)
    for step, (error, error_avg) in enumerate(zip(errors, errors_avg, strict=True), start=1):
        detector.update(torch.tensor([error]), torch.tensor([error_avg]), step)
        if detector.stopped.all():
            used = step
            break
    return detector.output.best_step.item(), used, detector.average.best_step.item()


NOISY_TASKS = ("denoise", "deblur", "jpeg")  # the tasks whose physics adds noise (conf/task: physics.noise)


def task_of(result: dict) -> str:
    return result["case"].split()[0]


def outcome(result: dict, decision: tuple[int, int, int]) -> dict:
    kept, used, kept_avg = decision
    trace = result["trace"]
    oracle, final = max(trace["psnr_avg"]), trace["psnr_avg"][-1]
    psnr = trace["psnr_avg"][kept_avg - 1]
    return {
        "psnr": psnr,
        "gap": oracle - psnr,
        "below_fixed": final - psnr,
        "used": used / result["budget"],
        "kept": kept,
        "kept_avg": kept_avg,
    }


def fixed(result: dict) -> tuple[int, int, int]:
    budget = len(result["trace"]["psnr_avg"])
    return budget, budget, budget


def es(result: dict, patience: int, min_delta: float) -> tuple[int, int, int]:
    return es_decision(result["trace"]["variance"], patience, LAG, min_delta)


def validation(result: dict, patience: int, smoothing: float) -> tuple[int, int, int]:
    return validation_decision(result["trace"]["held_out"], result["trace"]["held_out_avg"], patience, smoothing)


def gated(result: dict, patience: int, min_delta: float) -> tuple[int, int, int]:
    """ES-WMV gated by held-out pixels (stopping=wmv's default): a lower variance moves the kept step only
    if the smoothed held-out error is no higher there."""
    return es_decision(result["trace"]["variance"], patience, LAG, min_delta, result["trace"]["held_out"])


def noise_aware(result: dict, patience: int, smoothing: float) -> tuple[int, int, int]:
    """stopping=auto's choice: validation where the task's observation is noisy, the budget where it is not."""
    return validation(result, patience, smoothing) if task_of(result) in NOISY_TASKS else fixed(result)


def rules() -> dict[str, callable]:
    table = {"fixed budget": fixed}
    for p in ES_PATIENCE:
        for d in ES_MIN_DELTA:
            table[f"ES-WMV p{p} d{d}"] = lambda r, p=p, d=d: es(r, p, d)
    for p in VAL_PATIENCE:
        for s in VAL_SMOOTHING:
            table[f"validation p{p} s{s}"] = lambda r, p=p, s=s: validation(r, p, s)
            table[f"noise-aware: validation p{p} s{s} on noisy tasks, budget otherwise"] = lambda r, p=p, s=s: (
                noise_aware(r, p, s)
            )
    for p in ES_PATIENCE:
        for d in ES_MIN_DELTA:
            table[f"gated ES-WMV p{p} d{d}"] = lambda r, p=p, d=d: gated(r, p, d)
    return table


FAMILIES = ("ES-WMV", "validation", "gated ES-WMV", "noise-aware")


def summary(outcomes: list[dict]) -> dict:
    gaps = [o["gap"] for o in outcomes]
    return {
        "mean_gap": statistics.fmean(gaps),
        "worst_gap": max(gaps),
        "worst_below_fixed": max(o["below_fixed"] for o in outcomes),
        "used": statistics.fmean(o["used"] for o in outcomes),
    }


def choose(results: list[dict], family: str) -> str:
    """The setting of a rule family with the lowest mean gap on the tune half (to 0.01 dB), ties by the worst
    gap (to 0.01 dB), then by the fewest steps."""
    tune = [r for r in results if r["half"] == "tune"]
    candidates = {name: rule for name, rule in rules().items() if name.startswith(family)}
    scored = {name: summary([outcome(r, rule(r)) for r in tune]) for name, rule in candidates.items()}
    return min(
        scored, key=lambda n: (round(scored[n]["mean_gap"], 2), round(scored[n]["worst_gap"], 2), scored[n]["used"])
    )


def summary_table(cases: list[dict], names: list[str], table: dict) -> list[str]:
    lines = ["| rule | mean gap | worst gap | worst below fixed | steps used (of the budget) |"]
    lines.append("|---|---|---|---|---|")
    for name in names:
        s = summary([outcome(r, table[name](r)) for r in cases])
        lines.append(
            f"| {name} | {s['mean_gap']:.2f} | {s['worst_gap']:.2f} | {s['worst_below_fixed']:.2f} | "
            f"{s['used'] * 100:.0f} % |"
        )
    return lines


def analyse(results: list[dict], minutes: float | None, command: str) -> str:
    from dip_lightning.hardware.precision import resolve_precision

    chosen = {family: choose(results, family) for family in FAMILIES}
    table = rules()
    shown = ["fixed budget", *chosen.values()]
    short = ["fixed", "ES-WMV", "validation", "gated ES-WMV", "noise-aware"]
    sizes = sorted({r["size"] for r in results})
    lines = [
        "# When to stop without ground truth: ES-WMV and held-out validation against the fixed budget",
        "",
        f"- Machine: {TRACES_MACHINE if minutes is None else f'{cpu_name()} ({cpu_flags()})'}, 1 thread per case,"
        f" 2 cases at a time; torch {torch.__version__};",
        f"  precision {resolve_precision('auto', 'cpu')} (trainer.precision=auto); date "
        + (f"{datetime.date.today()}; {minutes:.0f} minutes" if minutes else TRACES_DATE),
        f"- Command: `{command}` (cases run in several invocations, each adding its traces to the same file).",
        "  The fits shared the machine with other work: their times are no benchmark; the PSNRs do not depend on it.",
        f"- {len(results)} cases, crops of {', '.join(str(s) for s in sizes)} px: a centre crop of a ../shared/data"
        " image, the task's budget, 5 % of the",
        "  observed pixels held out of the fit (8 x 8 blocks for JPEG); PSNR of the averaged output (exp_weight 0.99)",
        "  against the ground truth; oracle = its best within the budget; gap = oracle - the PSNR of the average a",
        "  rule keeps; 'below fixed' = the fixed budget's final PSNR - the rule's (positive: the rule did worse).",
        "- Settings chosen on the tune half (lowest mean gap, then worst gap), reported on the report half only:",
        *(f"  {family}: {name}" for family, name in chosen.items()),
        "  (p = patience, d = min_delta, s = smoothing). 'ES-WMV': the variance alone, as the paper; 'gated':",
        "  a lower variance moves the kept step only where the held-out error (smoothing 0.1) is no higher than",
        "  at the kept step. 'noise-aware': validation on the tasks whose physics adds noise",
        f"  ({', '.join(NOISY_TASKS)}), the paper's budget on the noiseless ones (inpaint, sr).",
        "- The gaps here are to the best of the fit with the pixels held out. Against the best of the same fit on",
        "  all pixels, per case and half, with the default on a photo (profile=fast: held_out.fraction=auto,",
        "  hand_back=300): [stopping_all_pixels.md](stopping_all_pixels.md).",
        "",
    ]
    for half in ("report", "tune"):
        cases = [r for r in results if r["half"] == half]
        lines += [f"## The {half} half ({len(cases)} cases)", "", *summary_table(cases, shown, table), ""]
        lines += ["Per task (mean gap / worst below fixed):", ""]
        lines += ["| task | cases | " + " | ".join(short) + " |", "|---|---" + "|---" * len(short) + "|"]
        for task in sorted({task_of(r) for r in cases}):
            group = [r for r in cases if task_of(r) == task]
            cells = []
            for name in shown:
                s = summary([outcome(r, table[name](r)) for r in group])
                cells.append(f"{s['mean_gap']:.2f} / {s['worst_below_fixed']:.2f}")
            lines.append(f"| {task} | {len(group)} | " + " | ".join(cells) + " |")
        lines += ["", "| case | oracle (step) | " + " | ".join(f"{n} (steps)" for n in short) + " |"]
        lines.append("|---|---" + "|---" * len(short) + "|")
        for r in cases:
            t = r["trace"]
            oracle = max(t["psnr_avg"])
            cells = [outcome(r, table[name](r)) for name in shown]
            lines.append(
                f"| {r['case']} | {oracle:.2f} ({t['psnr_avg'].index(oracle) + 1}) | "
                + " | ".join(f"{c['psnr']:.2f} ({c['used'] * r['budget']:.0f})" for c in cells)
                + " |"
            )
        lines.append("")
    full = [r for r in results if "full" in r]
    if full:
        lines += ["## What holding 5 % of the pixels out costs the fit, and what a refit on all pixels wins back", ""]
        lines += [
            "The refit: a second fit of the same seed on every pixel, for as many steps as validation kept its",
            "average at; its average at that step (read off the all-pixel trace). It costs those steps again.",
            "",
            "| case | oracle, all pixels | oracle, held out | fixed, all | fixed, held out | validation | refit |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in full:
            kept = outcome(r, table[chosen["validation"]](r))
            refit = r["full"]["psnr_avg"][kept["kept_avg"] - 1]
            lines.append(
                f"| {r['case']} | {max(r['full']['psnr_avg']):.2f} | {max(r['trace']['psnr_avg']):.2f} | "
                f"{r['full']['psnr_avg'][-1]:.2f} | {r['trace']['psnr_avg'][-1]:.2f} | {kept['psnr']:.2f} | "
                f"{refit:.2f} |"
            )
        lines.append("")
    lines += ["## Every setting on each half (mean gap / worst gap / worst below fixed / steps used)", ""]
    lines += ["| rule | tune | report |", "|---|---|---|"]
    for name, rule in table.items():
        cells = []
        for half in ("tune", "report"):
            s = summary([outcome(r, rule(r)) for r in results if r["half"] == half])
            cells.append(
                f"{s['mean_gap']:.2f} / {s['worst_gap']:.2f} / {s['worst_below_fixed']:.2f} / {s['used'] * 100:.0f} %"
            )
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument("--analyse", action="store_true", help="only analyse the saved traces")
    parser.add_argument("--output", type=Path, default=HERE / "stopping_benchmark.md")
    args = parser.parse_args()
    traces = args.output.with_name(args.output.stem + "_traces.json")
    command = "python experiments/stopping_benchmark.py" + (f" --cases '{args.cases}'" if args.cases else "")
    minutes = None
    if args.analyse:
        results = json.loads(traces.read_text())
    else:
        names = args.cases.split(",") if args.cases else list(CASES)
        started = time.perf_counter()
        done = json.loads(traces.read_text()) if traces.is_file() else []
        todo = [name for name in names if name not in {r["case"] for r in done}]
        with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
            for result in pool.imap_unordered(run_case, todo):
                done.append(result)
                traces.write_text(json.dumps(done))  # what is done so far survives an interruption
        results = done
        minutes = (time.perf_counter() - started) / 60
    results = [r for r in results if r["case"] in CASES]
    report = analyse(results, minutes, command)
    args.output.write_text(report)
    args.output.with_suffix(".json").write_text(
        json.dumps([{k: v for k, v in r.items() if k not in ("trace", "full")} for r in results], indent=1)
    )
    print(report)


if __name__ == "__main__":
    main()
