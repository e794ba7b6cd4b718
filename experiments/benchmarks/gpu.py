"""The GPU part of the benchmark suite, for a lent GPU: how long 3000 steps of the default skip network take at
512 x 512 in each variant (the goal: under 20 s), the framework's step against a plain PyTorch loop, where
a step's time goes (a profile), and restarts batched against sequential. Writes gpu.md.

    python experiments/benchmarks/gpu.py [--steps 3000] [--output PATH]
"""

import argparse
import datetime
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from dip_lightning.build import build_module
from dip_lightning.config.location import config_dir
from dip_lightning.run.record import evaluate

QUIET = dict(logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
SETTINGS = {"size": 512, "accelerator": "gpu"}  # --size and --accelerator (cpu: a smoke test of this script)


def config(steps: int, *overrides: str, size: int | None = None):
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        return compose(
            "config",
            overrides=["~logger", "check_fit=false", "save_every=null", "checkpoint_every=null", "image.max_size=null"]
            + [f"image.center_crop={size or SETTINGS['size']}", f"task.num_iter={steps}", *overrides],
        )


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def trainer(steps: int, precision: str, callbacks: list) -> pl.Trainer:
    return pl.Trainer(
        max_steps=steps,
        accelerator=SETTINGS["accelerator"],
        devices=1,
        precision=precision,
        callbacks=callbacks,
        **QUIET,
    )


@dataclass
class Variant:
    name: str
    precision: str
    channels_last: bool = False
    fused_adam: bool = False
    compiled: bool = False


VARIANTS = [
    Variant("fp32 (TF32 convolutions)", "32-true"),
    Variant("bf16-mixed", "bf16-mixed"),
    Variant("bf16-mixed, channels_last, fused Adam", "bf16-mixed", channels_last=True, fused_adam=True),
    Variant("bf16-mixed, channels_last, fused Adam, compiled", "bf16-mixed", True, True, True),
]


class Clock(pl.Callback):
    def __init__(self):
        self.ends = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.ends.append(time.perf_counter())


def prepared(variant: Variant, steps: int, *overrides: str):
    extra = ["+optimizer.fused=true"] if variant.fused_adam else []
    module = build_module(config(steps, *extra, *overrides))
    if variant.channels_last:
        module.prior.net.to(memory_format=torch.channels_last)
        module.prior.z = module.prior.z.contiguous(memory_format=torch.channels_last)
    if variant.compiled:
        module.prior.net = torch.compile(module.prior.net, dynamic=False)
    return module


def fit(variant: Variant, steps: int, *overrides: str) -> dict:
    """A whole fit of `steps` steps: its wall time from the first step's start, per-step median, PSNR."""
    module = prepared(variant, steps, *overrides)
    clock = Clock()
    fitter = trainer(steps, variant.precision, [clock])
    sync()
    started = time.perf_counter()
    fitter.fit(module)
    sync()
    total = time.perf_counter() - started
    steps_times = [b - a for a, b in zip(clock.ends, clock.ends[1:], strict=False)]
    return {
        "total": total,
        "first": clock.ends[0] - started,  # the first step: cuDNN's choices, compilation
        "median": statistics.median(steps_times[10:]) if len(steps_times) > 20 else statistics.median(steps_times),
        "psnr_avg": evaluate(module)["psnr_avg"],
    }


def plain_seconds_per_step(variant: Variant, steps: int) -> float:
    """The floor: the same network, input, loss and Adam in a bare loop (autocast, one loss read a step)."""
    module = prepared(variant, steps).to("cuda" if SETTINGS["accelerator"] == "gpu" else "cpu")
    net, z, observed = module.prior.net, module.prior.z, module.observed
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01, fused=variant.fused_adam)
    average, times = None, []
    dtype = torch.bfloat16 if variant.precision.startswith("bf16") else torch.float32
    for _ in range(steps):
        start = time.perf_counter()
        optimizer.zero_grad()
        with torch.autocast(z.device.type, dtype=dtype, enabled=dtype != torch.float32):
            output = net(z + torch.randn_like(z) / 30)
        loss = F.mse_loss(output.float(), observed)
        loss.backward()
        optimizer.step()
        loss.item()
        with torch.no_grad():
            average = output.detach().float() if average is None else average.lerp_(output.detach().float(), 0.01)
        times.append(time.perf_counter() - start)
    return statistics.median(times[10:])


