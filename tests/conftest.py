"""Shared fixtures: compose the real Hydra config (as the command line does) into a temporary folder; run
the real command line in its own process."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from PIL import Image

from dip_lightning.config.location import config_dir
from dip_lightning.train import run

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

if os.environ.get("PYTEST_XDIST_WORKER"):  # make test: one test per core at a time, each on its own core
    torch.set_num_threads(1)

# The default skip network's shape at its smallest: two levels of 8 channels (stride 4), for fits of a few steps
TINY_NET = ["arch.num_channels_down=[8,8]", "arch.num_channels_up=[8,8]", "arch.num_channels_skip=[2,2]"]

# Small, fast settings every test run starts from; a test's own overrides come after and win.
FAST = [
    "~logger",
    "save_every=null",
    "callbacks.progress_bar.refresh_rate=0",
    "trainer.enable_model_summary=false",
    "image.max_size=64",
    "check_fit=false",  # tests/hardware/test_preflight.py checks it
]


def compose_config(output_dir: Path, *overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        cfg = compose("config", overrides=[f"output_dir={output_dir}", *overrides], return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    return cfg


@pytest.fixture
def configure(tmp_path):
    """configure('task=sr', ...) -> the composed config, writing into tmp_path/run."""
    return lambda *overrides: compose_config(tmp_path / "run", *FAST, *overrides)


@pytest.fixture
def fit(configure):
    """fit('task=sr', 'task.num_iter=5') -> the run's record (what results.json holds)."""
    return lambda *overrides: run(configure(*overrides))


@pytest.fixture
def fit_logged(tmp_path):
    """As `fit`, with the default loggers on (csv/metrics.csv in tmp_path/run)."""
    fast = [override for override in FAST if override != "~logger"]
    return lambda *overrides: run(compose_config(tmp_path / "run", *fast, *overrides))


def dip(*arguments: str, cwd: Path, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """`python -m dip_lightning <arguments>` as a user types it, in `cwd`, with `env` set in the environment
    (a name set to None: left out)."""
    environment = {name: value for name, value in {**os.environ, **(env or {})}.items() if value is not None}
    return subprocess.run(
        [sys.executable, "-m", "dip_lightning", *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
    )


def run_together(commands: dict, timeout: int = 600) -> dict:
    """{key: (arguments, cwd)} -> {key: the CompletedProcess of `python -m dip_lightning <arguments>`}, all
    started at once: each is mostly the import of its libraries, so side by side on two cores nine took 29 s
    where in turn they took 47."""
    started = {}
    for key, (arguments, cwd) in commands.items():
        command = [sys.executable, "-m", "dip_lightning", *arguments]
        process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started[key] = (command, process)
    done = {}
    for key, (command, process) in started.items():
        stdout, stderr = process.communicate(timeout=timeout)
        done[key] = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    return done


def make_net(arch: str, in_channels: int, out_channels: int, extra: tuple[str, ...] = (), **overrides):
    """A network from its conf/arch yaml (the one place for its defaults) with some keys changed; `extra`:
    overrides of the config around it (a search path)."""
    changes = [
        f"arch.{key}={value!r}" if isinstance(value, str) else f"arch.{key}={value}" for key, value in overrides.items()
    ]
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        cfg = compose("config", overrides=[*extra, f"arch={arch}", *changes])
    return instantiate(cfg.arch)(num_input_channels=in_channels, num_output_channels=out_channels)


def write_png(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    Image.fromarray(array, mode=mode).save(path)
    return path


@pytest.fixture
def photo(tmp_path) -> np.ndarray:
    """A smooth RGB test picture, 72 x 100 (fit_size=crop cuts it to 64 x 96 for a stride of 32), as uint8."""
    y, x = np.mgrid[0:72, 0:100]
    picture = np.stack([128 + 100 * np.sin(x / 9), 128 + 100 * np.cos(y / 7), (x + y) * 2], axis=-1)
    return picture.clip(0, 255).astype(np.uint8)


def noisy_photo(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(clean, noisy): a smooth RGB picture of height x width and a copy with Gaussian noise of sigma 25
    (seeded), as (H, W, 3) float32 arrays in [0, 1]."""
    y, x = np.mgrid[0:height, 0:width]
    clean = np.stack([0.5 + 0.4 * np.sin(x / 9), 0.5 + 0.4 * np.cos(y / 7), (x + y) / (height + width)], axis=-1)
    clean = clean.clip(0, 1).astype(np.float32)
    noise = np.random.default_rng(0).normal(0, 25 / 255, clean.shape)
    return clean, (clean + noise).clip(0, 1).astype(np.float32)


def shared_image(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"{path} is not here (the paper's test images live in ../shared/data)")
    return path
