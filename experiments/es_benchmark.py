"""When to stop, measured: ES-WMV against the paper's fixed budgets, and restarts at the same total steps.

For each setting (denoising at sigma 25 and 50, inpainting with half the pixels missing, SR x4) and image
of ../shared/data (not those the defaults were tuned on), on the central 128 x 128 pixels:

1. one run of the paper's fixed budget records, at every step, the PSNR of the raw and averaged outputs
   against the ground truth (the averaged output's best is the oracle's peak) and ES-WMV's windowed
   variance of the raw output (window 100). ES-WMV's decision for a patience P is then read off that
   record exactly as the callback makes it during a run: the step of the lowest variance not beaten in the
   next P steps; the run would have used that step + P steps, and returned the raw output at that step and
   the averaged output stopping.average_lag=auto steps later (3 / (1 - 0.99) = 300), or at the stop
   if that comes first. The gap is the oracle's peak minus that averaged output's PSNR.
2. runs with restarts=2 and 4, each restart with budget / N steps (the same total as one fixed-budget
   run) and its own ES-WMV stop: the PSNR of the mean of their averaged outputs, each kept as a run keeps
   it (stopping.average_lag=auto), against the single run's oracle peak.

Writes es_benchmark.md (and the raw numbers, es_benchmark.json) beside this script. Cases run two at a
time, one thread each (2 cores).

    python experiments/es_benchmark.py [--images 2] [--patience 500] [--jobs 2] [--quick]
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
WINDOW = 100
PATIENCES = (200, 300, 500, 1000)
# setting -> (overrides, the paper's fixed budget, images: not the ones the defaults were tuned on)
SETTINGS = {
    "denoise sigma 25": (["task=denoise", "task.sigma=25"], 3000, ["cbm3d9/kodim03.png", "cbm3d9/peppers.png"]),
    "denoise sigma 50": (
        ["task=denoise", "task.sigma=50", "task.reg_noise_std=0.05"],  # the reference: 1/20 for sigma 50
        3000,
        ["cbm3d9/kodim03.png", "cbm3d9/peppers.png"],
    ),
    "inpaint 50 % missing": (
        ["task=inpaint", "mask=bernoulli", "mask.missing_fraction=0.5"],
        3000,
        ["classic/boat.png", "classic/house.png"],
    ),
    "sr x4": (["task=sr", "task.factor=4"], 2000, ["Set5/bird.png", "Set14/monarch.png"]),
}


def config(overrides: list[str]):
    from dip_lightning.config.location import config_dir

    GlobalHydra.instance().clear()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        return compose("config", overrides=[*overrides, "~logger", "check_fit=false", "save_every=null"])


class Record(pl.Callback):
    """Every step: the raw and averaged outputs' PSNR against the ground truth and ES-WMV's variance."""

    def __init__(self):
        from dip_lightning.stopping.detectors import WindowedVariance

        self.detector = WindowedVariance(WINDOW, 10**9)
        self.psnr, self.psnr_avg, self.variance = [], [], []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        from dip_lightning.fitting.metrics import psnr

        self.detector.update(outputs["output"])
        self.variance.append(None if self.detector.variance is None else self.detector.variance.item())
        self.psnr.append(psnr(outputs["output"].mean(0, keepdim=True), module.ground_truth))
        self.psnr_avg.append(psnr(outputs["output_avg"].mean(0, keepdim=True), module.ground_truth))


def fit(cfg, callbacks: list) -> "pl.LightningModule":
    from dip_lightning.build import build_module
    from dip_lightning.hardware.precision import resolve_precision

    module = build_module(cfg)
    quiet = dict(logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
    precision = resolve_precision("auto", "cpu")  # as a run's default: bf16 where the CPU has it natively
    pl.Trainer(max_steps=cfg.task.num_iter, precision=precision, callbacks=callbacks, **quiet).fit(module)
    return module


def es_decision(variance: list[float | None], patience: int, lag: int) -> tuple[int, int, int]:
    """(the step whose output is kept, the steps run, the step whose average is kept): ES-WMV's rule on a
    recorded variance (steps from 1), with the average kept `lag` steps after the output or at the stop."""
    best, best_step, used = float("inf"), 0, len(variance)
    for step, value in enumerate(variance, start=1):
        if value is None:
            continue
        if value < best:
            best, best_step = value, step
        elif step - best_step >= patience:
            used = step
            break
    return best_step, used, min(best_step + lag, used)


def case(setting: str, image: str, budget: int, patience: int) -> dict:
    torch.set_num_threads(1)
    from dip_lightning.run.record import evaluate
    from dip_lightning.stopping.callback import EarlyStopping, auto_average_lag
    from dip_lightning.stopping.detectors import WindowedVariance

    overrides, _, _ = SETTINGS[setting]
    common = [*overrides, "image=file", f"image.source={DATA / image}", "image.center_crop=128"]
    started = time.perf_counter()
    record = Record()
    lag = auto_average_lag(fit(config([*common, f"task.num_iter={budget}"]), [record]).hparams.exp_weight)
    best = max(record.psnr_avg)
    result = {
        "oracle_raw": max(record.psnr),
        "setting": setting,
        "image": Path(image).stem,
        "budget": budget,
        "oracle": best,
        "oracle_step": record.psnr_avg.index(best) + 1,
        "final": record.psnr_avg[-1],
        "average_lag": lag,
    }
    for p in PATIENCES:
        kept, used, kept_avg = es_decision(record.variance, p, lag)
        at_stop = record.psnr_avg[kept_avg - 1]
        result[f"p{p}"] = {
            "kept": kept,
            "kept_avg": kept_avg,
            "used": used,
            "psnr": at_stop,
            "gap": best - at_stop,
            "psnr_raw": record.psnr[kept - 1],
        }
    for restarts in (2, 4):
        steps = budget // restarts
        cfg = config([*common, f"task.num_iter={steps}", f"restarts={restarts}"])
        stopping = EarlyStopping("ES-WMV", lambda generator: WindowedVariance(WINDOW, patience), seed=cfg.seed)
        module = fit(cfg, [stopping])
        result[f"restarts{restarts}"] = {"psnr": evaluate(module)["psnr_avg"], "steps": module.global_step * restarts}
    result["trace"] = {  # every step's numbers, to read other rules off later
        "psnr": [round(value, 3) for value in record.psnr],
        "psnr_avg": [round(value, 3) for value in record.psnr_avg],
        "variance": [None if value is None else float(f"{value:.4g}") for value in record.variance],
    }
    result["seconds"] = time.perf_counter() - started
    print(f"{setting}, {image}: {result['seconds']:.0f} s", flush=True)
    return result


def report(results: list[dict], patience: int, jobs: int, minutes: float, command: str) -> str:
    from dip_lightning.hardware.precision import resolve_precision

    lines = [
        "# When to stop: ES-WMV against the fixed budget, and restarts at the same total steps",
        "",
        f"- Machine: {cpu_name()} ({cpu_flags()}), 1 thread per case, {jobs} cases at a time; "
        f"torch {torch.__version__}; "
        f"precision {resolve_precision('auto', 'cpu')} (trainer.precision=auto)",
        f"- Date: {datetime.date.today()}; {minutes:.0f} minutes; command: `{command}`",
        "- Images: the central 128 x 128 pixels of ../shared/data images the defaults were not tuned on",
        f"- ES-WMV: window {WINDOW}; its decision read off each fixed-budget run's record (see the script): the",
        f"  raw output kept at the detected step, the average {results[0]['average_lag']} steps later or at the stop",
        "  (stopping.average_lag=auto)",
        "- PSNR: of the averaged output (exp_weight 0.99) against the ground truth; the oracle is its best over",
        "  the fixed budget; the gap is the oracle's minus the PSNR of the average ES-WMV keeps",
        "",
    ]
    for p in PATIENCES:
        gaps = [r[f"p{p}"]["gap"] for r in results]
        used = [r[f"p{p}"]["used"] / r["budget"] for r in results]
        mean_used = statistics.fmean(used)
        lines.append(
            f"- patience {p}: mean gap {statistics.fmean(gaps):.2f} dB, worst {max(gaps):.2f} dB; steps used "
            f"{mean_used * 100:.0f} % of the budget on average ({(1 - mean_used) * 100:.0f} % fewer)"
        )
    lines += ["", f"Per case, patience {patience}:", ""]
    lines += [
        "| setting | image | budget | final | oracle (step) | ES detected step | average kept at | ES psnr | gap | "
        "steps used | raw output at the detected step (its best) | restarts 2 | restarts 4 | "
        "restarts beat the oracle |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        es = r[f"p{patience}"]
        beats = ", ".join(str(n) for n in (2, 4) if r[f"restarts{n}"]["psnr"] > r["oracle"]) or "no"
        restarts = f"{r['restarts2']['psnr']:.2f} | {r['restarts4']['psnr']:.2f}"
        lines.append(
            f"| {r['setting']} | {r['image']} | {r['budget']} | {r['final']:.2f} | {r['oracle']:.2f} "
            f"({r['oracle_step']}) | {es['kept']} | {es['kept_avg']} | {es['psnr']:.2f} | {es['gap']:.2f} | "
            f"{es['used']} ({es['used'] / r['budget'] * 100:.0f} %) | {es['psnr_raw']:.2f} ({r['oracle_raw']:.2f}) | "
            f"{restarts} | {beats} |"
        )
    lines += ["", "Per setting (means):", ""]
    lines += ["| setting | gap | worst gap | steps used | final - oracle | restarts 2 - oracle | restarts 4 - oracle |"]
    lines += ["|---|---:|---:|---:|---:|---:|---:|"]
    for setting in dict.fromkeys(r["setting"] for r in results):
        rows = [r for r in results if r["setting"] == setting]
        es = [r[f"p{patience}"] for r in rows]
        lines.append(
            f"| {setting} | {statistics.fmean(e['gap'] for e in es):.2f} | {max(e['gap'] for e in es):.2f} | "
            f"{statistics.fmean(e['used'] / r['budget'] for e, r in zip(es, rows, strict=True)) * 100:.0f} % | "
            f"{statistics.fmean(r['final'] - r['oracle'] for r in rows):+.2f} | "
            f"{statistics.fmean(r['restarts2']['psnr'] - r['oracle'] for r in rows):+.2f} | "
            f"{statistics.fmean(r['restarts4']['psnr'] - r['oracle'] for r in rows):+.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2, help="images per setting")
    parser.add_argument("--patience", type=int, default=500, help="ES-WMV's patience in the restart runs")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="a smoke test: tiny budgets")
    parser.add_argument("--output", type=Path, default=Path(__file__).with_suffix(".md"))
    args = parser.parse_args()
    cases = [
        (setting, image, 60 if args.quick else budget, 20 if args.quick else args.patience)
        for setting, (_, budget, images) in SETTINGS.items()
        for image in images[: args.images]
    ]
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        results = pool.starmap(case, cases)
    traces = {f"{r['setting']}, {r['image']}": r.pop("trace") for r in results}  # the raw numbers, kept first
    args.output.with_name(args.output.stem + "_traces.json").write_text(json.dumps(traces))
    args.output.with_suffix(".json").write_text(json.dumps(results, indent=1))
    command = "python experiments/es_benchmark.py " + " ".join(
        f"--{name} {value}" for name, value in (("images", args.images), ("patience", args.patience))
    )
    text = report(results, args.patience, args.jobs, (time.perf_counter() - started) / 60, command)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
