"""Where the time of the bf16 CPU step goes: torch.profiler over a few steps of the framework's fit (the
suite's `experiment=quick` problem, default skip network, on the astronaut photo at each size), each
operator's own time summed into groups (convolutions, BatchNorm, LeakyReLU, reflection padding,
upsampling, concatenation, casts and copies, Adam, ...), per variant of the suite. Writes profile.md
beside this script: the reference every later change of the step is judged against.

An operator's time goes to the group of the innermost operator around it that a group names (a copy
inside a cast is a cast; the buffers a convolution allocates are the convolution's); everything Adam's
update runs is Adam's; the part of the step that no operator covers is Python, Lightning and the
autograd engine between the operators.

    python experiments/benchmarks/profile_step.py [--sizes 256,512] [--steps 3]
        [--variants bf16-mixed,bf16-channels_last] [--threads N] [--overrides "arch.num_channels_down=[..] ..."]
        [--note TEXT] [--output PATH]
"""

import argparse
import datetime
import functools
import logging
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import pytorch_lightning as pl
import torch
from framework_overhead import benchmark_trainer
from suite import VARIANTS, config_at, int_list, name_list, report_header
from torch.autograd.profiler import record_function
from torch.profiler import ProfilerActivity, profile

from dip_lightning.build import build_module
from dip_lightning.config.resolvers import register_resolvers
from dip_lightning.hardware.layout import torch_format

WARMUP = 3  # steps before the profile: the first steps allocate, and oneDNN picks its kernels
ADAM, FORWARD = "profile_step: Adam's update", "profile_step: network forward"
BACKWARD = "autograd::engine::evaluate_function"
# (group, substrings of the operator names it holds), the first that matches wins
GROUPS = (
    ("convolutions", ("conv",)),
    ("BatchNorm", ("batch_norm",)),
    ("LeakyReLU", ("leaky_relu",)),
    ("reflection padding", ("reflection_pad",)),
    ("upsampling", ("upsample",)),
    ("concatenation", ("aten::cat",)),
    ("casts and copies", ("aten::to", "aten::_to_copy", "aten::copy_", "aten::contiguous", "aten::clone")),
    ("sigmoid and loss", ("sigmoid", "mse_loss")),
)
OTHER, PYTHON = "other operators", "Python, Lightning, autograd between operators"
ROWS = (*(name for name, _ in GROUPS), "Adam", OTHER, PYTHON)


def labelled(function: Callable, label: str) -> Callable:
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with record_function(label):
            return function(*args, **kwargs)

    return wrapper


class ProfileSteps(pl.Callback):
    """torch.profiler over `steps` steps after the first `warmup`, and their wall time."""

    def __init__(self, warmup: int, steps: int):
        self.warmup, self.steps = warmup, steps
        self.profiler: profile | None = None
        self.seconds = 0.0

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if trainer.global_step == self.warmup:
            self.profiler = profile(activities=[ProfilerActivity.CPU])
            self.profiler.__enter__()
            self.started = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if trainer.global_step == self.warmup + self.steps and self.profiler is not None:
            self.seconds = time.perf_counter() - self.started
            self.profiler.__exit__(None, None, None)


def group_of(event) -> tuple[str, str]:
    """(the event's group, forward | backward | optimizer | rest): the innermost operator a group names."""
    chain, node = [], event
    while node is not None:
        chain.append(node.name)
        node = node.cpu_parent
    phase = "rest"
    if ADAM in chain or any(name.startswith("Optimizer.zero_grad") for name in chain):
        phase = "optimizer"
    elif any(name.startswith(BACKWARD) for name in chain):
        phase = "backward"
    elif FORWARD in chain:
        phase = "forward"
    if ADAM in chain:
        return "Adam", phase
    for name in chain:
        for group, patterns in GROUPS:
            if any(pattern in name for pattern in patterns):
                return group, phase
    if not event.name.startswith("aten::"):  # a label's own time: the Python inside it
        return PYTHON, phase
    return OTHER, phase


