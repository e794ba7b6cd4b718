"""Under the fixed budget, or one fit under another? The default against the fixed budget on the crops whose
peak lies at the budget's end, each photo fitted from several seeds.

experiments/stopping_all_pixels.py pairs each held-out fit with one fit on all pixels from the same seed, and
counts a fit "below fixed" when the default's answer is under that fit's last average. On the crops whose
peak lies at the budget's end, the default stops nowhere: it runs the budget, hands the held-out pixels back
for its last 300 steps, and its answer is its last average. There the pair compares two trajectories of the
same length, and the question is how far two such trajectories land apart anyway.

Each case here is the seed-0 observation of a crop of stopping_all_pixels.CASES, saved as a PNG (a user's
photo; its clean crop is given as `ground_truth=`, which scores and changes nothing), fitted from each of
SEEDS (the seed draws z, the network's weights and the held-out pixels; the photo stays the same) twice:
- `default`: as `python -m dip_lightning observed=PHOTO` fits it (profile=fast, its stopping rule with the
  hand-back, as it was when these fits were made: resolution 0.5, patience growth 0.3; today's has no resolution
  and growth 0.2: docs/stopping.md); its answer is the average it keeps;
- `fixed`: the same on every pixel for the budget (`stopping=none`); its answer is its last average.
What one fixed fit gives against another of the same photo (another seed) is the spread a user gets from the
seed alone (stopping_all_pixels.py --seeds saw it on the synthetic cases, where each seed also draws new noise;
here the photo is one and the same); the default's shortfall under its own seed's fixed fit is read against it. Writes
fixed_budget_spread.json (each fit as it ends; a rerun skips what is there) and fixed_budget_spread.md.

    python experiments/fixed_budget_spread.py [--jobs 2]   # fit what is missing, then analyse
    python experiments/fixed_budget_spread.py --analyse
"""

import argparse
import datetime
import json
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stopping_all_pixels import (  # noqa: E402
    CASES,
    DEFAULT,
    HANDING_BACK,
    PHOTO_SIZE,
    PROFILE,
    SEEDED,
    Trace,
    machine,
    outcome,
    rule_name,
)
from stopping_benchmark import DATA, config, fit  # noqa: E402

from dip_lightning.data.images import load_image, save_png  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "fixed_budget_spread.json"
WORK = Path("/tmp/fixed_budget_spread")  # the photos
# the crops whose default ran its whole budget on every seed in stopping_all_pixels.md ("Every detector with the
# hand-back"): the cases where "below fixed" compares two full-length trajectories
SPREAD_CASES = ("denoise s15 128 kate", "denoise s10 128 lena", "deblur 64 flowers", "denoise s10 64 kodim12")
SEEDS = (0, 1, 2, 3, 4)
# `default`: the fast profile's rule when these fits were made (stopping_all_pixels.RESOLVED, the hand-back
# included), pinned; `fixed`: the budget on every pixel
RULES = {"default": ["stopping.resolution=0.5", "stopping.patience_growth=0.3"], "fixed": ["stopping=none"]}
TOLERANCE = 0.1  # dB: "below fixed" counts a fit more than this under (stopping_all_pixels.md's count)


def photo(name: str) -> tuple[list[str], Path, Path]:
    """The case's task overrides, and its clean crop and seed-0 observation as PNG files (made once)."""
    _, overrides, _, image, size = CASES[name]
    return overrides, *photo_files(overrides, image, size, WORK / name.replace(" ", "_"))


def photo_files(overrides: list[str], image: str, size: int, folder: Path) -> tuple[Path, Path]:
    """A centre crop of a ../shared/data image and its seed-0 observation under the task `overrides`, saved in
    `folder` as PNG files (made once): a user's photo and its ground truth."""
    clean, observed = folder / "clean.png", folder / "observed.png"
    if not observed.is_file():
        from dip_lightning.build import build_problem
        from dip_lightning.config.composition import composed

        folder.mkdir(parents=True, exist_ok=True)
        save_png(load_image(DATA / image, center_crop=size), clean)
        with composed([*overrides, "image=file", f"image.source={clean}", "image.max_size=null", "seed=0"]) as cfg:
            _, problem = build_problem(cfg)
        save_png(problem.observed[0].clamp(0, 1), observed)
    return clean, observed


