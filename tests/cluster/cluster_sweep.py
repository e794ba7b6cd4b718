"""What the cluster tests share: starting and stopping a test cluster with its script, tiny fits, a sweep
run in the background, reading a job's results while it runs, and a photo restored in tiles."""

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

HERE = Path(__file__).resolve().parent
TINY = [
    "experiment=smoke",
    "image.max_size=32",
    "arch.num_channels_down=[8,8]",
    "arch.num_channels_up=[8,8]",
    "arch.num_channels_skip=[2,2]",
    "callbacks.progress_bar.refresh_rate=0",
    "threads=1",  # the same arithmetic in every job and in the run compared with it: bit for bit
]
SCORES = ("status", "steps", "psnr", "psnr_avg", "ssim", "ssim_avg", "psnr_observed", "best_psnr_avg")
TILES = ["tile=32", "tile_overlap=8", "task.num_iter=20", "stopping=none"]  # a 40 x 48 photo: 4 tiles
STARTED: list[subprocess.Popen] = []  # the sweeps and runs the tests started: ended with their cluster


def cluster(script: str, folder: Path, needs: list[str], why: str, **env: str) -> Iterator[dict[str, str]]:
    """Starts the cluster of tests/cluster/<script> in `folder`, yields the environment that reaches it,
    stops it. Skips where its programs are absent; fails where they are there but it does not start."""
    missing = [name for name in needs if shutil.which(name) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not found: {why}")
    environment = {**os.environ, **env}
    started = subprocess.run(
        [str(HERE / script), "start", str(folder)], capture_output=True, text=True, timeout=180, env=environment
    )
    assert started.returncode == 0, started.stdout + started.stderr
    name, value = started.stdout.strip().splitlines()[-1].removeprefix("export ").split("=", 1)
    try:
        yield {**environment, name: value}
    finally:
        for process in STARTED:  # a test that failed half way leaves its sweep running
            if process.poll() is None:
                process.kill()
                process.wait()
        subprocess.run([str(HERE / script), "stop", str(folder)], capture_output=True, timeout=120, env=environment)


def sweep(folder: Path, env: dict, *overrides: str) -> subprocess.Popen:
    """`python -m dip_lightning -m ...` into folder/sweep, in the background; its output in folder/sweep.txt."""
    command = [sys.executable, "-m", "dip_lightning", "-m", *TINY, *overrides, f"hydra.sweep.dir={folder / 'sweep'}"]
    output = (folder / "sweep.txt").open("w")
    STARTED.append(subprocess.Popen(command, cwd=folder, env=env, stdout=output, stderr=subprocess.STDOUT, text=True))
    return STARTED[-1]


def finish(process: subprocess.Popen, folder: Path, timeout: float) -> str:
    """Waits for a sweep; returns its output, asserting that it ended well."""
    try:
        code = process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
    output = (folder / "sweep.txt").read_text()
    assert code == 0, output
    return output


def results(job: Path) -> dict:
    try:
        return json.loads((job / "results.json").read_text())
    except (OSError, ValueError):
        return {}


def wait_for(job: Path, condition, process: subprocess.Popen, timeout: float = 240) -> dict:
    """Polls the job's results.json until condition(record) holds; the sweep must still be running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = results(job)
        if record and condition(record):
            return record
        assert process.poll() is None, f"the sweep ended first: {results(job)}"
        time.sleep(0.2)
    raise TimeoutError(f"{job}: {results(job)}")


def uninterrupted(folder: Path, *overrides: str) -> subprocess.Popen:
    """The same fit as a single run on this machine, without a scheduler, to compare with."""
    command = [sys.executable, "-m", "dip_lightning", *TINY, *overrides, f"hydra.run.dir={folder}"]
    STARTED.append(subprocess.Popen(command, cwd=folder.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return STARTED[-1]


def noisy_photo(folder: Path) -> Path:
    """A 40 x 48 noisy RGB photo (seeded) written to folder/photo.png: TILES cut it into four tiles."""
    y, x = np.mgrid[0:40, 0:48]
    clean = np.stack([128 + 90 * np.sin(x / 6), 128 + 90 * np.cos(y / 5), 3 * (x + y)], axis=-1)
    noisy = clean + np.random.default_rng(0).normal(0, 25, clean.shape)
    path = folder / "photo.png"
    Image.fromarray(noisy.clip(0, 255).round().astype(np.uint8)).save(path)
    return path


def tiled_sweep(folder: Path, env: dict, *launcher: str) -> tuple[list[str], str]:
    """A noisy photo's tiles as a sweep on `launcher` into folder/sweep, and the same tiles one after
    another in one run on this machine (folder/one_run); checks that the stitched photos are equal (to 4
    decimals) at the photo's size; returns the sweep's tile jobs and its output."""
    photo = noisy_photo(folder)
    one_run = uninterrupted(folder / "one_run", f"observed={photo}", *TILES)
    output = finish(sweep(folder, env, *launcher, f"observed={photo}", *TILES), folder, timeout=600)
    sweep_folder, one_run_folder = folder / "sweep", folder / "one_run"
    assert one_run.wait(timeout=300) == 0
    jobs = sorted(path.name for path in sweep_folder.iterdir() if path.name[0].isdigit())
    assert [job.split(",")[0] for job in jobs] == [f"{index}_tile_index={index}" for index in range(4)]
    stitched = torch.load(sweep_folder / "restored" / "photo.pt", weights_only=True)["restored_avg"]
    in_one_run = torch.load(one_run_folder / "restoration.pt", weights_only=True)["restored_avg"]
    assert stitched.shape == in_one_run.shape == (3, 40, 48)
    assert torch.allclose(stitched, in_one_run, atol=1e-4), (stitched - in_one_run).abs().max()
    assert Image.open(sweep_folder / "restored" / "photo.png").size == (48, 40)
    return jobs, output
