"""Benchmark suite: where the time and memory of a DIP step go, against the plain-PyTorch floor and the hardware.

Every section fits the default skip network to the `experiment=quick` problem (denoising, sigma 25) on
the astronaut photo resized to each size, and writes one part of suite.md beside this script:

- floor: the framework's step through a Lightning Trainer against a minimal plain PyTorch loop doing the
  same work (framework_overhead.py's two loops), alternating runs in one process;
- variants: the framework's step in fp32, bf16-mixed (where the CPU runs bf16 natively), channels_last
  (prior.memory_format) in fp32 and in bf16, with a fused or foreach Adam, with the network under
  torch.compile and with activation checkpointing, and with one of the default step's own speed-ups
  undone (autocast's fp32 padding, the concatenation's sliced gradients), each with the PSNR of a short
  fixed-seed run so that a speed-up that costs quality shows;
- flops: the FLOPs of one step and the rate each variant achieves, against the machine's matmul rate;
- memory: the peak resident memory of a fit against image size, in a fresh process per size, beside
  dip_lightning.hardware.memory's estimate, with and without activation checkpointing.

    python experiments/benchmarks/suite.py [--sizes 128,256,512] [--steps 40] [--repeats 3]
        [--only floor,variants,flops,memory] [--variants fp32,bf16-mixed,...] [--quick] [--output PATH]
        [--note "alone on the machine"]
"""

import argparse
import datetime
import functools
import logging
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytorch_lightning as pl
import torch
from framework_overhead import (
    WARMUP,
    benchmark_trainer,
    lightning_seconds_per_step,
    machine,
    plain_seconds_per_step,
    quick_config,
)
from hydra.utils import instantiate

from dip_lightning.build import build_module
from dip_lightning.config.resolvers import register_resolvers
from dip_lightning.data.images import load_image, resize, save_png
from dip_lightning.hardware.duration import matmul_rate, step_flops
from dip_lightning.hardware.layout import CHANNELS_LAST, CONTIGUOUS, torch_format
from dip_lightning.hardware.memory import (
    FIT_MARGIN,
    available_bytes,
    fit_memory,
    format_bytes,
    largest_fitting_size,
    peak_rss,
    reset_peak_rss,
)
from dip_lightning.hardware.precision import hardware_facts, native_bf16
from dip_lightning.module import DeepImagePrior
from dip_lightning.nets.checkpointing import enable_checkpointing
from dip_lightning.nets.layers import Concat, ReflectionPad

SECTIONS = ("floor", "variants", "flops", "memory", "quality", "restarts")
IMAGE = "astronaut"
MEMORY_STEPS = 3  # a fit reaches its peak memory by its second step (Adam's moments exist from then on)


# ----- the problem at a size ----------------------------------------------------------------------
@cache
def photo(size: int) -> Path:
    """The embedded photo resized to size x size, as a file the image config reads."""
    path = Path(tempfile.gettempdir()) / "dip-bench" / f"{IMAGE}-{size}.png"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        save_png(resize(load_image(IMAGE), size, size), path)
    return path


def config_at(size: int, steps: int, overrides: tuple[str, ...] = ()):
    """The `experiment=quick` config of framework_overhead.py (with Hydra `overrides`), on the photo at `size`."""
    cfg = quick_config(Path(tempfile.gettempdir()) / "dip-bench" / "run", steps, overrides)
    cfg.image.source, cfg.image.max_size = str(photo(size)), None
    return cfg


def net_factory(cfg, checkpointed: bool = False) -> Callable[..., torch.nn.Module]:
    make = instantiate(cfg.arch)
    return (lambda **sizes: enable_checkpointing(make(**sizes))) if checkpointed else make


# ----- the framework's step, in variants -----------------------------------------------------------
def compile_net(module: DeepImagePrior) -> None:
    # The inner net (compiling the LightningModule breaks self.log), for one static size as a run has:
    # with dynamic shapes, the second size's recompilation took over 10 minutes on one core.
    module.prior.net = torch.compile(module.prior.net, dynamic=False)


def checkpoint_net(module: DeepImagePrior) -> None:
    enable_checkpointing(module.prior.net)


