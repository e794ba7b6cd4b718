"""Scale: a 1-megapixel photo restored in tiles by 1 and by 2 workers, and the preflight's estimate for a
12-megapixel photo on N workers.

The photo: 1024 x 1024, a 2 x 2 mosaic of the central 512 x 512 pixels of four Kodak photos
(../shared/data/cbm3d9: kodim01, 02, 03, 12) with Gaussian noise of sigma 25 (seed 0), as a PNG. Restored
as a user restores it in tiles: `observed=PHOTO tile=256 tile_overlap=32` (25 tiles), each tile with a
fixed budget of --steps steps (stopping=none: the benchmark measures throughput, not quality), by
- 1 worker: one run, the tiles one after another in one process using the whole machine (2 threads);
- 2 workers on Ray: the sweep `-m observed=PHOTO tile=256 hydra/launcher=ray_cluster` on the two-node Ray
  cluster of tests/cluster/ray.sh (a head and a worker node, 1 CPU each; each job threads=1);
- 2 workers on SLURM: the same sweep with hydra/launcher=slurm on the one-node SLURM of
  tests/cluster/slurm.sh (a job array, 2 jobs of 1 CPU at a time; each job threads=1).
Measured: the wall time from the command to the stitched photo, tile-steps a second in all and per
worker, and per tile the fit's own seconds (its results.json) against its job's share of the wall time
(the rest: start-up, imports, scheduling). All on one machine, so 2 workers share its 2 cores.

The estimate: a 4000 x 3000 photo (12 MP), tiled as `tile=auto` tiles it on this machine and in 512 px
tiles, 3000 steps a tile (the denoising budget; the stopping rule ends most tiles sooner): one tile's time
from the preflight (hardware/preflight.tile_cost, the number a run logs), and on N workers
ceil(tiles / N) tiles one after another. The CPU's estimate is also scaled by this benchmark's measured /
estimated ratio for a 256 px tile. The GPU's: gpu.md's measured 25.22 ms a step at 512 x 512 (bf16-mixed,
NVIDIA H200), 512 px tiles.

    python experiments/benchmarks/tile_scale.py [--steps 8] [--skip-clusters]   # writes tile_scale.md
"""

import argparse
import datetime
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from hydra.utils import instantiate
from suite import report_header

from dip_lightning.build import _network_of, plan_tiles
from dip_lightning.config.composition import composed
from dip_lightning.data.crop import centred
from dip_lightning.data.images import load_image, save_png
from dip_lightning.data.tiles import TileGrid
from dip_lightning.hardware.precision import compute_dtype, resolve_precision
from dip_lightning.hardware.preflight import tile_cost
from dip_lightning.run.results import RunRecord

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DATA = ROOT.parent / "shared" / "data" / "cbm3d9"
CLUSTERS = ROOT / "tests" / "cluster"
KODAK = ("kodim01", "kodim02", "kodim03", "kodim12")
SIDE, TILE, OVERLAP, SIGMA = 1024, 256, 32, 25
GPU_STEP_SECONDS = 0.02522  # gpu.md: the default skip network at 512 x 512, bf16-mixed, H200
BIG = (3000, 4000)  # a phone photo, H x W
WORKERS = (1, 2, 4, 16, 64)


def mosaic(folder: Path) -> Path:
    """The noisy 1024 x 1024 mosaic as folder/photo.png."""
    half = SIDE // 2
    parts = [centred(*image.shape[-2:], half, half)(image) for image in (load_image(DATA / f"{n}.png") for n in KODAK)]
    clean = torch.cat([torch.cat(parts[:2], dim=-1), torch.cat(parts[2:], dim=-1)], dim=-2)
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(0)) * SIGMA / 255
    save_png((clean + noise).clamp(0, 1), folder / "photo.png")
    return folder / "photo.png"


def settings(photo: Path, steps: int) -> list[str]:
    return [
        f"observed={photo}",
        f"tile={TILE}",
        f"tile_overlap={OVERLAP}",
        f"task.num_iter={steps}",
        "stopping=none",
        "save_every=null",
        "callbacks.progress_bar.refresh_rate=0",
    ]


