"""Time to a result against its quality: settings of the fit on a user's photo, each run as a user runs it
(`python -m dip_lightning observed=PHOTO` plus the setting), against today's default (`profile=paper`).

A case is a centre crop of a ../shared/data image at 128 or 256 px, corrupted by the product's own physics
for the task (Gaussian noise of sigma 10 / 25 / 50, JPEG at quality 10, Gaussian blur with noise; seed 0),
saved as a PNG: the photo. Its clean crop is given as `ground_truth=`, which scores the result and changes
nothing in the fit. Each run is timed from the command to its exit (the time until the result is written,
imports and pictures included), alone on the machine, one run at a time; the quality is the PSNR of the
kept average (results.json's psnr_avg). Cases are split into a `tune` half, on which the fast profile's
settings are chosen, and a `report` half, on which they are reported. Every run is appended to
fast_profile.json as it ends (an interrupted benchmark keeps what it measured); --analyse writes
fast_profile.md and the frontier plot fast_profile.png from it.

    python experiments/benchmarks/fast_profile.py --halves tune --sizes 128 --settings "today,w64 p100" \
        [--tasks s25,jpeg]
    python experiments/benchmarks/fast_profile.py --halves report --sizes 128 --settings auto,paper
    python experiments/benchmarks/fast_profile.py --analyse
"""

import argparse
import datetime
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from suite import machine, report_header

from dip_lightning.data.images import load_image, save_png

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[2] / "shared" / "data"
RESULTS, REPORT, PLOT = HERE / "fast_profile.json", HERE / "fast_profile.md", HERE / "fast_profile.png"
WORK = Path("/tmp/dip-fast-profile")
BASELINES = ("today", "paper")  # today's default, before and after the profiles (the same config)
# the reference's input noise for sigma 50 is a synthetic experiment's choice: a user's photo gets the default
TASKS = {"s10": ["task=denoise", "task.sigma=10"], "s25": ["task=denoise"], "s50": ["task=denoise", "task.sigma=50"],
         "jpeg": ["task=jpeg"], "deblur": ["task=deblur"]}  # fmt: skip