def autocast_padding(module: DeepImagePrior) -> None:
    """The padding before nets.layers.ReflectionPad: nn.ReflectionPad2d, which autocast runs in float32."""
    for parent in module.prior.net.modules():
        for name, child in parent.named_children():
            if isinstance(child, ReflectionPad):
                setattr(parent, name, torch.nn.ReflectionPad2d(child.padding))


def sliced_concat_gradients(module: DeepImagePrior) -> None:
    """The concatenation before nets.layers.Concat copied its inputs' gradients into channels_last: torch.cat's
    channel slices, as they come."""
    for layer in module.prior.net.modules():
        if isinstance(layer, Concat):
            layer.copy_gradients = False


def adam(**options) -> Callable[[DeepImagePrior], None]:
    """The configured Adam with `options` (fused=True: one kernel for all parameters; foreach=True: one
    call per operation over the list of parameters; the default on a CPU is a loop over the parameters)."""

    def prepare(module: DeepImagePrior) -> None:
        module.optimizer_factory = functools.partial(module.optimizer_factory, **options)

    return prepare


def both(*steps: Callable[[DeepImagePrior], None]) -> Callable[[DeepImagePrior], None]:
    def prepare(module: DeepImagePrior) -> None:
        for step in steps:
            step(module)

    return prepare


@dataclass(frozen=True)
class Variant:
    name: str
    precision: str = "32-true"
    prepare: Callable[[DeepImagePrior], None] | None = None  # changes the module before the fit
    checkpointed: bool = False  # its step recomputes activations: more FLOPs
    memory_format: str = CONTIGUOUS  # the deep prior's layout, as prior.memory_format sets it

    @property
    def bf16(self) -> bool:
        return self.precision.startswith("bf16")

    @property
    def compiled(self) -> bool:
        return "compile" in self.name


VARIANTS = {
    v.name: v
    for v in (
        Variant("fp32"),
        Variant("bf16-mixed", precision="bf16-mixed"),
        Variant("channels_last", memory_format=CHANNELS_LAST),
        Variant("bf16-channels_last", precision="bf16-mixed", memory_format=CHANNELS_LAST),
        Variant("channels_last-sliced_concat_gradients", prepare=sliced_concat_gradients, memory_format=CHANNELS_LAST),
        Variant("bf16-channels_last-autocast_padding", "bf16-mixed", autocast_padding, memory_format=CHANNELS_LAST),
        Variant(
            "bf16-channels_last-sliced_concat_gradients",
            "bf16-mixed",
            sliced_concat_gradients,
            memory_format=CHANNELS_LAST,
        ),
        Variant("bf16-channels_last-fused_adam", "bf16-mixed", adam(fused=True), memory_format=CHANNELS_LAST),
        Variant("bf16-channels_last-foreach_adam", "bf16-mixed", adam(foreach=True), memory_format=CHANNELS_LAST),
        Variant("compile", prepare=compile_net),
        Variant("bf16-channels_last-compile", "bf16-mixed", compile_net, memory_format=CHANNELS_LAST),
        Variant("checkpointing", prepare=checkpoint_net, checkpointed=True),
    )
}


# what the suite runs unless --variants says otherwise; the Adam and bf16-compile variants are asked for by name
# (experiments/benchmarks/layout.md has their numbers)
DEFAULT_VARIANTS = ["fp32", "bf16-mixed", "channels_last", "bf16-channels_last", "compile", "checkpointing"]


class StepClock(pl.Callback):
    """The duration of every training step."""

    def __init__(self):
        self.ends: list[float] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.ends.append(time.perf_counter())

    def seconds_per_step(self, warmup: int) -> float:
        """The median step after `warmup` steps (compilation and first-touch costs excluded)."""
        durations = [end - start for start, end in zip(self.ends, self.ends[1:], strict=False)]  # steps 2, 3, ...
        return statistics.median(durations[min(max(warmup - 1, 0), len(durations) - 1) :])


def fit_variant(cfg, variant: Variant, steps: int, warmup: int = WARMUP) -> tuple[float, dict[str, float]]:
    """Fit `steps` steps through a Lightning Trainer; the median seconds per step and the final scores."""
    module = build_module(cfg, memory_format=torch_format(variant.memory_format))
    if variant.prepare is not None:
        variant.prepare(module)
    clock = StepClock()
    benchmark_trainer(steps, [clock], variant.precision).fit(module)
    return clock.seconds_per_step(warmup), module.scores(*module.outputs.result())


