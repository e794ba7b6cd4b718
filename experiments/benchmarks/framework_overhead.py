"""Framework overhead: the Lightning DIP loop against a plain PyTorch loop doing the same work.

Both fit the default skip network to the same noisy image (the `experiment=quick` problem) with the
same steps: forward from perturbed z, MSE, backward, Adam, the output average and one loss read-back
per step. Lightning's side also logs metrics, runs the backtracking snapshot and the PSNR/SSIM against
the ground truth every 10 steps, as a real run does. Runs alternate, and the median time per step
of each side is compared. Writes framework_overhead.md beside this script.

    python experiments/benchmarks/framework_overhead.py [--steps 80] [--repeats 5]
"""

import argparse
import platform
import statistics
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig

from dip_lightning.build import build_module
from dip_lightning.config.location import config_dir
from dip_lightning.hardware.machine import cpu_flags, cpu_name

WARMUP = 5


def quick_config(output_dir: Path, steps: int, overrides: tuple[str, ...] = ()):
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=["experiment=quick", f"task.num_iter={steps}", f"output_dir={output_dir}", "~logger", *overrides],
            return_hydra_config=True,
        )
    HydraConfig.instance().set_config(cfg)
    return cfg


class StepTimer(pl.Callback):
    def __init__(self):
        self.start = self.seconds = None

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if trainer.global_step == WARMUP:
            self.start = time.perf_counter()

    def on_train_end(self, trainer, module):
        self.seconds = time.perf_counter() - self.start


def benchmark_trainer(steps: int, callbacks: list, precision: str = "32-true") -> pl.Trainer:
    """A CPU Trainer with nothing but the fit: no logger, progress bar, summary or checkpoint."""
    return pl.Trainer(
        max_steps=steps,
        logger=False,
        callbacks=callbacks,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        accelerator="cpu",
        precision=precision,
    )


def lightning_seconds_per_step(cfg, steps: int) -> float:
    module = build_module(cfg)
    timer = StepTimer()
    benchmark_trainer(steps, [timer]).fit(module)
    return timer.seconds / (steps - WARMUP)


def plain_seconds_per_step(cfg, steps: int) -> float:
    module = build_module(cfg)  # the same network, z and observation, used as plain tensors
    net, z, observed = module.prior.net, module.prior.z, module.observed
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(1)
    average = None
    for step in range(steps):
        if step == WARMUP:
            start = time.perf_counter()
        optimizer.zero_grad()
        noise = torch.randn(z.shape, generator=generator) * (1 / 30)
        output = net(z + noise)
        loss = F.mse_loss(output, observed)
        loss.backward()
        optimizer.step()
        loss.item()
        with torch.no_grad():
            average = output.detach().clone() if average is None else average.lerp_(output.detach(), 0.01)
    return (time.perf_counter() - start) / (steps - WARMUP)


def machine() -> str:
    return (
        f"{cpu_name()} ({cpu_flags()}), {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"Python {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cfg = quick_config(Path("/tmp/dip-bench"), args.steps)
    plain, lightning = [], []
    for _ in range(args.repeats):
        plain.append(plain_seconds_per_step(cfg, args.steps))
        lightning.append(lightning_seconds_per_step(cfg, args.steps))
    plain_s, lightning_s = statistics.median(plain), statistics.median(lightning)
    overhead = lightning_s / plain_s - 1
    height, width = build_module(cfg).observed.shape[-2:]
    lines = [
        "# Framework overhead: Lightning DIP loop vs a plain PyTorch loop",
        "",
        f"- Machine: {machine()}",
        f"- Problem: `experiment=quick` (denoise, default skip net, {height} x {width} image), fp32, CPU",
        f"- Method: {args.repeats} alternating runs of {args.steps} steps each, first {WARMUP} not timed; "
        "median seconds per step",
        f"- Command: `python experiments/benchmarks/framework_overhead.py --steps {args.steps} "
        f"--repeats {args.repeats}`",
        "",
        "| loop | s/step (median) | runs |",
        "|---|---|---|",
        f"| plain PyTorch | {plain_s:.4f} | {', '.join(f'{s:.4f}' for s in plain)} |",
        f"| dip-lightning | {lightning_s:.4f} | {', '.join(f'{s:.4f}' for s in lightning)} |",
        "",
        f"Overhead: {overhead * 100:+.1f} % (target: at most +3 %).",
    ]
    report = "\n".join(lines) + "\n"
    (Path(__file__).with_suffix(".md")).write_text(report)
    print(report)


if __name__ == "__main__":
    main()
