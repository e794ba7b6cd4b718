"""The sweep summary, on a sweep folder made by hand: three finished jobs, a job that failed during its fit
and one that failed before it started (no results.json, its error in the log)."""

import csv
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import RunMode
from omegaconf import OmegaConf
from PIL import Image
from sweep_jobs import SIZE, finished, fit_rows, make_job

from dip_lightning.cli.summary import main
from dip_lightning.reporting.summary import GAP, SweepSummary, summarize, sweep_curves_figure
from dip_lightning.reporting.sweep import overrides_that_differ
from dip_lightning.run.comparison import side_by_side

RED, GREEN, BLUE, GREY = (200, 30, 30), (30, 200, 30), (30, 30, 200), (128, 128, 128)
LOG_ERROR = "[2026-01-01 10:00:01,000][dip_lightning.train][ERROR] - FileNotFoundError: image file not found: x.png"


@pytest.fixture
def sweep(tmp_path) -> Path:
    sweep = tmp_path / "multirun"
    make_job(sweep, "0", "0.01", finished(psnr=26.0, psnr_avg=27.0, best_psnr=26.5), RED, RED, fit_rows(30))
    make_job(sweep, "1", "0.001", finished(psnr=25.0, psnr_avg=28.5, best_psnr=25.5), GREEN, GREEN, fit_rows(30))
    no_average = [{name: value for name, value in row.items() if name != "psnr_avg"} for row in fit_rows(30)]
    make_job(sweep, "2", "0.1", finished(psnr=29.0, best_psnr=29.5), BLUE, None, no_average)  # averaging off
    failed = {"task": "denoise", "status": "failed: FloatingPointError: the loss became nan at step 7", "steps": 7}
    make_job(sweep, "3", "1.0", failed, rows=fit_rows(7, with_truth=False))
    (make_job(sweep, "10", "10.0", None) / "dip_lightning.log").write_text(f"[...][INFO] - start\n{LOG_ERROR}\n")
    (sweep / "notes").mkdir()  # neither .hydra/ nor results.json: not a job
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    return sweep