def bf16_is_native() -> tuple[bool, str]:
    return native_bf16("cpu", hardware_facts("cpu"))


# ----- the sections --------------------------------------------------------------------------------
def floor_section(args) -> list[str]:
    lines = [
        "## Floor: plain PyTorch against the framework's step",
        "",
        f"framework_overhead.py's loops at each size: {args.repeats} alternating runs of {args.steps} steps, "
        f"the first {WARMUP} not timed; median seconds per step.",
        "",
        "| size | plain s/step | dip-lightning s/step | ratio |",
        "|---|---|---|---|",
    ]
    for size in args.sizes:
        cfg = config_at(size, args.steps)
        plain, framework = [], []
        for _ in range(args.repeats):
            plain.append(plain_seconds_per_step(cfg, args.steps))
            framework.append(lightning_seconds_per_step(cfg, args.steps))
        plain_s, framework_s = statistics.median(plain), statistics.median(framework)
        lines.append(f"| {size} | {plain_s:.4f} | {framework_s:.4f} | {framework_s / plain_s:.3f} |")
        print(lines[-1], flush=True)
    return lines


def variants_section(args, timings: dict) -> list[str]:
    native, why = bf16_is_native()
    variants = [VARIANTS[name] for name in args.variants if not VARIANTS[name].bf16 or native or args.force_bf16]
    quality_size = min(args.sizes)
    lines = [
        "## Variants of the framework's step",
        "",
        f"Median seconds per step of {args.repeats} runs of {args.steps} steps per size (variants alternate; "
        f"steps after the first {WARMUP}), in brackets how many times faster than {variants[0].name}, and "
        + (
            f"the PSNR of the restoration (`psnr`) and of its average (`psnr_avg`) after a fixed-seed run of "
            f"{args.quality_steps} steps at {quality_size} px."
            if args.quality_steps
            else "no PSNR (--quality-steps 0)."
        ),
        "",
        "| variant | " + " | ".join(f"{s} px s/step" for s in args.sizes) + " | psnr | psnr_avg |",
        "|---|" + "---|" * (len(args.sizes) + 2),
    ]
    for name in args.variants:
        if name not in [v.name for v in variants]:
            lines.append(f"| {name} | skipped: {why} |" + " |" * (len(args.sizes) + 1))
    every_run = []
    for size in args.sizes:
        cfg = config_at(size, args.steps)
        runs = {v.name: [] for v in variants}
        for repeat in range(args.repeats):
            for variant in variants[repeat % len(variants) :] + variants[: repeat % len(variants)]:
                runs[variant.name].append(fit_variant(cfg, variant, args.steps)[0])
        for name, seconds in runs.items():
            timings[name, size] = statistics.median(seconds)
            print(f"{name} at {size}: {timings[name, size]:.4f} s/step", flush=True)
            every_run.append(f"{name} at {size} px: " + ", ".join(f"{second:.4f}" for second in seconds))
    cfg = config_at(quality_size, args.quality_steps) if args.quality_steps else None
    for variant in variants:
        cells = []
        for size in args.sizes:
            seconds = timings[variant.name, size]
            cells.append(f"{seconds:.4f} ({timings[variants[0].name, size] / seconds:.2f}x)")
        scores = fit_variant(cfg, variant, args.quality_steps)[1] if cfg is not None else {}
        quality = " | ".join(f"{scores[name]:.2f}" if name in scores else "-" for name in ("psnr", "psnr_avg"))
        lines.append(f"| {variant.name} | {' | '.join(cells)} | {quality} |")
        print(lines[-1], flush=True)
    return [*lines, "", "Each run's s/step, in the order run: " + "; ".join(every_run) + "."]