def profile(variant: Variant) -> list[str]:
    """Where a step's time goes: the CUDA kernels of 20 steps, grouped, against the wall time."""
    module = prepared(variant, 30)

    class Profile(pl.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            if trainer.global_step == 10:
                sync()
                activity = "CUDA" if torch.cuda.is_available() else "CPU"
                self.profiler = torch.profiler.profile(activities=[getattr(torch.profiler.ProfilerActivity, activity)])
                self.profiler.__enter__()
                self.started = time.perf_counter()

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            if trainer.global_step == 30:
                sync()
                self.wall = time.perf_counter() - self.started
                self.profiler.__exit__(None, None, None)

    probe = Profile()
    trainer(30, variant.precision, [probe]).fit(module)
    groups: dict[str, float] = {}
    for event in probe.profiler.key_averages():
        name = event.key.lower()
        group = next(
            (g for g, keys in GROUPS.items() if any(key in name for key in keys)),
            "other",
        )
        busy = event.device_time_total if torch.cuda.is_available() else event.self_cpu_time_total
        groups[group] = groups.get(group, 0.0) + busy / 1e6  # seconds
    busy = sum(groups.values())
    share = busy / probe.wall * 100
    lines = [f"- 20 steps: {probe.wall:.3f} s of wall time, the GPU busy {busy:.3f} s of it ({share:.0f} %)"]
    for group, seconds in sorted(groups.items(), key=lambda item: -item[1]):
        lines.append(
            f"  - {group}: {seconds / 20 * 1000:.2f} ms a step ({seconds / busy * 100:.0f} % of the GPU's time)"
        )
    return lines


GROUPS = {
    "convolutions (cuDNN)": ("conv", "cudnn", "implicit", "wgrad", "dgrad", "sm90_xmma", "cutlass", "gemm"),
    "batch norm": ("batch_norm", "bn_", "batchnorm"),
    "upsampling / padding": ("upsample", "reflection", "pad"),
    "elementwise (activations, Adam, averaging, noise)": (
        "elementwise",
        "vectorized",
        "reduce",
        "adam",
        "foreach",
        "leaky",
        "randn",
        "normal",
    ),
}


def restarts(count: int, batched: bool, steps: int) -> float:
    module = build_module(config(steps, f"restarts={count}", f"restarts_batched={batched}", size=256))
    clock = Clock()
    trainer(steps, "bf16-mixed", [clock]).fit(module)
    times = [b - a for a, b in zip(clock.ends, clock.ends[1:], strict=False)]
    return statistics.median(times[5:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("gpu.md"))
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--accelerator", default="gpu")
    parser.add_argument(
        "--budget", type=float, default=240.0, help="seconds after which the compiled variant is skipped"
    )
    args = parser.parse_args()
    SETTINGS.update(size=args.size, accelerator=args.accelerator)
    name = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU (smoke test)"
    lines = [
        "# GPU benchmark: the default skip network at 512 x 512",
        "",
        f"- Device: {name}; torch {torch.__version__}, pytorch-lightning {pl.__version__}; {datetime.date.today()}",
        f"- Command: `python experiments/benchmarks/gpu.py --steps {args.steps}` (through the device tool)",
        "- Problem: denoising (sigma 25) of the embedded astronaut photo, 512 x 512, the paper's settings;",
        "  a fit's time is from the start of its first step to the end of its last (no start-up)",
        "",
        f"## {args.steps} steps per variant",
        "",
        "| variant | whole fit (s) | first step (s) | median step (ms) | psnr_avg |",
        "|---|---:|---:|---:|---:|",
    ]
    results, started = {}, time.perf_counter()
    for variant in VARIANTS:
        if variant.compiled and time.perf_counter() - started > args.budget:
            lines.append(f"| {variant.name} | skipped: the device time ran short | | | |")
            continue
        result = fit(variant, args.steps)
        results[variant.name] = result
        lines.append(
            f"| {variant.name} | {result['total']:.1f} | {result['first']:.1f} | {result['median'] * 1000:.2f} | "
            f"{result['psnr_avg']:.2f} |"
        )
        print(lines[-1], flush=True)
        args.output.write_text("\n".join(lines) + "\n")  # what is done so far, should the rest not finish
    best = min(
        (v for v in VARIANTS[1:] if v.name in results and not v.compiled), key=lambda v: results[v.name]["total"]
    )
    plain = plain_seconds_per_step(best, 300)
    framework = results[best.name]["median"]
    lines += [
        "",
        f"## The framework against a plain PyTorch loop ({best.name})",
        "",
        f"- plain loop: {plain * 1000:.2f} ms a step; dip-lightning: {framework * 1000:.2f} ms a step "
        f"({(framework / plain - 1) * 100:+.1f} %)",
        "",
    ]
    args.output.write_text("\n".join(lines) + "\n")
    lines += [
        f"## Where the time of a step goes ({best.name})",
        "",
        *profile(best),
        "",
        "## Restarts: 4 networks at 256 x 256, bf16-mixed",
        "",
    ]
    for batched in (False, True):
        seconds = restarts(4, batched, 60 if SETTINGS["accelerator"] == "gpu" else 8)
        how = "batched (torch.func.vmap)" if batched else "one after another"
        per_hour = 3600 / (seconds * 2000)
        lines.append(f"- {how}: {seconds * 1000:.1f} ms a step for the 4, {per_hour:.0f} images an hour at 2000 steps")
        print(lines[-1], flush=True)
        args.output.write_text("\n".join(lines) + "\n")
    text = "\n".join(lines) + "\n"
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
