"""Bad input, NaN, signals, hard kills and broken folders, tried as a user meets them: through the
command line where that is how they arrive. Each case: the exit code, one clear line (no traceback),
and no NaN or half-written file left behind."""

import csv
import json
import math
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
from conftest import TINY_NET, dip, run_together, write_png

from dip_lightning.run.folder import differing_overrides, job_dirname
from dip_lightning.train import run

TINY = [
    "image.max_size=32",
    *TINY_NET,
]
QUIET = ["callbacks.progress_bar.refresh_rate=0"]


def one_line_error(result: subprocess.CompletedProcess, code: int, message: str) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == code, output
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if "Error:" in line]
    assert len(errors) == 1 and message in errors[0], output
    return errors[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("files")
    picture = (np.random.default_rng(0).random((80, 80, 3)) * 255).astype(np.uint8)
    full = write_png(folder / "photo.png", picture)
    data = full.read_bytes()
    (folder / "truncated.png").write_bytes(data[: len(data) // 2])
    (folder / "a_folder").mkdir()
    (folder / "notes.png").write_text("not a picture\n")
    (folder / "bomb.png").write_bytes(png_declaring(30000, 30000))
    return folder


def png_declaring(width: int, height: int) -> bytes:
    """A PNG of a few bytes whose header declares width x height RGB pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (3 * width + 1))  # one row stored, the others only declared
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


BAD_INPUT = {  # overrides: the one line the user gets
    ("task.num_iter=0",): "task.num_iter must be an integer >= 1, got 0",
    ("task.eval_every=0",): "task.eval_every must be an integer >= 1, got 0",
    ("observed={files}/truncated.png",): "truncated.png is truncated or damaged: image file is truncated",
    ("observed={files}/notes.png",): "notes.png is not an image file Pillow can read",
    ("observed={files}/bomb.png",): "bomb.png declares 30000 x 30000 pixels (900 megapixels), more than the limit",
    ("optimizer.lr=nan",): "optimizer.lr must be a finite number > 0, got nan",
    ("image=file",): "image.source is not set: give image.source=... on the command line",
    ("image=file", "image.source=missing.png"): "image file not found: missing.png",
    ("observed=missing.png",): "image file not found: missing.png",
    ("observed={files}/a_folder",): "a_folder is a folder, not an image file",
    ("task=inpaint", "observed={files}/photo.png"): "your own damaged image needs your mask of its holes",
    ("hydra.run.dir=/proc/no/such/folder",): "cannot write the run's folder /proc/no/such/folder",
}


@pytest.fixture(scope="module")
def bad_input_runs(tmp_path_factory, files) -> dict[tuple[str, ...], tuple[subprocess.CompletedProcess, Path]]:
    """Every bad-input run of the command line, started together."""
    folders = {overrides: tmp_path_factory.mktemp("bad_input") for overrides in BAD_INPUT}
    commands = {}
    for overrides, folder in folders.items():
        arguments = [item.format(files=files) for item in overrides]
        if not any(item.startswith("hydra.run.dir") for item in arguments):
            arguments.append(f"hydra.run.dir={folder / 'out'}")
        commands[overrides] = (["experiment=smoke", *arguments], folder)
    return {overrides: (done, folders[overrides]) for overrides, done in run_together(commands).items()}


@pytest.mark.cli
@pytest.mark.parametrize("overrides", list(BAD_INPUT), ids=[" ".join(overrides) for overrides in BAD_INPUT])
def test_bad_input_is_one_line_and_exit_2(bad_input_runs, overrides):
    result, folder = bad_input_runs[overrides]
    message = BAD_INPUT[overrides]
    one_line_error(result, 2, message)
    assert "Warning" not in result.stdout + result.stderr  # nothing of PIL's (DecompressionBombWarning...)
    if not any("/proc/" in item for item in overrides):  # the run's folder says that it failed, and why
        record = json.loads((folder / "out" / "results.json").read_text())
        assert record["status"].startswith("failed: ") and message.split(":")[0] in record["status"]


@pytest.mark.sweeps
def test_a_bad_job_does_not_stop_the_sweep(tmp_path):
    sweep = ["-m", "experiment=smoke", *TINY, *QUIET, "task.sigma=-5,25", f"hydra.sweep.dir={tmp_path}"]
    result = dip(*sweep, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    failed = json.loads((tmp_path / "0_sigma=-5" / "results.json").read_text())
    finished = json.loads((tmp_path / "1_sigma=25" / "results.json").read_text())
    assert failed["status"] == "failed: InputError: task.sigma must be a finite number >= 0, got -5"
    assert finished["status"] == "finished" and finished["steps"] == 20
    rows = list(csv.DictReader((tmp_path / "summary.csv").open()))
    assert [(row["job"], row["status"][:6]) for row in rows] == [("1_sigma=25", "finish"), ("0_sigma=-5", "failed")]
    assert float(rows[0]["psnr_avg"]) == finished["psnr_avg"]


@pytest.mark.sweeps
def test_two_runs_started_together_get_their_own_folders(tmp_path):
    command = [sys.executable, "-m", "dip_lightning", "experiment=smoke", *TINY, *QUIET, "task.num_iter=3"]
    runs = [subprocess.Popen([*command, f"seed={seed}"], cwd=tmp_path, stdout=subprocess.DEVNULL) for seed in (1, 2)]
    assert [process.wait(timeout=300) for process in runs] == [0, 0]
    folders = sorted((tmp_path / "outputs" / "denoise-skip").iterdir())
    assert len(folders) == 2
    seeds = {json.loads((folder / "results.json").read_text())["seed"] for folder in folders}
    assert seeds == {1, 2}


def test_sweep_jobs_are_named_after_what_they_vary(tmp_path):
    sweep = "hydra:\n  overrides:\n    task: [experiment=smoke, 'seed=0,1', 'optimizer.lr=0.01,0.1']\n"
    (tmp_path / "multirun.yaml").write_text(sweep)
    job = ["experiment=smoke", "seed=1", "optimizer.lr=0.1"]
    assert differing_overrides(job, str(tmp_path)) == ["seed=1", "lr=0.1"]
    assert job_dirname(3, job, str(tmp_path)) == "3_seed=1,lr=0.1"
    assert job_dirname(0, job, str(tmp_path / "no_sweep_file")) == "0_experiment=smoke,seed=1,lr=0.1"
    assert differing_overrides(["task.sigma=5", "model.sigma=3"], None) == ["task.sigma=5", "model.sigma=3"]


# ----- NaN ----------------------------------------------------------------------------------------
def test_a_nan_step_never_reaches_an_image_the_average_or_a_metric(tmp_path):
    result = dip("experiment=smoke", "optimizer.lr=1e30", "task.num_iter=10", f"hydra.run.dir={tmp_path}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "results.json").read_text())
    assert record["status"] == "finished" and record["backtracks"] > 0
    for name in ("psnr", "psnr_avg", "ssim", "ssim_avg", "psnr_observed", "best_psnr_avg"):
        assert record[name] is not None and math.isfinite(record[name]), name
    from dip_lightning.data.images import read_image

    assert read_image(tmp_path / "restored_avg.png").mean() > 0.05  # not black
    assert "nan" not in (tmp_path / "csv" / "metrics.csv").read_text().lower()


def test_a_run_that_keeps_diverging_stops_with_its_best_result(configure, monkeypatch, tmp_path):
    from dip_lightning.losses.loss import Loss, LossTerms

    original, calls = Loss.forward, []

    def forward(self, network, observed, operator, generator, weight=None):
        calls.append(None)
        terms = original(self, network, observed, operator, generator, weight)
        nan = LossTerms(terms.total * math.nan, terms.data * math.nan, {}, terms.output)
        return terms if len(calls) <= 5 else nan

    monkeypatch.setattr(Loss, "forward", forward)
    with pytest.raises(FloatingPointError, match="diverged: backtracking undid 50 steps in a row"):
        run(configure(*TINY, "task.num_iter=200", "task.backtrack_db=5"))
    record = json.loads((tmp_path / "run" / "results.json").read_text())
    assert record["status"].startswith("failed: FloatingPointError: diverged")
    assert record["steps"] == 54 and math.isfinite(record["psnr_avg"])  # 5 good steps, 49 undone; the 50th stops


@pytest.mark.parametrize("batched", [False, True])
def test_a_nan_in_one_restart_undoes_that_fit_alone(configure, monkeypatch, batched):
    """Restart 1's data term is NaN at step 6: only that fit goes back; restart 0 goes on as without it."""
    import torch

    from dip_lightning.build import build_module
    from dip_lightning.losses.loss import Loss, LossTerms

    original, calls = Loss.forward, []

    def forward(self, network, observed, operator, generator, weight=None):
        calls.append(None)
        terms = original(self, network, observed, operator, generator, weight)
        if len(calls) != 6:
            return terms
        poisoned = terms.data * torch.tensor([1.0, math.nan])
        return LossTerms(terms.total - terms.data.sum() + poisoned.sum(), poisoned, {}, terms.output)

    def fit(poison: bool):
        calls.clear()
        with monkeypatch.context() as patch:
            if poison:
                patch.setattr(Loss, "forward", forward)
            overrides = [*TINY, "restarts=2", f"restarts_batched={batched}", "prior.reg_noise_std=0"]
            module = build_module(configure(*overrides, "task.num_iter=10", "task.backtrack_db=5"))
            quiet = dict(enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
            pl.Trainer(max_steps=10, logger=False, **quiet).fit(module)
        return module

    clean, poisoned = fit(poison=False), fit(poison=True)
    assert [guard.restores for guard in poisoned.backtracking] == [0, 1]
    if not batched:  # separate networks: restart 0 is untouched, bit for bit
        assert torch.equal(poisoned.outputs.output[0], clean.outputs.output[0])
    else:  # one Adam over stacked weights: restart 0's own gradients are kept, whatever happens to restart 1's
        assert (poisoned.outputs.output[0] - clean.outputs.output[0]).abs().max() < 1e-4
    assert not torch.equal(poisoned.outputs.output[1], clean.outputs.output[1])
    assert torch.isfinite(poisoned.outputs.output_avg).all()


# ----- signals and hard kills -------------------------------------------------------------------
def start(tmp_path: Path, folder: str, *extra: str) -> subprocess.Popen:
    command = ["experiment=smoke", *TINY, *QUIET, *extra, f"hydra.run.dir={tmp_path / folder}"]
    return subprocess.Popen([sys.executable, "-m", "dip_lightning", *command], cwd=tmp_path, stdout=subprocess.DEVNULL)


def wait_for_step(folder: Path, step: int, process: subprocess.Popen) -> dict:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        try:
            record = json.loads((folder / "results.json").read_text())
            if record["steps"] >= step:
                return record
        except (OSError, ValueError, KeyError):
            pass
        assert process.poll() is None, "the run ended before it could be interrupted"
        time.sleep(0.02)
    raise TimeoutError(folder)


@pytest.mark.cli
def test_sigterm_saves_then_exits_143_with_a_checkpoint(tmp_path):
    process = start(tmp_path, "run", "task.num_iter=5000", "save_every=10", "checkpoint_every=1000")
    wait_for_step(tmp_path / "run", 10, process)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 143
    record = json.loads((tmp_path / "run" / "results.json").read_text())
    assert record["status"] == "interrupted" and record["steps"] >= 10
    assert (tmp_path / "run" / "checkpoint.ckpt").is_file()  # saved at the step it stopped


@pytest.mark.sweeps
def test_a_run_killed_half_way_resumes_to_the_same_result_bit_for_bit(tmp_path):
    common = ["task.num_iter=300", "save_every=25", "checkpoint_every=50"]
    common += ["stopping=wmv", "stopping.detector.window=10", "stopping.detector.patience=100000"]  # its state too
    common += ["stopping.average_lag=80"]  # an average waiting to be kept across the checkpoint
    whole = start(tmp_path, "whole", *common)
    assert whole.wait(timeout=300) == 0
    killed = start(tmp_path, "killed", *common)
    wait_for_step(tmp_path / "killed", 125, killed)  # checkpoints at 50 and 100; killed after 125
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert json.loads((tmp_path / "killed" / "results.json").read_text())["status"] == "running"
    resumed = subprocess.run(
        [sys.executable, "-m", "dip_lightning", "resume", str(tmp_path / "killed")], cwd=tmp_path, capture_output=True
    )
    assert resumed.returncode == 0, resumed.stderr
    expected = json.loads((tmp_path / "whole" / "results.json").read_text())
    got = json.loads((tmp_path / "killed" / "results.json").read_text())
    assert got["resumed_from"] == [100]
    for key in (
        "status",
        "steps",
        "psnr",
        "psnr_avg",
        "ssim",
        "ssim_avg",
        "psnr_observed",
        "best_psnr_avg",
        "stop_step",
        "stop_step_avg",
    ):
        assert got[key] == expected[key], key
    pictures = [(tmp_path / name / "restored_avg.png").read_bytes() for name in ("whole", "killed")]
    assert pictures[0] == pictures[1]
    metrics = [(tmp_path / name / "csv" / "metrics.csv").read_text() for name in ("whole", "killed")]
    assert metrics[0] == metrics[1]  # the rows before the kill are kept, the lost ones logged again
    assert not (tmp_path / "killed" / "checkpoint.ckpt").exists()  # a finished run needs none


@pytest.mark.cli
def test_resume_without_a_checkpoint_is_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "dip_lightning", "resume", str(tmp_path)], capture_output=True, text=True, cwd=tmp_path
    )
    one_line_error(result, 2, "no checkpoint.ckpt in")


# ----- folders that break, determinism, small things --------------------------------------------
class BreakTheFolder(pl.Callback):
    """Replaces the run's folder by a file at step 2: nothing can be written there any more."""

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if trainer.global_step == 2:
            folder = Path(trainer.default_root_dir)
            shutil.rmtree(folder)
            folder.write_text("not a folder")


def test_an_unwritable_run_folder_sends_the_result_to_a_rescue_folder(fit, tmp_path, caplog):
    breaker = "+callbacks.breaker._target_=test_reliability.BreakTheFolder"
    results = fit(*TINY, "task.num_iter=6", "save_every=1", breaker)
    assert results["status"] == "finished" and results["steps"] == 6
    rescued = [line for line in caplog.text.splitlines() if "they go to" in line]
    assert rescued, caplog.text
    folder = Path(rescued[0].split("they go to ")[1].split(" instead")[0])
    assert json.loads((folder / "results.json").read_text())["psnr_avg"] == results["psnr_avg"]
    shutil.rmtree(folder)


def test_same_seed_same_numbers_other_seed_other_numbers(fit):
    names = ("psnr", "psnr_avg", "ssim", "ssim_avg", "psnr_observed", "psnr_input", "best_psnr_avg")
    first, second, other = (fit(*TINY, "task.num_iter=15", f"seed={seed}") for seed in (4, 4, 5))
    assert {name: first[name] for name in names} == {name: second[name] for name in names}
    assert all(first[name] != other[name] for name in ("psnr", "psnr_avg", "psnr_input"))


def test_a_short_run_still_logs_its_steps_numbered_as_results_json(fit_logged, tmp_path):
    results = fit_logged(*TINY, "task.num_iter=3")
    rows = list(csv.DictReader((tmp_path / "run" / "csv" / "metrics.csv").open()))
    assert [int(float(row["step"])) for row in rows] == [3] and results["steps"] == 3
    assert float(rows[-1]["psnr"]) == pytest.approx(results["psnr"], abs=1e-4)


@pytest.mark.cli
def test_the_console_says_the_precision_the_estimate_what_is_fitted_the_bar_and_the_result(tmp_path):
    result = dip("experiment=smoke", *TINY, "task.num_iter=3", f"hydra.run.dir={tmp_path}", cwd=tmp_path)
    lines = [line for line in (result.stdout + result.stderr).replace("\r", "\n").splitlines() if line.strip()]
    assert result.returncode == 0
    assert not [line for line in lines if "Tip" in line or "GPU available" in line or "Total params" in line]
    assert not [line for line in lines if "Training" in line or "Epoch 0" in line]
    logged = [line for line in lines if line.startswith("[")]
    assert len(logged) == 5, logged
    assert "trainer.precision=" in logged[0] and "prior.memory_format=" in logged[1] and "estimated:" in logged[2]
    assert "denoise with skip" in logged[3] and "results in" in logged[4]


def test_wandb_with_a_key_and_no_network_runs_offline(tmp_path, monkeypatch):
    from dip_lightning.run import wandb_logger as loggers

    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setattr(loggers, "_server_answers", lambda: False)
    assert loggers.wandb_mode() == "offline"
    monkeypatch.setattr(loggers, "_server_answers", lambda: True)
    assert loggers.wandb_mode() == "online"
    os.environ.pop("WANDB_API_KEY")