def quality_section(args) -> list[str]:
    """bf16 against fp32 in quality, over several seeds: one run's PSNR moves by a few tenths of a dB with
    the seed (and with any change of rounding), so one pair of runs cannot tell a real loss. The bf16 side
    is --quality-variant: what trainer.precision=auto and prior.memory_format=auto run where bf16 is
    native (bf16-channels_last)."""
    native, why = bf16_is_native()
    if not (native or args.force_bf16):
        return ["## bf16 against fp32 in quality", "", f"Not run: {why}."]
    size = min(args.sizes)
    lines = [
        "## bf16 against fp32 in quality",
        "",
        f"`psnr_avg` after {args.quality_steps} steps at {size} px, one run per seed and precision.",
        "",
        f"| seed | fp32 | {args.quality_variant} | bf16 - fp32 |",
        "|---|---|---|---|",
    ]
    differences = []
    for seed in range(args.seeds):
        cfg = config_at(size, args.quality_steps)
        cfg.seed = seed
        fp32, bf16 = (
            fit_variant(cfg, VARIANTS[name], args.quality_steps)[1]["psnr_avg"]
            for name in ("fp32", args.quality_variant)
        )
        differences.append(bf16 - fp32)
        lines.append(f"| {seed} | {fp32:.2f} | {bf16:.2f} | {bf16 - fp32:+.2f} |")
        print(lines[-1], flush=True)
    mean = statistics.fmean(differences)
    spread = statistics.stdev(differences) if len(differences) > 1 else float("nan")
    lines += [
        f"| mean | | | {mean:+.2f} (standard deviation {spread:.2f}) |",
        "",
        f"bf16 is {'within' if abs(mean) <= 0.3 else 'not within'} 0.3 dB of fp32 on average here "
        "(trainer.precision=auto's condition).",
    ]
    return lines


def restarts_section(args) -> list[str]:
    """N restarts as one batched computation (torch.func.vmap) against the N networks in turn."""
    count, size = 4, min(args.sizes)
    lines = [
        "## Restarts: batched against sequential",
        "",
        f"{count} restarts at {size} px, median seconds per step of {args.steps} steps (after the first {WARMUP}), "
        "and the images an hour that makes at the paper's 2000 steps (each image the mean of the restarts).",
        "",
        "| restarts | s/step | images an hour |",
        "|---|---|---|",
    ]
    for batched in (False, True):
        cfg = config_at(size, args.steps)
        cfg.restarts, cfg.restarts_batched = count, batched
        seconds = fit_variant(cfg, VARIANTS["fp32"], args.steps)[0]
        how = "batched (vmap)" if batched else "one after another"
        lines.append(f"| {count}, {how} | {seconds:.4f} | {3600 / (seconds * 2000):.2f} |")
        print(lines[-1], flush=True)
    return lines


def flops_section(args, timings: dict) -> list[str]:
    native, why = bf16_is_native()
    peaks = {"fp32": matmul_rate("cpu", torch.float32, args.matmul_size, repeats=5)}
    if native or args.force_bf16:
        peaks["bf16"] = matmul_rate("cpu", torch.bfloat16, args.matmul_size, repeats=5)
    cfg = config_at(min(args.sizes), args.steps)
    flops = {
        (checkpointed, size): step_flops(net_factory(cfg, checkpointed), 3, cfg.prior.input_depth, size, size)
        for checkpointed in (False, True)
        for size in args.sizes
    }
    for size in args.sizes:
        if not any(timed == size for _, timed in timings):  # the variants section did not run: time fp32 here
            timings["fp32", size] = fit_variant(config_at(size, args.steps), VARIANTS["fp32"], args.steps)[0]
    lines = [
        "## FLOPs and how close to the hardware",
        "",
        "FLOPs of one step (forward and backward, as torch.utils.flop_counter counts them: convolutions and "
        "matrix products; with checkpointing, the recomputation too), the rate each variant achieves (its FLOPs "
        "over its s/step from the variants section) and, in brackets, that rate as a fraction of the machine's "
        f"matmul rate (the best of 5 products of {args.matmul_size} x {args.matmul_size} matrices: "
        + ", ".join(f"{name} {rate / 1e9:.0f} GFLOP/s" for name, rate in peaks.items())
        + ("" if "bf16" in peaks else f"; bf16 not timed: {why}")
        + ").",
        "",
        "| | " + " | ".join(f"{size} px" for size in args.sizes) + " |",
        "|---|" + "---|" * len(args.sizes),
        "| GFLOP per step | " + " | ".join(f"{flops[False, size] / 1e9:.2f}" for size in args.sizes) + " |",
        "| GFLOP per step, checkpointing | "
        + " | ".join(f"{flops[True, size] / 1e9:.2f}" for size in args.sizes)
        + " |",
    ]
    for name in dict.fromkeys(name for name, _ in timings):
        peak = peaks.get("bf16" if VARIANTS[name].bf16 else "fp32")
        cells = []
        for size in args.sizes:
            rate = flops[VARIANTS[name].checkpointed, size] / timings[name, size]
            cells.append(f"{rate / 1e9:.1f}" + (f" ({rate / peak:.0%})" if peak else ""))
        lines.append(f"| GFLOP/s, {name} | " + " | ".join(cells) + " |")
    return lines


