"""The learning curve of one run, drawn from a run folder made by hand (no fit)."""

import json

import pytest
from matplotlib._pylab_helpers import Gcf
from PIL import Image
from sweep_jobs import fit_rows, write_metrics

from dip_lightning.reporting.plots import learning_curve, learning_curve_figure, read_metrics
from dip_lightning.run.results import RunRecord


def test_metrics_reader_skips_empty_cells_and_sorts_by_step(tmp_path):
    rows = fit_rows(30)
    write_metrics(tmp_path, [rows[12], *rows[:12], {"loss": 5.0}, *rows[13:]])  # out of order, a row without step
    metrics = read_metrics(tmp_path)
    assert metrics["psnr"] == {10: 21.0, 20: 22.0, 30: 23.0}
    assert metrics["psnr_avg"] == {10: 20.0, 20: 21.0, 30: 22.0}
    assert list(metrics["loss"]) == list(range(1, 31))
    assert metrics["loss"][4] == pytest.approx(0.025)
    assert "step" not in metrics and 5.0 not in metrics["loss"].values()


def test_metrics_reader_without_a_csv_is_empty(tmp_path):
    assert read_metrics(tmp_path) == {}


def test_no_curve_without_metrics(tmp_path):
    assert learning_curve(tmp_path) is None
    write_metrics(tmp_path, [])  # the header alone
    assert learning_curve(tmp_path) is None
    assert not (tmp_path / "curves.png").exists()


def test_curve_is_an_8_by_6_inch_png_and_leaks_no_figure(tmp_path):
    write_metrics(tmp_path, fit_rows(30))
    record = {"task": "denoise", "arch": "skip", "image": "astronaut", "status": "finished"}
    (tmp_path / "results.json").write_text(json.dumps(record))
    path = learning_curve(tmp_path)
    assert path == tmp_path / "curves.png"
    with Image.open(path) as picture:
        assert picture.format == "PNG" and picture.size == (800, 600)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["csv", "curves.png", "results.json"]  # no temp file
    assert Gcf.get_num_fig_managers() == 0  # no pyplot figure left open


def test_curve_marks_the_best_steps_and_the_early_stop(tmp_path):
    record = {"best_psnr": 23.0, "best_psnr_step": 30, "best_psnr_avg": 22.0, "best_psnr_avg_step": 30}
    record.update(stop_step=25, stop_step_avg=28, stop_reason="ES-WMV: the output's variance was lowest at step 25")
    write_metrics(tmp_path, fit_rows(30))
    figure = learning_curve_figure(read_metrics(tmp_path), RunRecord.from_json(record), "denoise, skip: finished")
    psnr_axes, loss_axes = figure.axes
    lines = {line.get_label(): line for line in psnr_axes.get_lines()}
    assert list(lines["psnr (restored)"].get_xdata()) == [10, 20, 30]
    assert list(lines["psnr_avg (averaged)"].get_ydata()) == [20.0, 21.0, 22.0]
    best = lines["best psnr_avg 22.00 dB at step 30"]
    assert (list(best.get_xdata()), list(best.get_ydata())) == ([30], [22.0])
    stop = lines["result kept at step 25 (ES-WMV)"]
    assert list(stop.get_xdata()) == [25, 25]
    assert list(lines["average kept at step 28"].get_xdata()) == [28, 28]
    assert [line.get_label() for line in loss_axes.get_lines() if not line.get_label().startswith("_")] == [
        "loss",
        "loss_data",
    ]
    assert loss_axes.get_yscale() == "log"
    assert figure.get_suptitle() == "denoise, skip: finished"


def test_curve_without_ground_truth_shows_the_fit_and_the_loss(tmp_path):
    write_metrics(tmp_path, fit_rows(20, with_truth=False))
    record = {"task": "denoise", "status": "running", "psnr": None, "best_psnr": None, "best_psnr_step": None}
    (tmp_path / "results.json").write_text(json.dumps(record))
    figure = learning_curve_figure(read_metrics(tmp_path), RunRecord.from_json(record), "title")
    assert [line.get_label() for line in figure.axes[0].get_lines()] == ["psnr_observed (fit to the observation)"]
    with Image.open(learning_curve(tmp_path)) as picture:
        assert picture.size == (800, 600)