# (task, size) -> {half: image}; the 128 and 256 px cases of the stopping benchmark where it has them
CASES = {
    ("s10", 128): {"tune": "cbm3d9/kodim12.png", "report": "cbm3d9/lena.png"},
    ("s25", 128): {"tune": "cbm3d9/kodim03.png", "report": "Set14/face.png"},
    ("s50", 128): {"tune": "cbm3d9/peppers.png", "report": "cbm3d9/hill.png"},
    ("jpeg", 128): {"tune": "Set14/monarch.png", "report": "Set14/foreman.png"},
    ("deblur", 128): {"tune": "cbm3d9/kodim01.png", "report": "Set14/flowers.png"},
    ("s10", 256): {"tune": "classic/house.png", "report": "cbm3d9/kodim02.png"},
    ("s25", 256): {"tune": "Set14/barbara.png", "report": "Set14/pepper.png"},
    ("s50", 256): {"tune": "classic/boat.png", "report": "cbm3d9/baboon.png"},
    ("jpeg", 256): {"tune": "Set5/bird.png", "report": "Set14/lenna.png"},
    ("deblur", 256): {"tune": "classic/couple.png", "report": "Set5/butterfly.png"},
}
WIDTHS = {"denoise": [128] * 5, "jpeg": [8, 16, 32, 64, 128]}  # the skip network's widths per level (task_arch)
WIDTH_64, WIDTH_32 = ["width/2"], ["width/4"]  # the task's widths halved, quartered
NEAREST = ["arch.upsample_mode=nearest"]
PYRAMID = [f"arch.num_channels_{part}=[16,32,64,64,64]" for part in ("down", "up")]  # narrow where the map is large
SETTINGS = {  # name -> overrides: the candidates tried on the tune half, before the profiles existed (`today`:
    # no override, what observed= ran then), the profiles (`paper`: profile=paper, today's settings; `auto`:
    # no override, what observed= runs now, the fast profile), and candidates on top of the fast profile
    "paper": ["profile=paper"],
    "auto": [],
    "today": [],
    "p100": ["stopping.patience=100"],
    "w64": WIDTH_64,
    "w64 p100": [*WIDTH_64, "stopping.patience=100"],
    "w32 p100": [*WIDTH_32, "stopping.patience=100"],
    "auto nearest": NEAREST,  # the fast profile with nearest-neighbour upsampling (FasterDIP)
    "auto pyramid": PYRAMID,  # widths growing with depth, as JPEG's network (denoise and deblur: JPEG has its own)
    "auto noreg": ["prior.reg_noise_std=0"],  # no input noise: the fit runs ahead, the stop comes sooner
    "auto avg0.98": ["task.exp_weight=0.98"],  # an average that follows the output sooner
    "auto nearest avg0.98": [*NEAREST, "task.exp_weight=0.98"],  # both, on denoising
    "auto lr0.02": ["optimizer.lr=0.02"],  # deblurring, still rising at its budget's end: a plateau sooner?
    "w64 lr0.02 p100": [*WIDTH_64, "optimizer.lr=0.02", "stopping.patience=100"],
    # on top of the fast profile as it is now (PROFILE_NOW's settings); the network ones on denoise and deblur
    "now depth4": [
        *(f"arch.num_channels_{part}=[64,64,64,64]" for part in ("down", "up")),
        "arch.num_channels_skip=[4,4,4,4]",
    ],
    "now skip deep": ["arch.num_channels_skip=[0,0,0,4,4]"],  # JPEG's network's: no skip at the 3 larger scales
    "now warmup": ["scheduler=warmup"],  # lr from 0.001 to 0.01 over the first 100 steps
    "now cosine": ["scheduler=cosine"],  # lr decaying to 0 at the budget's end
    # the fast profile as it is, run again beside a candidate stopping rule (2026-12-05): the rule chosen on the tune
    # half of experiments/stopping_all_pixels.md over five seeds (resolution 0.5, patience growth 0.3), not adopted
    "now": [],
    "now r0.5 g0.3": ["++stopping.resolution=0.5", "++stopping.patience_growth=0.3"],
    "now rule before": ["++stopping.resolution=0.0", "++stopping.patience_growth=0.0"],  # `now`'s rule, spelled out
    # the same two after 0552517: every run before it drew z from the stream that had made its photo's noise
    # (photo() makes the observation with seed 0, the runs' seed), so the network got the noise as input
    "own z: now": [],  # (run before the profile took the rule: `now`'s rule then)
    "own z: paper": ["profile=paper"],
    "own z: now r0.5 g0.3": ["++stopping.resolution=0.5", "++stopping.patience_growth=0.3"],
    # the profile's rule since 2026-12-05 afternoon (growth 0.2, no resolution: experiments/stopping_all_pixels.md,
    # "128 px photos at sigma 50"), spelled out, beside the paper profile again in the same run
    "own z: now g0.2": ["++stopping.resolution=0.0", "++stopping.patience_growth=0.2"],
    "own z: paper again": ["profile=paper"],
}

# the fast profile as it is now: per task, the setting that is it (summarised as one setting, PROFILE_NOW). The
# `auto` rows (to 2026-12-04) are the profile before it took the 0.98 average: an `auto` run made since is the
# profile now, and would be given a setting name of its own. Nearest upsampling on denoise was the profile for a
# few hours of 2026-12-04 (`auto nearest avg0.98`), until experiments/stopping_all_pixels.md showed its stops early
# The candidate stopping rule of 2026-12-05 (`now r0.5 g0.3`) is measured against the profile (`now`, `now rule
# before`) in one run: the conclusions compare those two; `fast profile now` stays the rows measured against `paper`.
PROFILE_NOW = "fast profile now"
NOW = {task: "auto avg0.98" for task in TASKS}


def case_name(task: str, size: int, image: str) -> str:
    return f"{task} {size} {Path(image).stem}"