def peak_rss_of_a_fit(size: int, checkpointed: bool, threads: int) -> dict:
    """Run in a fresh process: the resident memory a fit of MEMORY_STEPS steps adds, and its s/step."""
    torch.set_num_threads(threads)
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    cfg = config_at(size, MEMORY_STEPS)
    before = reset_peak_rss()
    variant = VARIANTS["checkpointing" if checkpointed else "fp32"]
    seconds, _ = fit_variant(cfg, variant, MEMORY_STEPS, warmup=1)
    return {"before": before, "peak": peak_rss(), "seconds": seconds}


def memory_section(args) -> list[str]:
    cfg = config_at(min(args.memory_sizes), MEMORY_STEPS)
    depth = cfg.prior.input_depth
    models = {ck: fit_memory(net_factory(cfg, ck), 3, depth) for ck in (False, True)}
    free = available_bytes("cpu")
    budget = int(free * args.memory_fraction)
    largest = {ck: largest_fitting_size(m, 4096, 4096, budget, m.stride, m.min_size) for ck, m in models.items()}
    sizes = sorted({*args.memory_sizes, *(min(min(s), args.memory_max_size) for s in largest.values() if s)})
    lines = [
        "## Memory against image size",
        "",
        f"Each fit runs {MEMORY_STEPS} steps in a fresh process; 'grew' is its peak resident memory (VmHWM, "
        "reset when the imports are done and the module is about to be built) less its resident memory then, "
        "beside the estimate of "
        f"dip_lightning.hardware.memory (whose margin leaves {1 - FIT_MARGIN:.0%} of the free memory spare). "
        f"Free memory now: {format_bytes(free)}; the sizes go up to the largest square the estimate fits in "
        f"{args.memory_fraction:.0%} of it ({format_bytes(budget)}).",
        "",
        "| size | checkpointing | grew | estimate | estimate / grew | s/step |",
        "|---|---|---|---|---|---|",
    ]
    context = multiprocessing.get_context("spawn")
    for size in sizes:
        for checkpointed in (False, True):
            if models[checkpointed](size, size) > budget:
                lines.append(f"| {size} | {'on' if checkpointed else 'off'} | not run: over the budget | | | |")
                continue
            with context.Pool(1) as pool:
                run = pool.apply(peak_rss_of_a_fit, (size, checkpointed, torch.get_num_threads()))
            grew, estimate = run["peak"] - run["before"], models[checkpointed](size, size)
            lines.append(
                f"| {size} | {'on' if checkpointed else 'off'} | {format_bytes(grew)} | {format_bytes(estimate)} "
                f"| {estimate / grew:.2f} | {run['seconds']:.3f} |"
            )
            print(lines[-1], flush=True)
    sides = {ck: "none" if s is None else f"{s[1]} x {s[0]}" for ck, s in largest.items()}
    lines += [
        "",
        f"In {format_bytes(budget)} the estimate fits {sides[False]} without checkpointing and {sides[True]} with "
        f"it ({models[False].bytes_per_pixel:.0f} against {models[True].bytes_per_pixel:.0f} bytes per pixel).",
    ]
    return lines


# ----- the report ----------------------------------------------------------------------------------
def shell_word(text: str) -> str:
    return f'"{text}"' if " " in text else text