def run_fit(job: tuple[str, int, str]) -> dict:
    """One fit of a case's photo: job = (case, seed, rule)."""
    torch.set_num_threads(1)
    from dip_lightning.build import build_stopping

    name, seed, rule = job
    overrides, clean, observed = photo(name)
    budget = CASES[name][2]
    cfg = config([*overrides, PROFILE, f"observed={observed}", f"ground_truth={clean}", f"task.num_iter={budget}",
                  f"seed={seed}", *RULES[rule]])  # fmt: skip
    trace, started = Trace(), time.perf_counter()  # its average's PSNR every step
    stopping = build_stopping(cfg)
    module = fit(cfg, [trace] if stopping is None else [stopping, trace])
    kept = module.outputs.kept_steps()
    kept_avg = len(trace.psnr_avg) if kept is None else int(kept[1][0])
    seconds = time.perf_counter() - started
    print(f"{name}, seed {seed}, {rule}: {seconds:.0f} s, {module.global_step} steps, kept {kept_avg}", flush=True)
    return {
        "case": name, "half": CASES[name][0], "seed": seed, "rule": rule, "budget": budget,
        "steps": int(module.global_step), "kept_avg": kept_avg, "answer": trace.psnr_avg[kept_avg - 1],
        "best": max(trace.psnr_avg), "psnr_avg": trace.psnr_avg, "seconds": round(seconds, 1),
        "machine": machine(), "date": datetime.date.today().isoformat(),
    }  # fmt: skip


def saved() -> list[dict]:
    return json.loads(RESULTS.read_text()) if RESULTS.is_file() else []


def measure(jobs: int) -> None:
    done = {(row["case"], row["seed"], row["rule"]) for row in saved()}
    todo = [(name, seed, rule) for name in SPREAD_CASES for seed in SEEDS for rule in RULES]
    todo = [job for job in todo if job not in done]
    for name in SPREAD_CASES:
        photo(name)  # made once, before the workers share them
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        for row in pool.imap_unordered(run_fit, todo):
            RESULTS.write_text(json.dumps([*saved(), row]))


def answers(rows: list[dict], name: str, rule: str) -> dict[int, float]:
    return {row["seed"]: row["answer"] for row in rows if row["case"] == name and row["rule"] == rule}


def case_lines(rows: list[dict], name: str) -> tuple[list[str], dict]:
    """A case's table, seed by seed, and its numbers."""
    default, fixed = answers(rows, name, "default"), answers(rows, name, "fixed")
    steps = {row["seed"]: row["steps"] for row in rows if row["case"] == name and row["rule"] == "default"}
    seeds = sorted(set(default) & set(fixed))
    under = [fixed[seed] - default[seed] for seed in seeds]
    lines = [f"### {name} ({CASES[name][0]} half, budget {CASES[name][2]})", "",
             "| seed | fixed | default (steps) | fixed - default |", "|---|---|---|---|"]  # fmt: skip
    for seed, shortfall in zip(seeds, under, strict=True):
        lines.append(f"| {seed} | {fixed[seed]:.2f} | {default[seed]:.2f} ({steps[seed]}) | {shortfall:+.2f} |")
    numbers = {
        "fixed_spread": max(fixed.values()) - min(fixed.values()),
        "fixed_sd": statistics.stdev(fixed.values()),
        "under_mean": statistics.mean(under),
        "under_se": statistics.stdev(under) / len(under) ** 0.5,
        "under_worst": max(under),
        "mean_gap": statistics.mean(fixed.values()) - statistics.mean(default.values()),
        "fits": len(seeds),
    }
    lines += ["", f"Fixed: {statistics.mean(fixed.values()):.2f} dB mean over the seeds, {numbers['fixed_sd']:.2f} sd, "
              f"{numbers['fixed_spread']:.2f} from its lowest to its highest seed. Default: "
              f"{statistics.mean(default.values()):.2f} mean. Fixed - default, seed by seed: "
              f"{numbers['under_mean']:+.2f} +- {numbers['under_se']:.2f} (mean, standard error), "
              f"worst {numbers['under_worst']:+.2f}.", ""]  # fmt: skip
    return lines, numbers