def overrides(setting: str, task: str) -> list[str]:
    """The setting's overrides for the task, widths made the task's own."""
    made = []
    for override in SETTINGS[setting]:
        if override.startswith("width/"):
            widths = [
                max(1, width // int(override.split("/")[1]))
                for width in WIDTHS.get(TASKS[task][0][5:], WIDTHS["denoise"])
            ]
            made += [f"arch.num_channels_{part}=[{','.join(map(str, widths))}]" for part in ("down", "up")]
        else:
            made.append(override)
    return made


def photo(task: str, size: int, image: str) -> tuple[Path, Path]:
    """The clean crop and its observation, as PNG files (made once)."""
    folder = WORK / case_name(task, size, image).replace(" ", "_")
    clean, observed = folder / "clean.png", folder / "observed.png"
    if not observed.is_file():
        from dip_lightning.build import build_problem
        from dip_lightning.config.composition import composed

        folder.mkdir(parents=True, exist_ok=True)
        save_png(load_image(DATA / image, center_crop=size), clean)
        with composed([*TASKS[task], "image=file", f"image.source={clean}", "image.max_size=null"]) as cfg:
            _, problem = build_problem(cfg)
        save_png(problem.observed[0].clamp(0, 1), observed)
    return clean, observed


def run(task: str, size: int, image: str, setting: str) -> dict:
    """One run as a user runs it, timed from the command to its exit."""
    clean, observed = photo(task, size, image)
    folder = WORK / "runs" / f"{case_name(task, size, image)} {setting}".replace(" ", "_")
    command = [sys.executable, "-m", "dip_lightning", *TASKS[task][:1], f"observed={observed}",
               f"ground_truth={clean}", *overrides(setting, task), f"hydra.run.dir={folder}"]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}\n{done.stderr[-2000:]}")
    record = json.loads((folder / "results.json").read_text())
    return {
        "case": case_name(task, size, image), "task": task, "size": size, "setting": setting,
        "overrides": overrides(setting, task), "seconds": round(seconds, 1), "fit_seconds": record["seconds"],
        "steps": record["steps"], "psnr_avg": record["psnr_avg"], "best_psnr_avg": record["best_psnr_avg"],
        "psnr_input": record["psnr_input"], "num_params": record["num_params"], "precision": record["precision"],
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), "machine": machine_of(record),
    }  # fmt: skip


def machine_of(record: dict) -> str:
    """The machine a run ran on, with the threads the run itself used (results.json), not this process's."""
    return re.sub(r"\d+ threads", f"{record['threads']} threads", machine())


def same_machine(name: str) -> bool:
    """Whether a run's machine is this one (threads aside): a run is measured again on another machine."""
    return re.sub(r"\d+ threads", "", name) == re.sub(r"\d+ threads", "", machine())


def saved() -> list[dict]:
    return json.loads(RESULTS.read_text()) if RESULTS.is_file() else []


def measure(args) -> None:
    for (task, size), halves in CASES.items():
        if size not in args.sizes or (args.tasks and task not in args.tasks):
            continue
        for half in args.halves:
            for setting in args.settings:
                done = {(row["case"], row["setting"]) for row in saved() if same_machine(row["machine"])}
                if (case_name(task, size, halves[half]), setting) in done:
                    continue
                row = {"half": half, **run(task, size, halves[half], setting)}
                RESULTS.write_text(json.dumps([*saved(), row], indent=1))
                print(f"{row['case']:24} {setting:18} {row['seconds']:7.1f} s {row['steps']:5} steps "
                      f"{row['psnr_avg']:.2f} dB", flush=True)  # fmt: skip