def report_header(title: str, started: datetime.datetime, note: str | None, *details: str) -> list[str]:
    """A benchmark report's first lines: its title, the machine, `details`, the date, the command, a note."""
    seconds = (datetime.datetime.now().astimezone() - started).seconds
    command = " ".join([Path(sys.argv[0]).as_posix(), *map(shell_word, sys.argv[1:])])
    lines = [f"# {title}", "", f"- Machine: {machine()}", *details]
    lines += [f"- Date: {started:%Y-%m-%d %H:%M %Z}, {seconds} s", f"- Command: `python {command}`"]
    return lines + ([f"- Note: {note}"] if note else [])


def int_list(text: str) -> list[int]:
    return [int(item) for item in text.split(",")]


def name_list(text: str) -> list[str]:
    return text.split(",")


QUICK = {
    "sizes": [64, 96],
    "memory_sizes": [64, 96],
    "memory_max_size": 128,
    "repeats": 1,
    "steps": WARMUP + 2,
    "quality_steps": 5,
    "seeds": 2,
    "matmul_size": 256,
    "variants": [name for name in DEFAULT_VARIANTS if not VARIANTS[name].compiled],  # a minute per size
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int_list, default=[128, 256, 512], help="square image sizes, px")
    parser.add_argument("--steps", type=int, default=40, help=f"steps per timed run (the first {WARMUP} not timed)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs per measurement")
    parser.add_argument(
        "--quality-steps", type=int, default=400, help="steps of the PSNR run of each variant (0: none)"
    )
    parser.add_argument("--seeds", type=int, default=4, help="seeds of the bf16 against fp32 quality section")
    parser.add_argument(
        "--quality-variant", default="bf16-channels_last", help="the bf16 variant the quality section compares"
    )
    parser.add_argument("--memory-sizes", type=int_list, default=[256, 512, 1024], help="sizes of the memory section")
    parser.add_argument("--memory-fraction", type=float, default=0.5, help="of the free memory, the most a fit may use")
    parser.add_argument("--memory-max-size", type=int, default=4096, help="the largest size the memory section runs")
    parser.add_argument("--matmul-size", type=int, default=2048, help="side of the matrices timed for the peak rate")
    parser.add_argument("--only", type=name_list, default=list(SECTIONS), help=f"sections: {','.join(SECTIONS)}")
    parser.add_argument("--variants", type=name_list, default=DEFAULT_VARIANTS, help=",".join(VARIANTS))
    parser.add_argument(
        "--threads", type=int, help="torch threads (default: torch's); 1 where other jobs share the CPU"
    )
    parser.add_argument("--force-bf16", action="store_true", help="run bf16 even where it is not native (slow)")
    parser.add_argument("--quick", action="store_true", help=f"a smoke test in seconds: {QUICK}, unless given")
    parser.add_argument("--output", type=Path, default=Path(__file__).with_suffix(".md"))
    parser.add_argument("--note", help="a line for the report's header, e.g. whether the machine was shared")
    args = parser.parse_args(argv)
    if args.quick:  # the quick values become the defaults: what the command line gives still wins
        parser.set_defaults(**QUICK)
        args = parser.parse_args(argv)
    if (
        unknown := set(args.only) - set(SECTIONS)
        | set(args.variants) - set(VARIANTS)
        | {args.quality_variant} - set(VARIANTS)
    ):
        parser.error(f"unknown sections or variants: {', '.join(sorted(unknown))}")
    if args.steps <= WARMUP:
        parser.error(f"--steps must be more than the {WARMUP} steps not timed")
    return args


def main() -> None:
    args = parse_args()
    register_resolvers()  # the composed config's hydra node uses the project's resolvers
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    started = datetime.datetime.now().astimezone()
    timings: dict[tuple[str, int], float] = {}
    sections = {
        "floor": lambda: floor_section(args),
        "variants": lambda: variants_section(args, timings),
        "flops": lambda: flops_section(args, timings),
        "memory": lambda: memory_section(args),
        "quality": lambda: quality_section(args),
        "restarts": lambda: restarts_section(args),
    }
    body = []
    for name in SECTIONS:
        if name in args.only:
            body += ["", *sections[name]()]
    header = report_header(
        "Benchmark suite: the DIP step against its floor, the hardware and the memory",
        started,
        args.note,
        "- Problem: `experiment=quick` (denoise, sigma 25, default skip network, Adam, output averaging) on "
        f"the {IMAGE} photo resized to each size, CPU",
    )
    report = "\n".join(header + body) + "\n"
    args.output.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