def timed(command: list[str], cwd: Path, env: dict | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return time.perf_counter() - started


def tile_records(folders: list[Path]) -> list[dict]:
    return [RunRecord.read(folder).to_json() for folder in folders]


def one_worker(folder: Path, photo: Path, steps: int) -> dict:
    run = folder / "one_worker"
    command = [sys.executable, "-m", "dip_lightning", *settings(photo, steps), "threads=2", f"hydra.run.dir={run}"]
    wall = timed(command, folder)
    tiles = tile_records(sorted((run / "tiles").iterdir()))
    return {"workers": 1, "where": "one run (2 threads)", "wall": wall, "tiles": tiles}


def cluster_env(script: str, folder: Path) -> dict:
    env = {**os.environ, "RAY": str(Path(sys.executable).parent / "ray")}
    started = subprocess.run([str(CLUSTERS / script), "start", str(folder)], env=env, capture_output=True, text=True)
    if started.returncode != 0:
        raise RuntimeError(f"{script} start failed:\n{started.stdout}{started.stderr}")
    name, value = started.stdout.strip().splitlines()[-1].removeprefix("export ").split("=", 1)
    return {**env, name: value}


def two_workers(folder: Path, photo: Path, steps: int, launcher: str) -> dict:
    script, overrides = {
        "ray": ("ray.sh", ["hydra/launcher=ray_cluster", "hydra.launcher.ray.remote.num_cpus=1"]),
        "slurm": (
            "slurm.sh",
            [
                "hydra/launcher=slurm",
                "hydra.launcher.gpus_per_node=0",
                "hydra.launcher.mem_gb=4",
                "hydra.launcher.timeout_min=60",
                "hydra.launcher.cpus_per_task=1",
                "hydra.launcher.array_parallelism=2",
            ],
        ),
    }[launcher]
    cluster_dir = Path(tempfile.mkdtemp(prefix=f"dip-{launcher}-", dir="/tmp"))  # short: Ray's socket paths
    env = cluster_env(script, cluster_dir)
    sweep = folder / launcher
    command = [sys.executable, "-m", "dip_lightning", "-m", *settings(photo, steps), "threads=1", *overrides]
    try:
        wall = timed([*command, f"hydra.sweep.dir={sweep}"], folder, env)
    finally:
        subprocess.run([str(CLUSTERS / script), "stop", str(cluster_dir)], env=env, capture_output=True)
    jobs = sorted((path for path in sweep.iterdir() if path.name[0].isdigit()), key=lambda p: int(p.name.split("_")[0]))
    assert (sweep / "restored" / "photo.png").is_file(), "no stitched photo"
    return {"workers": 2, "where": launcher, "wall": wall, "tiles": tile_records(jobs)}


def estimates(steps_measured: int, measured_tile_seconds: float) -> list[str]:
    """The preflight's estimate of a 12 MP photo in tiles, on N workers; lines of the report."""
    logging.basicConfig(level=logging.WARNING)
    with composed(["observed=big.png", "check_fit=true"]) as cfg:
        dtype = compute_dtype(resolve_precision(cfg.trainer.precision, cfg.trainer.accelerator))
        network = _network_of(cfg, dict(instantiate(cfg.prior).keywords), 3)
        budget = cfg.task.num_iter
        pictures = {"observed": (torch.zeros(3, *BIG), None)}
        auto = plan_tiles(cfg, pictures, dtype)
        rows = []
        plans = [("tile=auto", auto[0] if auto else None), ("tile=512", TileGrid(*BIG, 512, OVERLAP))]
        measured_per_step = measured_tile_seconds / steps_measured
        estimated_per_step = tile_cost(*network, TILE, 1, 1, "cpu", dtype)[0]
        ratio = measured_per_step / estimated_per_step
        for name, grid in plans:
            if grid is None:
                rows.append(f"| {name} | whole (fits the memory) | | | |")
                continue
            seconds, needs = tile_cost(*network, grid.tile, budget, 1, "cpu", dtype)
            gpu = budget * GPU_STEP_SECONDS * (grid.tile / 512) ** 2 if grid.tile >= 512 else budget * GPU_STEP_SECONDS
            for workers in WORKERS:
                rounds = math.ceil(len(grid) / workers)
                rows.append(
                    f"| {name}: {len(grid)} tiles of {grid.tile} px, {needs / 1e9:.1f} GB each | {workers} | "
                    f"{hours(rounds * seconds)} | {hours(rounds * seconds * ratio)} | {hours(rounds * gpu)} |"
                )
    return [
        "",
        f"## The preflight's estimate for a {BIG[1]} x {BIG[0]} photo, {budget} steps a tile",
        "",
        f"A 256 px tile's step here: measured {measured_per_step:.2f} s (one worker), estimated "
        f"{estimated_per_step:.2f} s: measured / estimated {ratio:.2f}.",
        "",
        "| tiles | workers | CPU, preflight | CPU, preflight x measured ratio | GPU (H200, gpu.md) |",
        "|---|---:|---:|---:|---:|",
        *rows,
    ]


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min"


def report(runs: list[dict], steps: int) -> tuple[list[str], float]:
    lines = [
        "",
        f"## A {SIDE} x {SIDE} photo in {len(runs[0]['tiles'])} tiles of {TILE} px, {steps} steps a tile",
        "",
        "| workers | where | wall (s) | tile-steps / s | per worker | fit s / tile (median) | "
        "wall s / tile / worker | start-up and scheduling / tile |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        count = len(run["tiles"])
        fits = sorted(tile["seconds"] for tile in run["tiles"])
        rate = count * steps / run["wall"]
        share = run["wall"] * run["workers"] / count
        lines.append(
            f"| {run['workers']} | {run['where']} | {run['wall']:.0f} | {rate:.2f} | {rate / run['workers']:.2f} | "
            f"{fits[len(fits) // 2]:.1f} | {share:.1f} | {share - sum(fits) / count:.1f} |"
        )
    one = runs[0]
    return lines, sorted(tile["seconds"] for tile in one["tiles"])[len(one["tiles"]) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--skip-clusters", action="store_true", help="1 worker only (no root, no SLURM, no Ray)")
    parser.add_argument("--note")
    args = parser.parse_args()
    started = datetime.datetime.now().astimezone()
    folder = Path(tempfile.mkdtemp(prefix="dip-tile-scale-"))
    photo = mosaic(folder)
    runs = [one_worker(folder, photo, args.steps)]
    print(json.dumps({k: v for k, v in runs[-1].items() if k != "tiles"}), flush=True)
    if not args.skip_clusters:
        for launcher in ("ray", "slurm"):
            runs.append(two_workers(folder, photo, args.steps, launcher))
            print(json.dumps({k: v for k, v in runs[-1].items() if k != "tiles"}), flush=True)
    lines, tile_seconds = report(runs, args.steps)
    lines += estimates(args.steps, tile_seconds)
    header = report_header("Tiles on 1 and 2 workers, and a 12 MP photo's estimate", started, args.note)
    (HERE / "tile_scale.md").write_text("\n".join([*header, *lines]) + "\n")
    (HERE / "tile_scale.json").write_text(json.dumps(runs, indent=1) + "\n")


if __name__ == "__main__":
    main()