def benchmark_pairs() -> list[str]:
    """The pairs stopping_all_pixels.py has where today's default ran its whole budget (every seed, the crops and
    the 256 px photos, with the hand-back): the fixed fit minus the default's answer, per half."""
    results = json.loads((HERE / "stopping_all_pixels_traces.json").read_text())
    results += json.loads(SEEDED.read_text()) + json.loads(PHOTO_SIZE.read_text())
    rule = rule_name(HANDING_BACK, DEFAULT)  # today's
    ran = [r for r in results if HANDING_BACK in r["fits"] and outcome(r, rule)["used"] == 1]
    lines = [
        "## The pairs stopping_all_pixels.py has",
        "",
        f"Its fits with the hand-back (`--fraction {HANDING_BACK}`, seeds 0-4, and `--photo-size`) where today's "
        f"default (`{rule}`) ran its whole budget: each the default's answer against the fit on all pixels from "
        "the same seed (another trajectory of the same length).",
        "",
        "| half | fits | fixed - default: mean +- se | sd | worst | lowest | more than 0.1 dB under |",
        "|---|---|---|---|---|---|---|",
    ]
    for half in ("tune", "report", "check"):
        under = [outcome(r, rule)["below_fixed"] for r in ran if r["half"] == half]
        if len(under) < 2:
            continue
        spread = statistics.stdev(under)
        lines.append(
            f"| {half} | {len(under)} | {statistics.mean(under):+.2f} +- {spread / len(under) ** 0.5:.2f} | "
            f"{spread:.2f} | {max(under):+.2f} | {min(under):+.2f} | {sum(u > TOLERANCE for u in under)} |"
        )
    return [*lines, ""]


def analyse() -> None:
    rows = saved()
    names = [name for name in SPREAD_CASES if answers(rows, name, "default") and answers(rows, name, "fixed")]
    lines = [
        "# Under the fixed budget, or one fit under another?",
        "",
        f"- Machine: {rows[0]['machine']}, 1 thread per fit, 2 fits at a time; torch {torch.__version__};",
        f"  precision bf16-mixed where the CPU has it (trainer.precision=auto); date {rows[-1]['date']}",
        "- Command: `python experiments/fixed_budget_spread.py` (the method: its docstring)",
        f"- Cases: the crops of stopping_all_pixels.py whose default ran its whole budget on every seed; each one "
        f"photo (the seed-0 observation, a PNG), fitted from seeds {', '.join(map(str, SEEDS))} as a run on a photo "
        "fits it (`default`: the profile's rule then, resolution 0.5 and growth 0.3) and on every pixel for the "
        "budget (`fixed`). Answers: the PSNR of the kept average.",
        "",
    ]
    numbers = {}
    for name in names:
        case, numbers[name] = case_lines(rows, name)
        lines += case
    lines += ["## Summary", "", "| case | half | fixed: highest - lowest seed | fixed - default: mean +- se | worst | "
              f"fits more than {TOLERANCE} dB under | of them stopped before the budget |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    for name in names:
        n, fixed, default = numbers[name], answers(rows, name, "fixed"), answers(rows, name, "default")
        steps = {row["seed"]: row["steps"] for row in rows if row["case"] == name and row["rule"] == "default"}
        under = [seed for seed in default if fixed[seed] - default[seed] > TOLERANCE]
        stopped = sum(steps[seed] < CASES[name][2] for seed in under)
        lines.append(
            f"| {name} | {CASES[name][0]} | {n['fixed_spread']:.2f} | {n['under_mean']:+.2f} +- {n['under_se']:.2f} | "
            f"{n['under_worst']:+.2f} | {len(under)} of {n['fits']} | {stopped} |"
        )
    lines += ["", "Positive: the default under the fixed fit of its seed. Where the default ran its whole budget, its "
              "fit and the fixed one are two trajectories of the same length; where it stopped before, a shortfall is "
              "a stop too soon.", ""]  # fmt: skip
    lines += benchmark_pairs()
    (HERE / "fixed_budget_spread.md").write_text("\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--analyse", action="store_true")
    args = parser.parse_args()
    if not args.analyse:
        measure(args.jobs)
    analyse()


if __name__ == "__main__":
    main()