def analyse(args) -> None:
    rows = saved()
    baseline = {(row["case"], row["machine"]): row for row in rows if row["setting"] in BASELINES}
    machines = sorted({row["machine"] for row in rows})  # a setting is compared with the baseline on its machine
    tag = {name: f"M{number}" for number, name in enumerate(machines, start=1)}
    lines = report_header(
        "A user's photo sooner: settings against today's default, time to the result and its PSNR",
        datetime.datetime.now().astimezone(), args.note,
        "- Baseline: today's default, `today` (no override, before the profiles: the tune half) or `paper` "
        "(`profile=paper`, the same config after them: the report half); every run "
        "`python -m dip_lightning observed=PHOTO ground_truth=CLEAN SETTING`, alone, 2 threads; a run is compared "
        "with the baseline run on its own machine (the Machine line above: where this report was written)",
        *(f"- {tag[name]}: {name}" for name in machines),
    )  # fmt: skip
    summary = {}
    for half in ("tune", "report"):
        lines += ["", f"## The {half} half", ""]
        lines += [
            "| case | machine | setting | seconds | x sooner | steps | psnr_avg | vs baseline |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for size in (128, 256):
            now = []
            for setting in SETTINGS:
                paired = [(row, baseline[row["case"], row["machine"]]) for row in rows if row["half"] == half
                          and row["size"] == size and row["setting"] == setting
                          and (row["case"], row["machine"]) in baseline]  # fmt: skip
                now += [(row, base) for row, base in paired if NOW.get(row["task"]) == setting]
                for name in machines if setting not in BASELINES else ():
                    summarise(summary, (half, size, setting, tag[name]), paired, name)
                for row, base in paired:
                    sooner = base["seconds"] / row["seconds"]
                    lines.append(
                        f"| {row['case']} | {tag[row['machine']]} | {setting} | {row['seconds']:.0f} | {sooner:.2f} | "
                        f"{row['steps']} | {row['psnr_avg']:.2f} | {row['psnr_avg'] - base['psnr_avg']:+.2f} |"
                    )
            for name in machines:
                summarise(summary, (half, size, PROFILE_NOW, tag[name]), now, name)
    lines += ["", "## Per setting, half and size (x sooner: the baseline's total seconds over the setting's)", ""]
    lines += ["| half | size | setting | machine | cases | x sooner (total) | x sooner (least) | mean dB vs baseline "
              "| worst |", "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for (half, size, setting, name), row in summary.items():
        lines.append(
            f"| {half} | {size} | {setting} | {name} | {row['cases']} | {row['speedup']:.2f} | "
            f"{row['min_speedup']:.2f} | {row['mean_gap']:+.2f} | {row['worst_gap']:+.2f} |"
        )
    frontier(summary)
    lines += ["", f"![frontier]({PLOT.name})", ""]
    REPORT.write_text("\n".join(lines) + "\n" + (args.conclusions.read_text() if args.conclusions else ""))
    print("\n".join(lines))


def summarise(summary: dict, key: tuple, paired: list[tuple[dict, dict]], machine_name: str) -> None:
    """summary[key]: the pairs measured on the machine, if any."""
    if on_machine := [(row, base) for row, base in paired if row["machine"] == machine_name]:
        summary[key] = summarised(on_machine)


def summarised(paired: list[tuple[dict, dict]]) -> dict:
    """A setting's runs against the baseline's on the same cases."""
    gaps = [row["psnr_avg"] - base["psnr_avg"] for row, base in paired]
    return {
        "cases": len(paired),
        "speedup": sum(base["seconds"] for _, base in paired) / sum(row["seconds"] for row, _ in paired),
        "min_speedup": min(base["seconds"] / row["seconds"] for row, base in paired),
        "mean_gap": statistics.mean(gaps),
        "worst_gap": min(gaps),
    }


def frontier(summary: dict) -> None:
    """How much sooner against how much PSNR of the kept average, one point per setting, half and size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7.5, 4.8))
    for (half, size, setting, name), row in summary.items():
        colour, marker = f"C{(size == 256) * 2 + (half == 'report')}", "o" if half == "tune" else "s"
        now = setting == PROFILE_NOW  # drawn larger, edged and labelled in bold
        axis.scatter(row["speedup"], row["mean_gap"], marker=marker, color=colour, s=90 if now else 36,
                     edgecolors="black" if now else "none", zorder=3 if now else 2)  # fmt: skip
        point = (row["speedup"], row["mean_gap"])
        axis.annotate(f"{setting} {name}", point, fontsize=7, xytext=(3, 3), textcoords="offset points",
                      fontweight="bold" if now else "normal")  # fmt: skip
    for half, size in sorted({(half, size) for half, size, _, _ in summary}):
        colour, marker = f"C{(size == 256) * 2 + (half == 'report')}", "o" if half == "tune" else "s"
        axis.scatter([], [], marker=marker, color=colour, label=f"{half} half, {size} px")
    axis.set_xscale("log")
    axis.set_xlabel("times sooner than today's default (total seconds to the result, log)")
    axis.set_ylabel("mean PSNR of the kept average vs today's default (dB)")
    axis.axhline(0, color="gray", lw=0.5)
    axis.axhline(-0.3, color="red", lw=0.5, ls="--")
    axis.axvline(4, color="red", lw=0.5, ls="--")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(PLOT, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--halves", type=lambda text: text.split(","), default=["tune", "report"])
    parser.add_argument("--sizes", type=lambda text: [int(size) for size in text.split(",")], default=[128, 256])
    parser.add_argument("--tasks", type=lambda text: text.split(","), default=None, help=f"of {', '.join(TASKS)}")
    parser.add_argument("--settings", type=lambda text: text.split(","), default=["paper", "auto"])
    parser.add_argument("--analyse", action="store_true", help="write the report from fast_profile.json")
    parser.add_argument("--conclusions", type=Path, default=None, help="a markdown file appended to the report")
    parser.add_argument("--note", default=None)
    args = parser.parse_args()
    if args.analyse:
        analyse(args)
    else:
        torch.set_num_threads(1)  # the photos are made here; the runs are processes of their own
        measure(args)


if __name__ == "__main__":
    main()
