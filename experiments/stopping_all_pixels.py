"""The default's answer against the peak a fit on all pixels reaches: held-out validation, as a user's photo
runs it (profile=fast, what conf/profile/fast.yaml sets; stopping=auto: validation on noisy tasks), measured
against the best PSNR of the average of the same fit on every pixel (same seed, the task's budget).

Each case fits a centre crop of a ../shared/data image, one thread each: with a fraction of the observed
pixels held out (`--fraction`, 0.05 by default: stopping=validation's), where held-out validation's own
detector (stopping.held_out.HeldOutMinimum) decides at every patience, smoothing and resolution of
VALIDATION as it would in a run (the fit ends when all have stopped), and once on all pixels for the budget
(stopping=none). Read off them, for each rule:
- its answer: the PSNR of the average it keeps (the profile's exp_weight) against the ground truth;
- `gap`: the all-pixel fit's best average minus that answer (the issue's target: mean < 0.3 dB, worst < 0.8);
- `gap held out`: the held-out fit's own best (within its steps) minus the answer (the old benchmark's gap);
- `below fixed`: the fixed budget's answer (the all-pixel fit's last average: no pixel held out) minus it;
- `refit`: the all-pixel fit's average at the step the rule kept the average at (a second fit from scratch,
  as many steps again).
Settings (fraction, patience, smoothing, resolution) are chosen on the `tune` half (lowest mean gap, then
worst gap, then fewest steps) and reported on the `report` half. Writes stopping_all_pixels.md and its
traces (stopping_all_pixels_traces.json); each fraction's fits are added to the same traces.

    python experiments/stopping_all_pixels.py [--jobs 2] [--cases NAME,...] [--fraction 0.02]  # run, analyse
    python experiments/stopping_all_pixels.py --refit        # the refit from the kept weights
    python experiments/stopping_all_pixels.py --hand-back    # stopping.hand_back at every R of HAND_BACK
    python experiments/stopping_all_pixels.py --seeds        # the cases that may fall under the budget, from SEEDS
    python experiments/stopping_all_pixels.py --seed 1       # every case from seed 1 (the choice pools the seeds)
    python experiments/stopping_all_pixels.py [--seed 1] --fraction auto-R300  # every detector with the hand-back
    python experiments/stopping_all_pixels.py --variant "arch.upsample_mode=bilinear" --cases NAME,...  # a variant
    python experiments/stopping_all_pixels.py --photo-size   # PHOTO_CASES: 256 px, the task's budget, every detector
    python experiments/stopping_all_pixels.py --analyse                                          # analyse
"""

import argparse
import copy
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
VARIANTS = HERE / "stopping_all_pixels_variants.json"  # the traces of --variant's fits
SEEDED = HERE / "stopping_all_pixels_seeded.json"  # the traces of --seed's fits: every case from another seed
PROFILE = "profile=fast"  # the default for a user's photo (observed=): what the default's answer is
# (its denoising fits on the tune and check halves were fitted as `--variant arch.upsample_mode=bilinear` while the
# profile upsampled by nearest neighbour on denoise, the config the profile has had since; the nearest-neighbour fits
# are the variant `arch.upsample_mode=nearest` now)
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
    # a check half, run after `fraction=auto` was designed (its form seen on both halves' fraction columns,
    # its bounds from the tune half's failures): new photos and sizes, each with 5 % and with auto held out
    "denoise s25 96 Set14 comic": ("check", ["task=denoise"], 1800, "Set14/comic.png", 96),
    "denoise s15 128 classic house": ("check", ["task=denoise", "task.sigma=15"], 1800, "classic/house.png", 128),
    "denoise s25 160 kodim01": ("check", ["task=denoise"], 1800, "cbm3d9/kodim01.png", 160),
    "denoise s50 128 Set14 barbara": ("check", ["task=denoise", *SIGMA_50], 1800, "Set14/barbara.png", 128),
}
# The same detectors at a photo's size (`--photo-size`): the denoising cases of experiments/benchmarks/fast_profile.py
# at 256 px with the task's own budget, as a user's photo runs (sigma 50 with the default input noise, as there); the
# crops above are 64-160 px with 1,800 steps
PHOTO_CASES = {
    "denoise s10 256 classic house": ("tune", ["task=denoise", "task.sigma=10"], 3000, "classic/house.png", 256),
    "denoise s25 256 Set14 barbara": ("tune", ["task=denoise"], 3000, "Set14/barbara.png", 256),
    "denoise s50 256 classic boat": ("tune", ["task=denoise", "task.sigma=50"], 3000, "classic/boat.png", 256),
    "denoise s10 256 kodim02": ("report", ["task=denoise", "task.sigma=10"], 3000, "cbm3d9/kodim02.png", 256),
    "denoise s25 256 Set14 pepper": ("report", ["task=denoise"], 3000, "Set14/pepper.png", 256),
    "denoise s50 256 baboon": ("report", ["task=denoise", "task.sigma=50"], 3000, "cbm3d9/baboon.png", 256),
}
PHOTO_SIZE = HERE / "stopping_all_pixels_photo_size.json"  # the traces of --photo-size's fits
# every detector on 128 px photos at sigma 50 (`observed=`, seeds 0-3; a tune and a report half, the first the tune
# photo fast_profile.py's profile had answered 0.66 dB under profile=paper), written by experiments/photo_stop_trace.py
STOP_TRACE = HERE / "photo_stop_trace.json"
VAL_PATIENCE = (100, 200, 300)
VAL_SMOOTHING = (0.03, 0.1)
VAL_RESOLUTION = (0.0, 0.5, 1.0, 2.0, 3.0)  # standard errors of the paired held-out difference (0: today's rule)
VAL_GROWTH = (0.1, 0.2, 0.3, 0.5)  # patience_growth: wait max(patience, g x the kept step), at patience 100
VALIDATION = [(p, s, r) for p in VAL_PATIENCE for s in VAL_SMOOTHING for r in VAL_RESOLUTION]
VALIDATION += [(100, s, r, g) for s in VAL_SMOOTHING for r in (0.0, 0.5) for g in VAL_GROWTH]
VAL_CONFIRM = (0.5, 1.0, 2.0)  # confirm: the average's rise resolved by that many standard errors before a stop
VALIDATION += [(100, 0.1, r, 0.0, c) for r in (0.0, 0.5) for c in VAL_CONFIRM]
FRACTION = 0.05  # held out: stopping=validation's default
REFIT_STEPS = 300  # the longest refit from the kept weights measured
REFIT_CHOICES = (0, 25, 50, 100, 200, 300)
# stopping.hand_back measured: steps before the budget's end. 100, 200, 300 and 600 were measured with the profile
# before it took the 0.98 average (git show 58207e7:experiments/stopping_all_pixels.md), 300 chosen on that tune half
# The R = 300 runs were fitted with smoothing 0.03: no rule stopped them before step 1,500, and the smoothing
# decides nothing after it (the answer is the last step's), so they are the same fits with today's 0.1.
HAND_BACK = (300,)
PATIENCE = 100  # the fast profile's, chosen for speed (experiments/benchmarks/fast_profile.md): choices here keep it
# today's default on a photo (conf/profile_stopping/fast_auto.yaml): chosen on every tune fit with the hand-back (the
# crops' over five seeds, --photo-size's, and STOP_TRACE's sigma-50 photos), 2026-12-05. Before it, RESOLVED (chosen
# the same day before the sigma-50 photos: its resolution held the average back where its held-out error still fell)
DEFAULT = (PATIENCE, 0.1, 0.0, 0.2)
RESOLVED = (PATIENCE, 0.1, 0.5, 0.3)
# the default before: the rule the `--refit`, `--hand-back`, `--seeds` and `--variant` fits were run and chosen with
PREVIOUS = (PATIENCE, 0.1, 0.0)
SEEDS = (1, 2, 3, 4)  # --seeds: other seeds of the cases that may fall under the budget (may_fall_under_budget)
HANDING_BACK = f"auto-R{max(HAND_BACK)}"  # `--fraction auto-R300`: fraction=auto, every detector with the hand-back
# the average kept at the output's kept step + a lag (the "output's kept step as an anchor for the average"),
# read off the default's fits with the hand-back (no fit of its own); None: the stop's (or the budget's) last step
ANCHOR_LAGS = (0, 25, 50, 75, 100, 125, 150, 200, 300, None)


