"""What the loggers and the sweep tools record, read back: W&B's offline run, TensorBoard's events, the
sweep table of jobs run through joblib and submitit."""

import csv
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_NET, noisy_photo, write_png
from conftest import dip as run_dip
from wandb_records import run_record

from dip_lightning.run.folder import run_group, run_name
from dip_lightning.run.tracking import flatten

TINY = [
    "experiment=smoke",
    "task.num_iter=3",
    "image.max_size=32",
    *TINY_NET,
    "callbacks.progress_bar.refresh_rate=0",
]
NO_KEY = {"NETRC": "/nonexistent", "WANDB_API_KEY": None, "WANDB_MODE": None}


def dip(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    result = run_dip(*args, cwd=cwd, env={**NO_KEY, "HOME": str(cwd)})
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_flatten_gives_every_setting_a_dotted_key():
    tree = {"optimizer": {"lr": 0.01, "_partial_": True}, "arch": {"num_channels_down": [8, 8]}, "seed": 3}
    assert flatten(tree) == {"optimizer.lr": 0.01, "arch.num_channels_down": "[8, 8]", "seed": 3}


def test_a_run_is_named_by_what_it_changes():
    assert run_group("RunMode.MULTIRUN", "multirun/2026-11-27_10-00", "denoise", "skip") == "2026-11-27_10-00"
    assert run_group("RunMode.RUN", "multirun/x", "denoise", "skip") == "denoise-skip"
    assert run_name("RunMode.RUN", ["optimizer.lr=0.001", "seed=2"], "x", None) == "lr=0.001,seed=2"
    assert run_name("RunMode.RUN", [], "x", None) == "defaults"


@pytest.mark.cli
def test_an_offline_wandb_run_holds_the_config_the_result_and_the_pictures(tmp_path):
    dip("optimizer.lr=0.02", *TINY, "logger=wandb", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    record = run_record(tmp_path / "run")
    assert record["config"]["optimizer.lr"] == 0.02
    assert record["config"]["arch.num_channels_down"] == "[8, 8]" and record["config"]["num_params"] > 0
    assert record["summary"]["psnr_avg"] == results["psnr_avg"]
    assert record["summary"]["best_psnr_avg_step"] == results["best_psnr_avg_step"]
    assert {"images/observation", "images/ground_truth", "images/restored", "images/restored_avg"} <= record["images"]
    assert (record["group"], record["job_type"]) == ("denoise-skip", "denoise")
    assert record["name"].startswith("lr=0.02,experiment=smoke") and record["tags"] == ["denoise", "skip", "astronaut"]
    assert (tmp_path / "run" / "csv" / "metrics.csv").is_file()  # the CSV log stays on


@pytest.mark.cli
def test_a_photo_in_tiles_is_a_wandb_run_with_the_stitched_photo_and_the_tile_table_beside_its_tiles(tmp_path):
    _, noisy = noisy_photo(40, 48)
    photo = write_png(tmp_path / "photo.png", (noisy * 255).round().astype(np.uint8))
    tiles = ["tile=32", "tile_overlap=8", "logger=wandb", f"hydra.run.dir={tmp_path / 'run'}"]
    dip(*TINY, f"observed={photo}", *tiles, cwd=tmp_path)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    record = run_record(tmp_path / "run")
    assert {"images/restored_avg", "images/tiles", "images/observation", "tile_table"} <= record["logged"]
    assert json.loads(record["summary"]["tiles"]) == results["tiles"] and len(results["tiles"]) == 4
    assert record["config"]["tile"] == 32 and record["summary"]["status"] == "finished"
    for index in range(4):
        tile = run_record(tmp_path / "run" / "tiles" / f"{index:03d}")
        assert tile["group"] == record["group"] and tile["name"] == f"{record['name']} tile {index}"
        assert tile["summary"]["psnr_observed"] == results["tiles"][index]["psnr_observed"]


@pytest.mark.cli
def test_tensorboard_beside_the_csv_log_gets_curves_and_pictures(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    dip(*TINY, "logger=tensorboard", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    assert "psnr_avg" in events.Tags()["scalars"] and "images/restored_avg" in events.Tags()["images"]
    assert (tmp_path / "run" / "csv" / "metrics.csv").is_file()


@pytest.mark.sweeps
@pytest.mark.parametrize("launcher", ["parallel", "slurm_local"])
def test_a_sweep_on_a_launcher_leaves_its_runs_and_their_table(tmp_path, launcher):
    sweep = tmp_path / "sweep"
    dip("-m", *TINY, "seed=0,1", f"hydra/launcher={launcher}", f"hydra.sweep.dir={sweep}", "logger=wandb", cwd=tmp_path)
    records = {folder.name: json.loads((folder / "results.json").read_text()) for folder in sweep.glob("*_seed=*")}
    assert sorted(records) == ["0_seed=0", "1_seed=1"]
    rows = {row["job"]: row for row in csv.DictReader((sweep / "summary.csv").open())}
    for name, record in records.items():
        assert record["status"] == "finished" and record["seed"] == int(name[-1])
        assert float(rows[name]["psnr_avg"]) == record["psnr_avg"] and rows[name]["overrides"] == f"seed={name[-1]}"
        wandb = run_record(sweep / name)
        assert wandb["group"] == sweep.name and wandb["name"] == f"seed={name[-1]}"
