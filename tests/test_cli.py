"""The command line as a user types it: `python -m dip_lightning ...`."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dip_lightning.run import wandb_logger as loggers
from dip_lightning.run.wandb_logger import wandb_mode

ROOT = Path(__file__).resolve().parents[1]


def dip(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dip_lightning", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


def test_cfg_job_shows_the_composed_config(tmp_path):
    result = dip("task=inpaint", "arch=unet", "--cfg", "job", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "_target_: dip_lightning.physics.mask.Mask" in result.stdout
    assert "_target_: dip_lightning.nets.unet.UNet" in result.stdout
    assert "lr: 0.001" in result.stdout  # the reference's learning rate for the inpainting U-Net
    assert "_target_: dip_lightning.data.masks.TextMask" in result.stdout


def test_a_run_from_the_command_line_leaves_its_record(tmp_path):
    result = dip("experiment=smoke", "task=sr", "task.num_iter=10", f"hydra.run.dir={tmp_path / 'out'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["task"] == "sr" and results["steps"] == 10
    assert (tmp_path / "out" / "comparison.png").is_file()
    assert (tmp_path / "out" / "csv" / "metrics.csv").is_file()


def test_bad_input_is_one_clear_line(tmp_path):
    result = dip("experiment=smoke", "observed=missing.png", f"hydra.run.dir={tmp_path / 'out'}", cwd=tmp_path)
    assert result.returncode == 2
    assert "FileNotFoundError: image file not found: missing.png" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_wandb_runs_offline_without_an_account(tmp_path):
    env = {"HOME": str(tmp_path), "NETRC": str(tmp_path / "none")}  # no key anywhere
    result = dip(
        "experiment=smoke",
        "logger=wandb",
        "task.num_iter=3",
        f"hydra.run.dir={tmp_path / 'out'}",
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert list((tmp_path / "out" / "wandb").glob("offline-run-*"))


@pytest.mark.parametrize(
    "env, netrc, expected",
    [
        ({}, None, "offline"),
        ({"WANDB_API_KEY": "k" * 40}, None, "online"),
        ({}, "machine api.wandb.ai\n  login user\n  password " + "k" * 40, "online"),
        ({"WANDB_API_KEY": "k" * 40, "WANDB_MODE": "disabled"}, None, "disabled"),
    ],
)
def test_wandb_mode_is_online_only_with_a_key(monkeypatch, tmp_path, env, netrc, expected):
    for name in ("WANDB_API_KEY", "WANDB_MODE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    netrc_path = tmp_path / "netrc"
    if netrc is not None:
        netrc_path.write_text(netrc)
    monkeypatch.setenv("NETRC", str(netrc_path))
    monkeypatch.setattr(loggers, "_server_answers", lambda: True)  # no network here: pretend the server answers
    assert wandb_mode() == expected