def test_rows_hold_each_jobs_results(sweep):
    summary = summarize(sweep)
    rows = {row["job"]: row for row in summary.rows}
    record = json.loads((sweep / "1" / "results.json").read_text())
    for column in ("status", "steps", "seconds", "psnr", "psnr_avg", "ssim", "best_psnr", "best_psnr_step"):
        assert rows["1"][column] == record[column]
    assert rows["1"]["psnr_input"] == 20.69 and rows["2"]["psnr_avg"] is None
    assert "stop_step" not in rows["1"]
    with open(sweep / "summary.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [row["job"] for row in table] == [row["job"] for row in summary.rows]
    assert float(table[1]["psnr_avg"]) == 28.5 and table[1]["overrides"] == "optimizer.lr=0.001"
    assert table[0]["psnr_avg"] == "" and int(table[0]["steps"]) == 30


def test_best_first_then_failed_jobs_with_their_errors(sweep):
    summary = summarize(sweep)
    # 2 has no psnr_avg (averaging off): its psnr, 29.0, ranks it; "10" sorts after "3"
    assert [row["job"] for row in summary.rows] == ["2", "1", "0", "3", "10"]
    assert summary.metric == "psnr_avg"
    statuses = {row["job"]: row["status"] for row in summary.rows}
    assert statuses["3"] == "failed: FloatingPointError: the loss became nan at step 7"
    assert statuses["10"] == "failed: FileNotFoundError: image file not found: x.png"
    markdown = (sweep / "summary.md").read_text()
    assert markdown == summary.markdown
    header, _, columns, _, *table = markdown.splitlines()
    assert str(sweep) in header and "5 jobs (3 finished, 2 failed)" in header and "sorted by psnr_avg" in header
    assert columns.startswith("| job | overrides | status | steps | seconds | psnr | psnr_avg |")
    assert [line.split(" | ")[0] for line in table] == ["| 2", "| 1", "| 0", "| 3", "| 10"]
    assert table[1] == "| 1 | optimizer.lr=0.001 | finished | 30 | 12.5 | 25.00 | 28.50 | 0.7100 | 25.50 | 30 | 20.69 |"


def test_overrides_column_keeps_what_differs(sweep):
    assert [row["overrides"] for row in summarize(sweep).rows] == [
        "optimizer.lr=0.1",
        "optimizer.lr=0.001",
        "optimizer.lr=0.01",
        "optimizer.lr=1.0",
        "optimizer.lr=10.0",
    ]
    one = {"task": "sr", "seed": "0"}
    assert overrides_that_differ([one]) == ["task=sr,seed=0"]
    jobs = [{"task": "sr", "seed": "0", "~logger": None}, {"task": "sr", "seed": "1"}, {"task": "sr", "seed": "1"}]
    assert overrides_that_differ(jobs) == ["seed=0,~logger", "seed=1", "seed=1"]
    assert overrides_that_differ([one, dict(one)]) == ["", ""]


def test_broken_jobs_become_failed_rows(tmp_path):
    sweep = tmp_path / "sweep"
    make_job(sweep, "good", "0.01", finished(psnr_avg=27.0, stop_step=900, stop_reason="plateau"), RED, RED)
    (make_job(sweep, "garbled", "0.1", None) / "results.json").write_text("{not json")
    make_job(sweep, "list", "0.2", None).joinpath("results.json").write_text("[1, 2]")
    make_job(sweep, "silent", "0.3", None)  # no results.json, no log
    broken = make_job(sweep, "broken_png", "0.4", finished(psnr_avg=26.0), RED)
    (broken / "restored.png").write_bytes(b"not a png")
    (broken / "csv").mkdir()
    (broken / "csv" / "metrics.csv").write_bytes(b"step,psnr\n\xff\xfe,1\n")
    summary = summarize(sweep)
    rows = {row["job"]: row for row in summary.rows}
    assert [row["job"] for row in summary.rows][:2] == ["good", "broken_png"]
    assert rows["garbled"]["status"].startswith("failed: unreadable results.json (JSONDecodeError")
    assert (
        rows["list"]["status"]
        == "failed: unreadable results.json (ValueError: results.json holds a JSON list, not an object)"
    )
    assert rows["silent"]["status"] == "failed: no results.json"
    assert rows["good"]["stop_step"] == 900 and rows["broken_png"]["stop_step"] is None
    assert (sweep / "summary_grid.png").is_file() and not (sweep / "summary_curves.png").exists()


def test_grid_has_one_panel_per_job_in_table_order(sweep):
    summary = summarize(sweep)
    cell = side_by_side([("caption", torch.zeros(3, *SIZE))], "title")  # each panel is such a picture
    assert cell.size == (320, 280)  # zoomed x10 to 240 x 320, a 20 px band above and below
    with Image.open(sweep / "summary_grid.png") as grid:
        grid = grid.convert("RGB")
    columns, rows = 3, 2  # 5 jobs
    assert grid.size == (columns * (cell.width + GAP) - GAP, rows * (cell.height + GAP) - GAP) == (968, 564)
    centres = [
        (column * (320 + GAP) + 160, row * (280 + GAP) + 140) for row in range(rows) for column in range(columns)
    ]
    colors = [grid.getpixel(centre) for centre in centres]
    # jobs 2 (its restored.png), 1, 0 (their restored_avg.png); the failed ones grey; the sixth slot empty
    assert colors == [BLUE, GREEN, RED, GREY, GREY, (255, 255, 255)]
    assert [job.name for job in summary.jobs] == ["2", "1", "0", "3", "10"]


def test_sweep_curves_one_line_per_job_with_a_curve(sweep):
    summary = summarize(sweep)
    with Image.open(sweep / "summary_curves.png") as picture:
        assert picture.format == "PNG" and picture.size == (800, 600)
    (axes,) = sweep_curves_figure(summary.jobs, "title").axes
    lines = {line.get_label(): line for line in axes.get_lines()}
    assert list(lines) == [
        "optimizer.lr=0.1 (psnr)",
        "optimizer.lr=0.001",
        "optimizer.lr=0.01",
        "optimizer.lr=1.0 (psnr_observed)",
    ]
    assert list(lines["optimizer.lr=0.001"].get_xdata()) == [10, 20, 30]
    assert list(lines["optimizer.lr=0.001"].get_ydata()) == [20.0, 21.0, 22.0]  # psnr_avg of fit_rows
    assert axes.get_ylabel() == "psnr_avg (dB)"
    assert sorted(path.name for path in summary.files) == [
        "summary.csv",
        "summary.md",
        "summary_curves.png",
        "summary_grid.png",
    ]


def test_command_line_prints_the_table(sweep, tmp_path, capsys):
    assert main([str(sweep)]) == 0
    assert capsys.readouterr().out == (sweep / "summary.md").read_text() + "\n"
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty")]) == 2
    assert (
        capsys.readouterr().err
        == f"error: {tmp_path / 'empty'} holds no job (no subfolder with .hydra/ or results.json)\n"
    )


def test_command_line_on_a_missing_folder_says_so_in_one_line(tmp_path):
    missing = tmp_path / "nowhere"
    result = subprocess.run(
        [sys.executable, "-m", "dip_lightning", "summary", str(missing)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {missing} does not exist"]
    assert result.stdout == ""


def hydra_config(sweep_dir: Path, cwd: Path):
    return OmegaConf.create(
        {"hydra": {"mode": RunMode.MULTIRUN, "sweep": {"dir": str(sweep_dir)}, "runtime": {"cwd": str(cwd)}}}
    )


def test_callback_summarises_the_sweep_and_never_raises(sweep, tmp_path, caplog):
    callback = SweepSummary()
    with caplog.at_level(logging.INFO, logger="dip_lightning.reporting.summary"):
        callback.on_multirun_end(hydra_config(Path("multirun"), tmp_path))  # relative to where Hydra started
        assert f"sweep summary: {sweep / 'summary.md'}" in caplog.text
        callback.on_multirun_end(hydra_config(tmp_path / "nowhere", tmp_path))
    assert "no sweep summary: InputError" in caplog.text
    assert (sweep / "summary.md").is_file()


def test_callback_logs_a_failed_jobs_error_for_its_row(sweep, tmp_path, caplog):
    job_return = JobReturn()
    job_return.status, job_return.return_value = JobStatus.FAILED, RuntimeError("out of\nmemory")
    with caplog.at_level(logging.ERROR, logger="dip_lightning.reporting.summary"):
        SweepSummary().on_job_end(hydra_config(sweep, tmp_path), job_return)
    assert [record.getMessage() for record in caplog.records] == ["RuntimeError: out of memory"]
    assert (sweep / "summary.md").is_file()