def profile_variant(size: int, name: str, steps: int, overrides: tuple[str, ...] = ()) -> dict:
    """Milliseconds per step of each group and phase, the calls of each operator, the wall time."""
    variant = VARIANTS[name]
    cfg = config_at(size, WARMUP + steps, overrides)
    module = build_module(cfg, memory_format=torch_format(variant.memory_format))
    if variant.prepare is not None:
        variant.prepare(module)
    module.prior.render = labelled(module.prior.render, FORWARD)
    probe = ProfileSteps(WARMUP, steps)
    benchmark_trainer(WARMUP + steps, [probe], variant.precision).fit(module)
    groups, phases, others, covered = Counter(), Counter(), Counter(), Counter()
    for event in probe.profiler.events():
        if event.cpu_parent is None:  # the time operators cover, per thread
            covered[event.thread] += event.cpu_time_total
        group, phase = group_of(event)
        groups[group] += event.self_cpu_time_total
        phases[phase] += event.self_cpu_time_total
        if group == OTHER:
            others[event.name] += event.self_cpu_time_total
    uncovered = max(probe.seconds * 1e6 - max(covered.values()), 0.0)  # on the thread that runs the step
    groups[PYTHON] += uncovered
    phases["rest"] += uncovered
    per_step = 1e3 / steps / 1e6  # microseconds of all the steps -> milliseconds per step
    return {
        "step_ms": probe.seconds * 1e3 / steps,
        "groups": {group: us * per_step for group, us in groups.items()},
        "phases": {phase: us * per_step for phase, us in phases.items()},
        "others": [(op, us * per_step) for op, us in others.most_common(6)],
    }


def size_section(size: int, profiles: dict[str, dict], steps: int) -> list[str]:
    names = list(profiles)
    lines = [
        f"## {size} x {size} px",
        "",
        f"Milliseconds per step (the mean of {steps} profiled steps after {WARMUP}), and the share of the step. "
        "The step's total is one short sample: compare speeds in the suite's alternating runs, not here.",
        "",
        "| group | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for row in ROWS:
        cells = []
        for name in names:
            ms, total = profiles[name]["groups"].get(row, 0.0), profiles[name]["step_ms"]
            cells.append(f"{ms:.0f} ({ms / total:.0%})")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    lines.append("| **the step** | " + " | ".join(f"**{profiles[n]['step_ms']:.0f}**" for n in names) + " |")
    lines += ["", "| phase | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for phase in ("forward", "backward", "optimizer", "rest"):
        cells = []
        for name in names:
            ms, total = profiles[name]["phases"].get(phase, 0.0), profiles[name]["step_ms"]
            cells.append(f"{ms:.0f} ({ms / total:.0%})")
        lines.append(f"| {phase} | " + " | ".join(cells) + " |")
    lines.append("")
    for name in names:
        top = ", ".join(f"{op} {ms:.1f}" for op, ms in profiles[name]["others"])
        lines.append(f"- {OTHER} of {name}, the largest (ms per step): {top or 'none'}")
    return lines


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int_list, default=[256, 512], help="square image sizes, px")
    parser.add_argument("--steps", type=int, default=3, help=f"profiled steps per variant (after {WARMUP})")
    parser.add_argument("--variants", type=name_list, default=["bf16-mixed", "bf16-channels_last"])
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--overrides", type=str.split, default=[], help="Hydra overrides, space-separated")
    parser.add_argument("--note", help="a line for the report's header, e.g. whether the machine was shared")
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("profile.md"))
    args = parser.parse_args()
    if unknown := set(args.variants) - set(VARIANTS):
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}; choose from {', '.join(VARIANTS)}")
    return args


def main() -> None:
    args = parse_args()
    register_resolvers()
    adam_module = sys.modules[torch.optim.Adam.__module__]  # torch.optim.adam, which torch.optim's name hides
    adam_module.adam = labelled(adam_module.adam, ADAM)  # what Adam.step calls after the closure
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    started = datetime.datetime.now().astimezone()
    body: list[str] = []
    for size in args.sizes:
        profiles = defaultdict(dict)
        for name in args.variants:
            profiles[name] = profile_variant(size, name, args.steps, tuple(args.overrides))
            print(f"{name} at {size}: {profiles[name]['step_ms']:.0f} ms/step", flush=True)
        body += ["", *size_section(size, dict(profiles), args.steps)]
    header = report_header(
        "Profile of the CPU step: where its time goes, by operator group",
        started,
        args.note,
        "- Problem: `experiment=quick` (denoise, sigma 25, default skip network, Adam, output averaging) on the "
        "astronaut photo resized to each size, through a Lightning Trainer as a run fits it"
        + (f"; overrides `{' '.join(args.overrides)}`" if args.overrides else ""),
        "- Groups: each operator's own time goes to the innermost operator around it that a group names; "
        "'Python, Lightning, autograd between operators' is the step's wall time that no operator covers, "
        "plus the own time of labels; the profiler adds a few microseconds to each operator",
    )
    report = "\n".join(header + body) + "\n"
    args.output.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