def key_name(key: tuple) -> str:
    """A detector's name: p = patience, s = smoothing, r = resolution, g = patience_growth, c = confirm (if any)."""
    growth, confirm = (*key[3:], 0.0, 0.0)[:2]
    return "p{} s{} r{}".format(*key) + (f" g{growth}" if growth else "") + (f" c{confirm}" if confirm else "")


class Trace(pl.Callback):
    """Every step the averaged output's PSNR against the ground truth; with the validation criterion beside
    it, every VALIDATION detector fed the held-out errors (and, for a resolution or confirm above 0, the
    average's held-out values) as the criterion feeds its own, each decision recorded where that detector
    stops; the fit ends when all have stopped.

    `hand_back_step`: there, as stopping.hand_back does, each detector not stopped either is still improving
    within its patience (then the held-out pixels go back into the data term for the rest of the budget, and
    its answer is the last step's) or has waited and runs on only for an unresolved rise (then it stops there
    with its kept steps). `held_out_errors`: every step before a hand-back, the output's and the average's
    held-out errors, for rules to be read off the fit later."""

    def __init__(self, validation=None, hand_back_step: int | None = None):
        from dip_lightning.stopping.held_out import HeldOutMinimum

        self.validation, self.psnr_avg, self.hand_back_step = validation, [], hand_back_step
        self.detectors = {key_name(key): HeldOutMinimum(*key) for key in VALIDATION} if validation else {}
        self.decisions = {}  # name -> [kept output step, steps run, kept average step]
        self.handed_back = set()  # the detectors whose fits got the held-out pixels back
        self.held_out_errors = []  # [output's, average's] per step

    @torch.no_grad()
    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        from dip_lightning.fitting.metrics import psnr

        average = outputs["output_avg"]
        self.psnr_avg.append(round(psnr(average, module.ground_truth), 3))
        if self.validation is None:
            return
        step, held_out = len(self.psnr_avg), self.validation.criterion.held_out
        if self.handed_back:  # the fit sees every pixel: only the handed-back detectors' last step is left
            if step == trainer.max_steps:
                self.decisions |= {name: [step, step, step] for name in self.handed_back}
            return
        error, error_avg = held_out.errors(outputs["output"], average)
        self.held_out_errors.append([round(error.item(), 9), round(error_avg.item(), 9)])
        values = held_out.values(average)
        for name, detector in self.detectors.items():
            if name in self.decisions:
                continue
            if step == self.hand_back_step and not detector.waited_out().all():  # decided before the step's update
                self.handed_back.add(name)
                continue
            if step != self.hand_back_step:
                detector.update(error, values if detector.resolves else error_avg, step)
            if detector.stopped.all() or step in (trainer.max_steps, self.hand_back_step):
                kept, kept_avg = detector.output.best_step.item(), detector.average.best_step.item()
                self.decisions[name] = [int(kept), step, int(kept_avg)]
        if self.handed_back and step == self.hand_back_step:
            held_out.fit.withhold(torch.zeros_like(held_out.held))
        trainer.should_stop = len(self.decisions) == len(self.detectors)


def case_of(name: str) -> tuple:
    """A case of CASES or PHOTO_CASES: (half, overrides, budget, image, crop size)."""
    return CASES[name] if name in CASES else PHOTO_CASES[name]


def photo(name: str) -> list[str]:
    """A case's overrides: its task, the profile, its crop of the image and its budget."""
    _, overrides, budget, image, size = case_of(name)
    common = [*overrides, PROFILE, "image=file", f"image.source={DATA / image}", f"image.center_crop={size}"]
    return [*common, f"task.num_iter={budget}"]


def run_case(job: tuple) -> dict:
    """A case's held-out fit at `fraction` and, if asked, its all-pixel fit: job = (name, fraction, all_pixels)
    and, for a variant of the profile, its overrides (a string, space-separated) applied to both fits."""
    torch.set_num_threads(1)
    from dip_lightning.build import build_stopping

    name, fraction, all_pixels, *variant = job
    half, _, budget, _, size = case_of(name)
    common = [*photo(name), *(variant[0].split() if variant else [])]
    started = time.perf_counter()
    handing_back = fraction == HANDING_BACK  # the hand-back in the Trace, for every detector
    held = "auto" if handing_back else fraction
    validating = ["stopping=validation", "stopping.patience=1000000000", f"stopping.held_out.fraction={held}"]
    validating.append("++stopping.hand_back=0")  # the held-out fit to the end (or the Trace's hand-back)
    cfg = config([*common, *validating])  # the detectors decide, not the criterion
    validation = build_stopping(cfg)
    held_out = Trace(validation, budget - max(HAND_BACK) if handing_back else None)
    fit(cfg, [validation, held_out])
    result = {"case": name, "half": half, "budget": budget, "size": size, "machine": machine()}
    result |= {"variant": variant[0]} if variant else {}
    result["fits"] = {str(fraction): {"psnr_avg": held_out.psnr_avg, "decisions": held_out.decisions}}
    result["fits"][str(fraction)]["held_out_errors"] = held_out.held_out_errors
    if all_pixels:
        everything = Trace()
        fit(config([*common, "stopping=none"]), [everything])
        result["all_pixels"] = everything.psnr_avg
    print(f"{name}, {fraction}: {time.perf_counter() - started:.0f} s, held-out fit {len(held_out.psnr_avg)} steps")
    return result


class Snapshot(pl.Callback):
    """After the stopping callback: the network, the optimiser's state and the outputs at the step the rule
    last kept the average at (what a refit from the kept weights starts from)."""

    def __init__(self):
        self.state, self.step = None, 0

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        kept = module.outputs.kept_steps()
        if kept is not None and kept[1][0] == module.outputs.step != self.step:
            self.step = module.outputs.step
            self.state = {
                "prior": copy.deepcopy(module.prior.state_dict()),
                "optimizer": copy.deepcopy(trainer.optimizers[0].state_dict()),
                "output": module.outputs.output.clone(),
                "output_avg": module.outputs.output_avg.clone(),
            }


class Restore(pl.Callback):
    """At the refit's start: the optimiser's state of the snapshot (Adam's moments go on, no fresh start)."""

    def __init__(self, state: dict):
        self.state = state

    def on_train_start(self, trainer, module):
        trainer.optimizers[0].load_state_dict(self.state["optimizer"])


def run_refit(name: str) -> dict:
    """A case fitted as the default before fitted it (held-out validation, patience and smoothing of PREVIOUS, FRACTION
    held out) to its stop; then a refit on all pixels from the weights, optimiser state and average of the
    step the average was kept at, for REFIT_STEPS steps, the average going on from the kept one."""
    torch.set_num_threads(1)
    from dip_lightning.build import build_stopping
    from dip_lightning.hardware.precision import resolve_precision

    patience, smoothing, _ = PREVIOUS
    rule = ["stopping=validation", f"stopping.patience={patience}", f"stopping.smoothing={smoothing}"]
    cfg = config([*photo(name), *rule, f"stopping.held_out.fraction={FRACTION}"])
    started = time.perf_counter()
    validation, snapshot, held_out = build_stopping(cfg), Snapshot(), Trace()
    module = fit(cfg, [validation, snapshot, held_out])
    module.prior.load_state_dict(snapshot.state["prior"])
    module.outputs.output = snapshot.state["output"]
    module.outputs.output_avg.copy_(snapshot.state["output_avg"])
    module.fit_weight = None  # every pixel
    refit = Trace()
    quiet = dict(logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
    trainer = pl.Trainer(
        max_steps=REFIT_STEPS,
        precision=resolve_precision("auto", "cpu"),
        callbacks=[Restore(snapshot.state), refit],
        **quiet,
    )
    trainer.fit(module)
    print(f"{name}, refit: {time.perf_counter() - started:.0f} s, stopped at {len(held_out.psnr_avg)}", flush=True)
    return {
        "case": name,
        "refit": {"steps": len(held_out.psnr_avg), "kept_avg": snapshot.step, "psnr_avg": refit.psnr_avg},
        "fits": {},
    }


def default_run(name: str, steps: int, seed: int = 0) -> dict:
    """A case fitted as a run on a photo fitted it before 2026-12-05 (profile=fast's held-out validation with
    PREVIOUS's detector, the profile's fraction) with `stopping.hand_back` = `steps`, from `seed`: the rule
    itself, the fit built as a run builds it. Its average's PSNR every step, the step the average was kept at,
    the steps run."""
    from dip_lightning.build import build_stopping

    _, smoothing, resolution = PREVIOUS
    rule = ["stopping=validation", f"stopping.smoothing={smoothing}", f"stopping.resolution={resolution}"]
    rule += ["++stopping.patience_growth=0", f"++stopping.hand_back={steps}"]
    cfg = config([*photo(name), f"seed={seed}", *rule])
    trace = Trace()
    module = fit(cfg, [build_stopping(cfg), trace])
    kept_avg = module.outputs.kept_steps()[1][0]
    return {"psnr_avg": trace.psnr_avg, "kept_avg": kept_avg, "steps": module.global_step, "machine": machine()}


def run_hand_back(job: tuple[str, int]) -> dict:
    """The default with `stopping.hand_back` = R on a case: job = (name, R)."""
    torch.set_num_threads(1)
    name, steps = job
    started, run = time.perf_counter(), default_run(name, steps)
    print(f"{name}, hand back {steps}: {time.perf_counter() - started:.0f} s, average kept at {run['kept_avg']}")
    return {"case": name, "hand_back": {str(steps): run}, "fits": {}}


def run_seed(job: tuple[str, int]) -> dict:
    """A case from another seed (z, the network's weights and the held-out pixels all drawn from it): the
    default as a run fits it (the profile's hand-back) and the fit on all pixels for the budget. job = (name, seed)."""
    torch.set_num_threads(1)
    name, seed = job
    started, run = time.perf_counter(), default_run(name, max(HAND_BACK), seed)
    everything = Trace()
    fit(config([*photo(name), f"seed={seed}", "stopping=none"]), [everything])
    run["all_pixels"] = everything.psnr_avg
    print(f"{name}, seed {seed}: {time.perf_counter() - started:.0f} s, average kept at {run['kept_avg']}", flush=True)
    return {"case": name, "seeds": {str(seed): run}, "fits": {}}


def machine() -> str:
    return f"{cpu_name()} ({cpu_flags()})"


def hands_back(result: dict) -> bool:
    """Whether the default before (`fraction=auto`, PREVIOUS) had not stopped this case HAND_BACK[-1] steps
    before its budget's end in its trace: then a hand-back may change its answer, and the case is run with the
    rule at every R of HAND_BACK (R = 0: its trace, fitted as a run fits it); a case stopped earlier keeps its
    trace's answer."""
    used = outcome(result, rule_name("auto", PREVIOUS))["used"] * result["budget"]
    return used > result["budget"] - max(HAND_BACK)


def may_fall_under_budget(result: dict) -> bool:
    """Whether the default's answer may fall under the fixed budget's on this case: it runs into the hand-back's
    steps (`hands_back`), or its trace's answer is under the budget's. --seeds fits these from SEEDS too."""
    return hands_back(result) or outcome(result, rule_name("auto", PREVIOUS))["below_fixed"] > 0


def hand_back_answer(result: dict, steps: int) -> tuple[float, float]:
    """The default's answer with stopping.hand_back=steps, and the fraction of the budget it used."""
    if steps and hands_back(result):
        run = result["hand_back"][str(steps)]
        return run["psnr_avg"][run["kept_avg"] - 1], run.get("steps", len(run["psnr_avg"])) / result["budget"]
    default = outcome(result, rule_name("auto", PREVIOUS))
    return default["psnr"], default["used"]


def automatic(result: dict) -> str:
    """The fit of this case with `stopping.held_out.fraction=auto`: its own, or the fit at the fraction auto
    holds out of it."""
    from dip_lightning.stopping.held_out import auto_fraction

    if "auto" in result["fits"]:
        return "auto"
    block = 8 if result["case"].startswith("jpeg") else 1  # the noise model's correlation_block
    return str(auto_fraction(result["size"] ** 2 // block**2))


def rule_name(fraction: str, key: tuple) -> str:
    return f"f{fraction} " + key_name(key)


def outcome(result: dict, rule: str) -> dict:
    """A rule's answer on a case: 'fixed' (the budget on all pixels) or `rule_name`: held-out fraction f and a
    VALIDATION detector."""
    everything, oracle = result["all_pixels"], max(result["all_pixels"])
    if rule == "fixed":
        answer, used, refit = everything[-1], result["budget"], everything[-1]
        held_oracle = oracle
    else:
        fraction, detector = rule.split(" ", 1)
        held_out = result["fits"][fraction[1:] if fraction != "fauto" else automatic(result)]
        _, used, kept_avg = held_out["decisions"][detector]
        answer, refit = held_out["psnr_avg"][kept_avg - 1], everything[kept_avg - 1]
        held_oracle = max(held_out["psnr_avg"][:used])
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
    """The rule of `rules` with the lowest mean gap on `tune` (to 0.01 dB), then the lowest worst gap, then the
    fewest steps."""
    scored = {rule: summary(tune, rule) for rule in rules}
    return min(
        scored, key=lambda n: (round(scored[n]["mean_gap"], 2), round(scored[n]["worst_gap"], 2), scored[n]["used"])
    )


def analyse(
    results: list[dict],
    minutes: float | None,
    command: str,
    variants: list[dict] = (),
    seeded: list[dict] = (),
    photo_size: list[dict] = (),
) -> str:
    from dip_lightning.hardware.precision import resolve_precision

    halves = {half: [r for r in results if r["half"] == half] for half in ("tune", "report", "check")}
    results = halves["tune"] + halves["report"]  # the check half is reported on its own, at the end
    fractions = sorted(set.intersection(*(set(r["fits"]) for r in results)) - {"auto", HANDING_BACK}, reverse=True)
    names = [rule_name(fraction, key) for fraction in fractions for key in VALIDATION]
    held = list(fractions)  # the held-out fits' columns
    if all(automatic(r) in r["fits"] for r in results):
        names += [rule_name("auto", key) for key in VALIDATION]
        held.append("auto")
    names += [rule_name(HANDING_BACK, key) for key in VALIDATION]  # (where fitted: the filter below)
    plain = [r for r in seeded if "auto" in r["fits"]]  # the seeds fitted without the hand-back too (1, 2)
    chosen_on = [*results, *(r for r in plain if r["half"] != "check")]  # (the check half: where fitted)
    names = [name for name in names if all(available(r, name) for r in chosen_on)]
    default = rule_name(HANDING_BACK, DEFAULT)  # as a run has it: the hand-back included
    pooled = halves["tune"] + [r for r in plain if r["half"] == "tune"]  # every such seed of the tune half
    best = choose(pooled, names)
    at_patience = choose(pooled, [name for name in names if f" p{PATIENCE} " in name])
    shown = list(dict.fromkeys(["fixed", default, at_patience, best]))
    machines = sorted({r.get("machine", "not recorded") for r in [*results, *halves["check"], *seeded]})
    lines = [
        "# The default's answer against the peak of a fit on all pixels",
        "",
        f"- Machine: {'; '.join(machines)}, 1 thread per case, 2 cases at a time; torch {torch.__version__};",
        f"  precision {resolve_precision('auto', 'cpu')} (trainer.precision=auto); date {datetime.date.today()}"
        + (f"; {minutes:.0f} minutes" if minutes else ""),
        f"- Command: `{command}` (the held-out fractions in separate invocations, adding to the same traces;",
        "  `--hand-back`, `--seeds`, `--seed N` and `--variant` below)",
        f"- {len(results)} cases: a centre crop of a ../shared/data image, `{PROFILE}` (the default on a photo),",
        f"  fitted with a fraction ({', '.join(held)}) of the observed pixels held out (8 x 8 blocks for JPEG)",
        "  and again on all pixels, same seed. gap = the all-pixel fit's best average - the rule's answer; gap held",
        "  out = the held-out fit's own best (the previous benchmark's gap); below fixed = the budget on all pixels",
        "  - the answer (positive: the rule did worse); refit = a second fit on all pixels to the step the rule",
        "  kept the average at (its gap; it costs those steps again). f = held-out fraction, p = patience,",
        "  s = smoothing, r = resolution (standard errors of the paired held-out difference).",
        "- The fits are built as a run builds them (train.module_for; a test checks the oracle against a run),",
        "  the held-out ones without the hand-back (`stopping.hand_back=0`: measured on its own below).",
        f"- Today's default on a photo: `{rule_name(HANDING_BACK, DEFAULT)}` (g = patience_growth), chosen on the",
        "  tune half of every detector fitted with the hand-back as a run has it, every seed, with the tune halves",
        "  of 256 px photos and of 128 px photos at sigma 50 (the sections of those names below). Before it,",
        f"  `{rule_name(HANDING_BACK, RESOLVED)}` (chosen before the sigma-50 photos), and before that",
        f"  `{rule_name(HANDING_BACK, PREVIOUS)}`; without the hand-back, on the tune half's seeds {seeds_of(pooled)},",
        f"  the choice at the profile's patience ({PATIENCE}: its speed, experiments/benchmarks/fast_profile.md) is",
        f"  `{at_patience}`; at any patience: `{best}`.",
        "",
    ]
    if seeded:
        lines += seeded_section(results + halves["check"], seeded, shown)
    for half in ("report", "tune"):
        lines += half_section(f"The {half} half ({len(halves[half])} cases, seed 0)", halves[half], shown)
    lines += ["## What holding pixels out costs the fit (best average within the budget)", ""]
    lines += ["| case | all pixels | " + " | ".join(f"{f} held out" for f in held) + " |"]
    lines.append("|---|---" + "|---" * len(held) + "|")
    for r in results:
        bests = [max(r["fits"][automatic(r) if f == "auto" else f]["psnr_avg"]) for f in held]
        lines.append(f"| {r['case']} | {max(r['all_pixels']):.2f} | " + " | ".join(f"{b:.2f}" for b in bests) + " |")
    lines += ["", "(a held-out fit ends when its last detector stops: its best is within those steps)", ""]
    if halves["check"]:
        title = f"The check half ({len(halves['check'])} cases, run after the choice)"
        lines += half_section(
            title, halves["check"], [n for n in shown if all(available(r, n) for r in halves["check"])]
        )
    refitted = [r for r in results if "refit" in r]
    if refitted:
        lines += refit_section(refitted, rule_name(str(FRACTION), PREVIOUS))
    if any("hand_back" in r for r in results):
        lines += hand_back_section(results + halves["check"])
    if any(r.get("seeds") for r in results + halves["check"]):
        lines += seeds_section(results + halves["check"])
    handing_back = [name for name in names if name.startswith(f"f{HANDING_BACK} ")]
    if handing_back:
        lines += handing_back_section(results + halves["check"] + seeded, handing_back)
        lines += anchor_section(results + halves["check"] + seeded)
    if photo_size:
        lines += photo_size_section(photo_size, handing_back, results + seeded)
        lines += sigma_50_section(photo_size, results + seeded, handing_back)
    if variants:
        lines += variant_section(results + halves["check"], variants)
    title = f"## Every setting, seeds {seeds_of([*results, *plain])} (mean gap / worst gap / steps used)"
    lines += [title, "", "| rule | tune | report |", "|---|---|---|"]
    for rule in ["fixed", *names]:
        cells = []
        for half in ("tune", "report"):
            s = summary(halves[half] + [r for r in plain if r["half"] == half], rule)
            cells.append(f"{s['mean_gap']:.2f} / {s['worst_gap']:.2f} / {s['used'] * 100:.0f} %")
        lines.append(f"| {rule} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def seeds_of(results: list[dict]) -> str:
    return ", ".join(str(seed) for seed in sorted({r.get("seed", 0) for r in results}))


def seeded_section(results: list[dict], seeded: list[dict], shown: list[str]) -> list[str]:
    """The `shown` rules over every seed fitted (seed 0: the traces; the others: `--seed`), per half: each
    case from each seed counts once."""
    seeded = [r for r in seeded if available(r, rule_name("auto", PREVIOUS))]  # (the check half's: seed 0 only)
    lines = [f"## Every seed ({seeds_of([*results, *seeded])}): the choice and the report", ""]
    lines += [
        "Each case fitted from each seed (the seed draws z, the network's weights and the held-out pixels), held",
        "out and on all pixels; a rule's gaps against the all-pixel fit of the same seed. A premature stop on one",
        "seed is not on another: the rules are chosen on all of the tune half's fits, and reported on the report",
        "half's.",
        "",
        "| rule | half | fits | mean gap | worst gap | worst below fixed | mean below fixed | steps used |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for rule in shown:
        for half in ("tune", "report", "check"):
            cases = [r for r in [*results, *seeded] if r["half"] == half]
            if not cases or not all(available(r, rule) for r in cases):
                continue
            s = summary(cases, rule)
            below = statistics.fmean(outcome(r, rule)["below_fixed"] for r in cases)
            lines.append(
                f"| {rule} | {half} | {len(cases)} | {s['mean_gap']:.2f} | {s['worst_gap']:.2f} | "
                f"{s['worst_below_fixed']:.2f} | {below:+.2f} | {s['used'] * 100:.0f} % |"
            )
    return [*lines, ""]


def available(result: dict, rule: str) -> bool:
    """Whether the case has the fit the rule reads, and its detector's decision (a fit before that detector
    was added has none)."""
    if rule == "fixed":
        return True
    fraction, detector = rule.split(" ", 1)
    fit = result["fits"].get(automatic(result) if fraction == "fauto" else fraction[1:])
    return fit is not None and detector in fit["decisions"]


def half_section(title: str, cases: list[dict], shown: list[str]) -> list[str]:
    """A half's summary of the `shown` rules and its cases' answers (PSNR, steps run)."""
    lines = [f"## {title}", ""]
    lines += ["| rule | mean gap | worst gap | mean gap held out | worst below fixed | refit: mean gap | steps used |"]
    lines += ["|---|---|---|---|---|---|---|"]
    for rule in shown:
        s = summary(cases, rule)
        lines.append(
            f"| {rule} | {s['mean_gap']:.2f} | {s['worst_gap']:.2f} | {s['mean_gap_held_out']:.2f} | "
            f"{s['worst_below_fixed']:.2f} | {s['mean_refit_gap']:.2f} | {s['used'] * 100:.0f} % |"
        )
    lines += ["", "| case | all pixels: best (step) | " + " | ".join(shown) + " |"]
    lines.append("|---|---" + "|---" * len(shown) + "|")
    for r in cases:
        everything = r["all_pixels"]
        cells = [f"{o['psnr']:.2f} ({o['used'] * r['budget']:.0f})" for o in (outcome(r, rule) for rule in shown)]
        best = max(everything)
        lines.append(f"| {r['case']} | {best:.2f} ({everything.index(best) + 1}) | " + " | ".join(cells) + " |")
    return [*lines, ""]


def refit_section(results: list[dict], default: str) -> list[str]:
    """The default's answer after a refit of R steps on all pixels from the kept weights (R = 0: none)."""
    lines = ["## A short refit on all pixels from the kept weights", ""]
    lines += [
        f"The default (`{default}`) runs to its stop; the network, Adam's state and the average of the step it",
        "kept the average at are restored, the held-out pixels given back to the data term, and the fit goes on",
        "for R steps, the average going on from the kept one. Its answer: the average after R steps. Steps used:",
        "the held-out fit's plus R, of the budget. (R = 0 is the default's own answer.)",
        "",
        "| R | tune: mean gap / worst gap / worst below fixed / steps | report: the same |",
        "|---|---|---|",
    ]
    for steps in REFIT_CHOICES:
        cells = []
        for half in ("tune", "report"):
            cases = [r for r in results if r["half"] == half]
            if not cases:
                cells.append("-")
                continue
            answers = [r["refit"]["psnr_avg"][steps - 1] if steps else outcome(r, default)["psnr"] for r in cases]
            gaps = [max(r["all_pixels"]) - a for r, a in zip(cases, answers, strict=True)]
            below = [r["all_pixels"][-1] - a for r, a in zip(cases, answers, strict=True)]
            used = statistics.fmean((r["refit"]["steps"] + steps) / r["budget"] for r in cases)
            cells.append(f"{statistics.fmean(gaps):.2f} / {max(gaps):.2f} / {max(below):.2f} / {used * 100:.0f} %")
        lines.append(f"| {steps} | {' | '.join(cells)} |")
    lines += [
        "",
        "| case | all pixels: best | default (kept at) | " + " | ".join(f"R={s}" for s in REFIT_CHOICES[1:]) + " |",
    ]
    lines.append("|---|---|---" + "|---" * (len(REFIT_CHOICES) - 1) + "|")
    for r in results:
        refit = r["refit"]
        cells = " | ".join(f"{refit['psnr_avg'][s - 1]:.2f}" for s in REFIT_CHOICES[1:])
        lines.append(
            f"| {r['case']} | {max(r['all_pixels']):.2f} | {outcome(r, default)['psnr']:.2f} ({refit['kept_avg']}) | "
            f"{cells} |"
        )
    return [*lines, ""]


def blocking(tune: list[dict], steps: int) -> list[str]:
    """The tune cases the default stopped less than a patience before the hand-back step of R = `steps`: run
    again on other bits, such a fit could be handed back after its peak and return the budget's answer."""
    blocked = []
    for r in tune:
        stop, end = outcome(r, rule_name("auto", PREVIOUS))["used"] * r["budget"], r["budget"] - steps
        if end - PREVIOUS[0] < stop <= end:
            blocked.append(f"{r['case']} stopped at {stop:.0f}, the hand-back step {end}")
    return blocked


def choose_hand_back(tune: list[dict]) -> int:
    """R for stopping.hand_back, on the tune half: the lowest mean gap among the R that no tune case blocks."""

    def mean_gap(steps: int) -> float:
        return statistics.fmean(max(r["all_pixels"]) - hand_back_answer(r, steps)[0] for r in tune)

    return min((steps for steps in (0, *HAND_BACK) if not blocking(tune, steps)), key=mean_gap)


def outcomes_cell(outcomes: list[dict]) -> str:
    """Answers' mean gap / worst gap / worst below fixed / how many more than 0.1 dB below fixed."""
    under = sum(o["below_fixed"] > 0.1 for o in outcomes)
    return (
        f"{statistics.fmean(o['gap'] for o in outcomes):.2f} / {max(o['gap'] for o in outcomes):.2f} / "
        f"{max(o['below_fixed'] for o in outcomes):.2f} / {under} of {len(outcomes)}"
    )


def rule_row(results: list[dict], rule: str, halves: tuple[str, ...]) -> str:
    """A table row: the rule's answers per half (`outcomes_cell` and the steps used; - where none has its fit)."""
    cells = []
    for half in halves:
        outcomes = [outcome(r, rule) for r in results if r["half"] == half and available(r, rule)]
        if not outcomes:
            cells.append("-")
            continue
        cells.append(f"{outcomes_cell(outcomes)} / {statistics.fmean(o['used'] for o in outcomes) * 100:.0f} %")
    return f"| {rule} | {' | '.join(cells)} |"


def handing_back_section(results: list[dict], rules: list[str]) -> list[str]:
    """Every detector at the profile's patience as a run has it, with the hand-back (`--fraction auto-R300`), over
    every seed fitted, per half; the choice among them on the tune half; and the default's answers beside the
    hand-back runs' (`--hand-back`, `--seeds`) where both fitted a case from the same seed."""
    at_patience = [rule for rule in rules if f" p{PATIENCE} " in rule and " s0.1 " in rule]
    tune = [r for r in results if r["half"] == "tune"]
    lines = [f"## Every detector with the hand-back ({seeds_of(tune)}; `--fraction {HANDING_BACK}`)", ""]
    lines += [
        f"The held-out fit as a run fits it, the hand-back included: {max(HAND_BACK)} steps before the budget's end",
        "each detector not stopped either is still improving within its patience (the held-out pixels go back into",
        "the data term, and its answer is the last step's average) or has waited and runs on only for a rise it has",
        "not resolved (`c`: confirm, in standard errors of the paired held-out difference; it stops there with its",
        "kept average). The rules at the profile's patience and smoothing; each cell: mean gap / worst gap / worst",
        "below fixed / fits more than 0.1 dB below fixed / steps used.",
        "",
        "| rule | tune | report | check (after the choice) |",
        "|---|---|---|---|",
    ]
    lines += [rule_row(results, rule, ("tune", "report", "check")) for rule in at_patience]
    chosen = choose(tune, at_patience)
    lines += ["", f"Chosen on the tune half (lowest mean gap, then worst gap, then steps): `{chosen}`.", ""]
    runs = {}  # (case, seed) -> a run of the default with the hand-back: `--hand-back` (seed 0), `--seeds`
    for r in results:
        if r.get("seed", 0) == 0:
            runs |= {(r["case"], int(seed)): run for seed, run in r.get("seeds", {}).items()}
            if str(max(HAND_BACK)) in r.get("hand_back", {}):
                runs[(r["case"], 0)] = r["hand_back"][str(max(HAND_BACK))]
    previous = rule_name(HANDING_BACK, PREVIOUS)  # (the rule the runs ran: the default before)
    lines += [f"The default before (`{previous}`) here beside a run of it (the same case and seed, fitted apart):", ""]
    lines += ["| case | seed | here | the run |", "|---|---|---|---|"]
    for r in results:
        run = runs.get((r["case"], r.get("seed", 0)))
        if run is not None:
            answer = run["psnr_avg"][run["kept_avg"] - 1]
            lines.append(f"| {r['case']} | {r.get('seed', 0)} | {outcome(r, previous)['psnr']:.2f} | {answer:.2f} |")
    return [*lines, ""]


def stop_trace_fits() -> list[dict]:
    """STOP_TRACE's fits as results of `--fraction auto-R300`: every detector stopped there long before the
    hand-back's step would have changed its decision (checked)."""
    fits = []
    for run in json.loads(STOP_TRACE.read_text()) if STOP_TRACE.is_file() else []:
        budget = len(run["all_pixels"])
        assert all(stopped < budget - max(HAND_BACK) for _, stopped, _ in run["decisions"].values())
        held_out = {"psnr_avg": run["psnr_avg"], "decisions": run["decisions"]}
        case = {"case": f"{run['photo']} photo seed {run['seed']}", "half": run["half"], "budget": budget}
        case |= {"all_pixels": run["all_pixels"], "fits": {HANDING_BACK: held_out}, "machine": run["machine"]}
        fits.append(case)
    return fits


def photo_size_section(results: list[dict], rules: list[str], crops: list[dict]) -> list[str]:
    """The detectors at the profile's patience and smoothing with the hand-back on PHOTO_CASES (`--photo-size`),
    per half, chosen on the tune half, and on it with the tune half of the `crops` (CASES' fits with the
    hand-back, every seed); per case, the default's, the choice's and the rule's before it (PREVIOUS)."""
    at_patience = [rule for rule in rules if f" p{PATIENCE} " in rule and " s0.1 " in rule]
    at_patience = [rule for rule in at_patience if all(available(r, rule) for r in results)]
    default, previous = rule_name(HANDING_BACK, DEFAULT), rule_name(HANDING_BACK, PREVIOUS)
    machines = sorted({r["machine"] for r in results})
    lines = ["## At a photo's size: 256 px, the task's budget (`--photo-size`, seed 0)", ""]
    lines += [
        "The crops above are 64-160 px with a budget of 1,800 steps; a user's photo is larger and runs the",
        "task's budget (3,000 steps for denoising). The denoising cases of experiments/benchmarks/fast_profile.py",
        "at 256 px (its tune and report halves), each fitted as `--fraction auto-R300` fits a case (every",
        "detector, the hand-back) and on all pixels, on " + "; ".join(machines) + ". Each cell: mean gap / worst",
        "gap / worst below fixed / fits more than 0.1 dB below fixed / steps used.",
        "",
        "| rule | tune | report |",
        "|---|---|---|",
    ]
    lines += [rule_row(results, rule, ("tune", "report")) for rule in at_patience]
    tune = [r for r in results if r["half"] == "tune"]
    crops = [r for r in crops if r["half"] == "tune" and HANDING_BACK in r["fits"]]
    chosen, pooled = choose(tune, at_patience), choose(tune + crops, at_patience)
    lines += [
        "",
        f"Chosen on the tune half (lowest mean gap, then worst gap, then steps): `{chosen}`; on it and the crops'",
        f"tune half together ({len(crops)} more fits, seeds {seeds_of(crops)}): `{pooled}`.",
        "",
    ]
    shown = list(dict.fromkeys([default, chosen, pooled, previous]))
    lines += ["| case (half) | all pixels: best (step) | fixed | " + " | ".join(shown) + " |"]
    lines.append("|---|---|---" + "|---" * len(shown) + "|")
    for r in results:
        everything, best = r["all_pixels"], max(r["all_pixels"])
        cells = [f"{o['psnr']:.2f} ({o['used'] * r['budget']:.0f})" for o in (outcome(r, rule) for rule in shown)]
        lines.append(
            f"| {r['case']} ({r['half']}) | {best:.2f} ({everything.index(best) + 1}) | {everything[-1]:.2f} | "
            + " | ".join(cells)
            + " |"
        )
    return [*lines, ""]


def sigma_50_section(photo_size: list[dict], crops: list[dict], rules: list[str]) -> list[str]:
    """The detectors at the profile's patience and smoothing on STOP_TRACE's 128 px photos at sigma 50, per half;
    the choice on every tune fit (the crops' with the hand-back, --photo-size's and these), and the default against
    it, the report halves beside."""
    traced = stop_trace_fits()
    if not traced:
        return []
    at_patience = [rule for rule in rules if f" p{PATIENCE} " in rule and " s0.1 " in rule]
    at_patience = [rule for rule in at_patience if all(available(r, rule) for r in traced)]
    crops = [r for r in crops if HANDING_BACK in r["fits"]]
    lines = ["## 128 px photos at sigma 50 (experiments/photo_stop_trace.py, seeds 0-3)", ""]
    lines += [
        "Photos at sigma 50 with the default input noise, as `observed=` fits them, every detector (each stopped",
        "long before a hand-back would have come, checked). Each cell: mean gap / worst gap / worst below fixed /",
        "fits more than 0.1 dB below fixed / steps used.",
        "",
        "| rule | tune | report |",
        "|---|---|---|",
    ]
    lines += [rule_row(traced, rule, ("tune", "report")) for rule in at_patience]
    tune = [r for r in crops + photo_size + traced if r["half"] == "tune"]
    default, before = rule_name(HANDING_BACK, DEFAULT), rule_name(HANDING_BACK, RESOLVED)
    chosen = choose(tune, at_patience)
    paired = [outcome(r, chosen)["gap"] - outcome(r, before)["gap"] for r in tune]
    lines += [
        "",
        f"Chosen on every tune fit ({len(tune)}: the crops' over five seeds, the 256 px photos', these): `{chosen}`; "
        f"against `{before}` (chosen before these photos) fit by fit there {statistics.fmean(paired):+.3f} +- "
        f"{statistics.stdev(paired) / len(paired) ** 0.5:.3f} dB of gap (mean, standard error; negative: lower).",
        "",
        "| rule | every tune fit | crops, report (seeds 0-4) | 256 px, report | sigma 50, report |",
        "|---|---|---|---|---|",
    ]
    groups = {"all tune": tune, "crops report": crops, "256 px report": photo_size, "sigma 50 report": traced}
    labelled = [r | {"half": label} for label, group in groups.items() for r in group if r["half"] in label]
    for rule in dict.fromkeys([chosen, default, before, rule_name(HANDING_BACK, PREVIOUS)]):
        lines.append(rule_row(labelled, rule, tuple(groups)))
    return [*lines, ""]


def anchored(result: dict, lag: int | None) -> dict:
    """The default with the hand-back (`--fraction auto-R300`) on a case, its average kept `lag` steps after its
    output's kept step (or at its last step, if it stopped sooner; None: always its last step), as `outcome`
    scores an answer: gap and below fixed."""
    kept_output, used, _ = result["fits"][HANDING_BACK]["decisions"][key_name(PREVIOUS)]
    step = used if lag is None else min(kept_output + lag, used)
    answer, everything = result["fits"][HANDING_BACK]["psnr_avg"][step - 1], result["all_pixels"]
    return {"gap": max(everything) - answer, "below_fixed": everything[-1] - answer}


def anchor_section(results: list[dict]) -> list[str]:
    """The rule before's (PREVIOUS, the rule these were measured with) average kept at its output's kept step + each
    lag of ANCHOR_LAGS against its own lowest held-out error, over every seed fitted with the hand-back, per half; the
    lag chosen on the tune half."""
    cases = [r for r in results if HANDING_BACK in r["fits"]]
    lines = [
        f"## The output's kept step as the average's anchor ({seeds_of(cases)}; read off `--fraction {HANDING_BACK}`)"
    ]
    lines += [
        "",
        f"The fits with the hand-back as above, read with the rule before (`{rule_name(HANDING_BACK, PREVIOUS)}`): its",
        "average kept not at its own lowest held-out error but a lag after the step its output was kept at (the",
        "output's smoothed held-out error is lowest there; the average follows the output with a delay), or at the",
        "step it stopped if that came sooner; the last step: the average of the step it stopped at. Same fits, same",
        "steps; each cell: mean gap / worst gap / worst below fixed / fits more than 0.1 dB below fixed.",
        "",
        "| the average kept at | tune | report | check (after the choice) |",
        "|---|---|---|---|",
    ]

    default = rule_name(HANDING_BACK, PREVIOUS)
    halves = ("tune", "report", "check")
    own = [outcomes_cell([outcome(r, default) for r in cases if r["half"] == half]) for half in halves]
    lines.append(f"| its own lowest held-out error (the rule as it is) | {' | '.join(own)} |")
    scores = {}
    for lag in ANCHOR_LAGS:
        outcomes = {half: [anchored(r, lag) for r in cases if r["half"] == half] for half in halves}
        tune = outcomes["tune"]
        scores[lag] = (round(statistics.fmean(o["gap"] for o in tune), 2), round(max(o["gap"] for o in tune), 2))
        name = "the last step" if lag is None else f"the output's kept step + {lag}"
        lines.append(f"| {name} | {' | '.join(outcomes_cell(outcomes[half]) for half in outcomes)} |")
    chosen = min(scores, key=lambda lag: (*scores[lag], lag is None, lag or 0))
    lines += ["", f"Chosen on the tune half (lowest mean gap, then worst gap, then the shortest lag): {chosen}.", ""]
    lines += ["Its answer against the rule's own, fit by fit (dB, positive: the anchor's; mean, standard error):", ""]
    for half in halves:
        gains = [outcome(r, default)["gap"] - anchored(r, chosen)["gap"] for r in cases if r["half"] == half]
        error = statistics.stdev(gains) / len(gains) ** 0.5
        lines.append(f"- {half}: {statistics.fmean(gains):+.2f} +- {error:.2f} over {len(gains)} fits")
    return [*lines, ""]


def seeds_section(results: list[dict]) -> list[str]:
    """The default's answer against the fixed budget's on the cases that may fall under it, from seed 0 (the
    traces, with the hand-back) and SEEDS (`--seeds`): per seed, and their mean and spread."""
    cases = [r for r in results if r.get("seeds")]
    seeds = (0, *SEEDS)
    lines = ["## Other seeds of the cases that may fall under the fixed budget (`--seeds`)", ""]
    lines += [
        "The seed draws z, the network's weights and the held-out pixels. A held-out fit and the all-pixel fit of",
        "the same seed start alike and part within a few steps (their data terms differ), so where both end at the",
        "budget, the difference of their answers is partly which way each went. Each case the default may answer",
        f"under the fixed budget (it ran into the last {max(HAND_BACK)} steps, or its trace's answer is under the",
        "budget's) is fitted again from other seeds, the default as a run fits it (hand-back included) and on all",
        "pixels for the budget. Below fixed = the budget's answer - the default's, per seed (positive: the default",
        "did worse); all pixels' SD = the spread of the budget's own answer over the seeds.",
        "",
        "| case (half) | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | SD | all pixels' SD | mean gap |",
        "|---|" + "---|" * (len(seeds) + 4),
    ]
    means = {}
    for r in cases:
        below, fixed, gaps = [], [], []
        for seed in seeds:
            if seed == 0:
                answer, everything = hand_back_answer(r, max(HAND_BACK))[0], r["all_pixels"]
            else:
                run = r["seeds"][str(seed)]
                answer, everything = run["psnr_avg"][run["kept_avg"] - 1], run["all_pixels"]
            below.append(everything[-1] - answer)
            fixed.append(everything[-1])
            gaps.append(max(everything) - answer)
        means[r["case"]] = (r["half"], statistics.fmean(below))
        cells = " | ".join(f"{b:+.2f}" for b in below)
        lines.append(
            f"| {r['case']} ({r['half']}) | {cells} | {statistics.fmean(below):+.2f} | {statistics.stdev(below):.2f} | "
            f"{statistics.stdev(fixed):.2f} | {statistics.fmean(gaps):.2f} |"
        )
    lines.append("")
    for half in ("tune", "report", "check"):
        worst = [(mean, case) for case, (h, mean) in means.items() if h == half]
        if worst:
            mean, case = max(worst)
            lines.append(f"- {half} half: worst mean below fixed over the seeds {mean:+.2f} dB ({case})")
    return [*lines, ""]


def variant_section(results: list[dict], variants: list[dict]) -> list[str]:
    """The default (fraction=auto, PREVIOUS's detector, no hand-back) on the profile with one of its settings
    changed (`--variant`), against that variant's own all-pixel fit, beside the profile's."""
    default, profile = rule_name("auto", PREVIOUS), {r["case"]: r for r in results}
    lines = ["## The profile's settings one at a time (`--variant`)", ""]
    lines += [
        "Each variant fits the cases of a half with the profile's settings and the overrides shown, held out as the",
        f"default holds out and on all pixels; its default's answer (`{default}`, no hand-back) against its own",
        "all-pixel fit's best average, and beside the profile's answer on the same cases (dB; positive: better).",
        "",
        "| variant | half | cases | mean gap | worst gap | worst below fixed | steps used | answer vs the profile's |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for variant in dict.fromkeys(v["variant"] for v in variants):
        for half in ("tune", "report", "check"):
            cases = [v for v in variants if v["variant"] == variant and v["half"] == half]
            if not cases:
                continue
            s = summary(cases, default)
            change = statistics.fmean(
                outcome(v, default)["psnr"] - outcome(profile[v["case"]], default)["psnr"] for v in cases
            )
            lines.append(
                f"| `{variant}` | {half} | {len(cases)} | {s['mean_gap']:.2f} | {s['worst_gap']:.2f} | "
                f"{s['worst_below_fixed']:.2f} | {s['used'] * 100:.0f} % | {change:+.2f} |"
            )
    lines += ["", "| case | variant | all pixels: best (step) | answer (steps) | the profile's answer |"]
    lines.append("|---|---|---|---|---|")
    for v in variants:
        mine, theirs, everything = outcome(v, default), outcome(profile[v["case"]], default), v["all_pixels"]
        best = max(everything)
        lines.append(
            f"| {v['case']} | `{v['variant']}` | {best:.2f} ({everything.index(best) + 1}) | {mine['psnr']:.2f} "
            f"({mine['used'] * v['budget']:.0f}) | {theirs['psnr']:.2f} |"
        )
    return [*lines, ""]


def hand_back_section(results: list[dict]) -> list[str]:
    """The default (fraction=auto) with stopping.hand_back=R, on every half (R = 0: without)."""
    lines = ["## Handing the held-out pixels back for the budget's last steps (stopping.hand_back)", ""]
    machines = {run["machine"] for r in results for run in r.get("hand_back", {}).values()}
    lines += [
        "A fit the default has not stopped R steps before its budget's end was still improving within its",
        "patience, and the budget cuts it anyway: with `stopping.hand_back=R` the held-out pixels go back into the",
        "data term for those last R steps and the answer is the last step's average (the rule in a run, the fit",
        "built as a run builds it: `python experiments/stopping_all_pixels.py --hand-back`) on each case whose",
        f"trace the default had not stopped {max(HAND_BACK)} steps before its end, at every R (R = 0: its trace);",
        "a case the default stopped earlier keeps its trace's answer.",
        "Steps used: no more than the budget.",
        "",
        *(f"- Hand-back runs on {name}" for name in sorted(machines)),
        "",
        "| R | tune: mean gap / worst gap / worst below fixed / steps | report: the same | check: the same |",
        "|---|---|---|---|",
    ]
    for steps in (0, *HAND_BACK):
        cells = []
        for half in ("tune", "report", "check"):
            cases = [r for r in results if r["half"] == half]
            answers, used = zip(*(hand_back_answer(r, steps) for r in cases), strict=True)
            gaps = [max(r["all_pixels"]) - a for r, a in zip(cases, answers, strict=True)]
            below = [r["all_pixels"][-1] - a for r, a in zip(cases, answers, strict=True)]
            summary = f"{statistics.fmean(gaps):.2f} / {max(gaps):.2f} / {max(below):.2f}"
            cells.append(f"{summary} / {statistics.fmean(used) * 100:.0f} %")
        lines.append(f"| {steps} | {' | '.join(cells)} |")
    tune = [r for r in results if r["half"] == "tune"]
    blocked = [f"R = {steps}: {'; '.join(blocking(tune, steps))}" for steps in HAND_BACK if blocking(tune, steps)]
    if not any(hands_back(r) for r in tune):
        lines += [
            "",
            f"No tune case runs past the hand-back step of R = {max(HAND_BACK)}: the tune half cannot choose R (the",
            "profile's R was chosen on the tune half of the profile measured before; see HAND_BACK).",
        ]
    else:
        lines += [
            "",
            f"Chosen on the tune half: R = {choose_hand_back(tune)}, the lowest mean gap among the R whose hand-back",
            f"step comes at least a patience ({PATIENCE} steps) after every tune case's stop before it (a fit",
            "stopped just before, run again on other bits, could be handed back past its peak and return the fixed",
            f"budget's answer). Ruled out: {'; '.join(blocked) or 'none'}.",
        ]
    changed = [r for r in results if hands_back(r)]
    lines += [
        "",
        "| case (half) | all pixels: best / fixed | " + " | ".join(f"R={s}" for s in (0, *HAND_BACK)) + " |",
    ]
    lines.append("|---|---" + "|---" * (1 + len(HAND_BACK)) + "|")
    for r in changed:
        cells = " | ".join(f"{hand_back_answer(r, s)[0]:.2f}" for s in (0, *HAND_BACK))
        everything = r["all_pixels"]
        lines.append(f"| {r['case']} ({r['half']}) | {max(everything):.2f} / {everything[-1]:.2f} | {cells} |")
    return [*lines, ""]


def merged(done: list[dict], result: dict) -> list[dict]:
    """The traces with a case's new held-out fit (and all-pixel fit) added to its entry."""
    for entry in done:
        if entry["case"] == result["case"]:
            entry["fits"].update(result["fits"])
            for key in ("all_pixels", "refit"):
                if key in result:
                    entry[key] = result[key]
            for key in ("hand_back", "seeds"):
                entry.setdefault(key, {}).update(result.get(key, {}))
            return done
    return [*done, result]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument(
        "--fraction", help=f"of the observed pixels held out (or auto; {HANDING_BACK}: auto, with the hand-back)"
    )
    parser.add_argument("--refit", action="store_true", help="measure the refit from the kept weights")
    parser.add_argument("--hand-back", action="store_true", help="measure stopping.hand_back (HAND_BACK)")
    parser.add_argument("--seeds", action="store_true", help="the cases that may fall under the budget, from SEEDS")
    parser.add_argument("--seed", type=int, help="fit every case (held out, all pixels) from this seed into SEEDED")
    parser.add_argument("--variant", help="overrides on the profile, space-separated: fitted into VARIANTS")
    parser.add_argument("--photo-size", action="store_true", help="PHOTO_CASES, every detector with the hand-back")
    parser.add_argument("--again", action="store_true", help="fit the held-out fits again (new VALIDATION detectors)")
    parser.add_argument("--analyse", action="store_true", help="only analyse the saved traces")
    args = parser.parse_args()
    output, traces = HERE / "stopping_all_pixels.md", HERE / "stopping_all_pixels_traces.json"
    variants = json.loads(VARIANTS.read_text()) if VARIANTS.is_file() else []
    seeded = json.loads(SEEDED.read_text()) if SEEDED.is_file() else []
    photo_size = json.loads(PHOTO_SIZE.read_text()) if PHOTO_SIZE.is_file() else []
    command = "python experiments/stopping_all_pixels.py [--fraction F]"
    minutes = None
    done = json.loads(traces.read_text()) if traces.is_file() else []
    if not args.analyse:
        started = time.perf_counter()
        names = args.cases.split(",") if args.cases else list(CASES)
        fitted = {r["case"]: r for r in done}
        if args.photo_size:
            fitted_photos = {r["case"] for r in photo_size}
            work, todo = run_case, [(name, HANDING_BACK, True) for name in PHOTO_CASES if name not in fitted_photos]
        elif args.variant:
            work, todo = run_case, [(name, "auto", True, args.variant) for name in names]
            todo = [job for job in todo if (job[0], args.variant) not in {(v["case"], v["variant"]) for v in variants}]
        elif args.seed is not None:  # a new case and seed: held out at `auto` and on all pixels; else a new fraction
            work, fraction = run_case, args.fraction or "auto"
            fitted_seeds = {r["case"]: r for r in seeded if r["seed"] == args.seed}
            todo = [
                (name, fraction, name not in fitted_seeds, f"seed={args.seed}")
                for name in names
                if name not in fitted_seeds or fraction not in fitted_seeds[name]["fits"]
            ]
        elif args.refit:
            work, todo = run_refit, [name for name in names if "refit" not in fitted.get(name, {})]
        elif args.hand_back:
            work = run_hand_back
            todo = [
                (name, steps)
                for name in names
                for steps in HAND_BACK
                if hands_back(fitted[name]) and str(steps) not in fitted[name].get("hand_back", {})
            ]
        elif args.seeds:
            work = run_seed
            todo = [
                (name, seed)
                for name in names
                if may_fall_under_budget(fitted[name])
                for seed in SEEDS
                if str(seed) not in fitted[name].get("seeds", {})
            ]
        else:
            work, fraction = run_case, args.fraction or str(FRACTION)
            todo = [
                (name, fraction, name not in fitted)
                for name in names
                if name not in fitted or fraction not in fitted[name]["fits"] or args.again
            ]
        with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
            for result in pool.imap_unordered(work, todo):
                if args.photo_size:
                    photo_size.append(result)
                    PHOTO_SIZE.write_text(json.dumps(photo_size))
                    continue
                if args.seed is not None:
                    same = [r for r in seeded if r["seed"] == args.seed]
                    seeded = [r for r in seeded if r["seed"] != args.seed] + merged(same, result | {"seed": args.seed})
                    SEEDED.write_text(json.dumps(seeded))
                    continue
                if args.variant:
                    variants.append(result)
                    VARIANTS.write_text(json.dumps(variants))
                    continue
                done = merged(done, result)
                traces.write_text(json.dumps(done))  # what is done so far survives an interruption
        minutes = (time.perf_counter() - started) / 60
    report = analyse([r for r in done if r["case"] in CASES], minutes, command, variants, seeded, photo_size)
    output.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
