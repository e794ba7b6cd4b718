"""The learning curve of one run (`curves.png`), drawn from the files the run left behind rather than from
the live module, so that any run folder can be plotted afterwards, finished or not: how the restoration's
PSNR rose, peaked and fell as the network began to fit the noise, and how the loss went down.

`read_metrics`, the reader of a run's learning curve (csv/metrics.csv), lives here too; its results.json is
run/results.py's RunRecord."""

import csv
import io
import math
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dip_lightning.atomic import write_atomically
from dip_lightning.run.folder import CURVES_FILE, METRICS_FILE
from dip_lightning.run.results import RunRecord

FIGURE_SIZE = (8, 6)  # inches
DPI = 100
PSNR_CURVES = {"psnr": "restored", "psnr_avg": "averaged", "psnr_observed": "fit to the observation"}
LOSS_CURVES = ("loss", "loss_data", "loss_regularizer")
# what a stopping rule watches (logged by its callback), drawn in a third panel: why the run stopped where it did
RULE_CURVES = {
    "psnr_held_out": "held-out pixels vs the output",
    "psnr_held_out_avg": "held-out pixels vs the average",
    "output_variance": "the output's variance over the window",
}


def as_number(value) -> float | None:
    """A number read from a file, or None for anything else (null, text, true/false, nan)."""
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def read_metrics(run_dir: str | Path) -> dict[str, dict[int, float]]:
    """Every column of the run's csv/metrics.csv as {step: value}, sorted by step, without the empty cells
    a metric leaves at the steps it is not logged (psnr: every eval_every steps); {} without the file."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return {}
    series: dict[str, dict[int, float]] = {}
    with path.open(newline="", errors="replace") as handle:
        for row in csv.DictReader(handle):
            step = as_number(row.get("step"))
            if step is None or math.isinf(step):
                continue
            for name, cell in row.items():
                value = as_number(cell)
                if name not in (None, "step") and value is not None:
                    series.setdefault(name, {})[int(step)] = value
    return {name: dict(sorted(values.items())) for name, values in series.items()}


def new_figure(rows: int = 1) -> tuple[Figure, list[Axes]]:
    """A figure of its own (no pyplot: nothing global to close or leak), `rows` panels sharing the x axis."""
    width, height = FIGURE_SIZE
    figure = Figure(figsize=(width, height * max(1.0, rows / 2)), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    return figure, list(axes)


def save_figure(figure: Figure, path: Path) -> Path:
    """Render to PNG bytes first, then write them atomically: a killed run never leaves half a picture."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    data = buffer.getvalue()
    write_atomically(path, lambda handle: handle.write(data))
    return Path(path)


def learning_curve(run_dir: str | Path) -> Path | None:
    """Write `curves.png` in the run folder and return its path; None (nothing written) when the run
    logged no metrics."""
    run_dir = Path(run_dir)
    metrics = read_metrics(run_dir)
    if not metrics:
        return None
    try:
        record = RunRecord.read(run_dir)
    except (OSError, ValueError):  # a run killed before its first save still has its curves
        record = RunRecord()
    return save_figure(learning_curve_figure(metrics, record, _title(record, run_dir)), run_dir / CURVES_FILE)


def learning_curve_figure(metrics: dict[str, dict[int, float]], record: RunRecord, title: str) -> Figure:
    """PSNR against step above, with the best steps and the early stop marked; the loss on a log scale
    below; with a stopping rule, what it watched at the bottom. `metrics` as read_metrics gives them,
    `record` the run's results.json."""
    watched = [name for name in RULE_CURVES if metrics.get(name)]
    figure, (psnr_axes, loss_axes, *rule_axes) = new_figure(rows=3 if watched else 2)
    figure.suptitle(title)
    _plot_psnr(psnr_axes, metrics, record)
    _plot_loss(loss_axes, metrics)
    if rule_axes:
        _plot_rule(rule_axes[0], metrics, watched)
    stop, stop_avg = as_number(record.stop_step), as_number(record.stop_step_avg)
    if stop is not None:
        reason = str(record.stop_reason or "").split(":")[0]  # the rule's name, not its whole story
        label = f"result kept at step {stop:g}" + (f" ({reason})" if reason else "")
        for axes, line_label in ((psnr_axes, label), (loss_axes, None), *((axes, None) for axes in rule_axes)):
            axes.axvline(stop, color="tab:red", linestyle="--", linewidth=1, label=line_label)
    if stop_avg is not None and stop_avg != stop:
        label = f"average kept at step {stop_avg:g}"
        for axes, line_label in ((psnr_axes, label), (loss_axes, None), *((axes, None) for axes in rule_axes)):
            axes.axvline(stop_avg, color="tab:red", linestyle=":", linewidth=1, label=line_label)
    for axes in (psnr_axes, loss_axes, *rule_axes):
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize="small", loc="best")
    (rule_axes or [loss_axes])[-1].set_xlabel("step")
    return figure


def _title(record: RunRecord, run_dir: Path) -> str:
    what = [record.task, record.arch, Path(str(record.image)).name if record.image else None]
    described = ", ".join(str(part) for part in what if part) or run_dir.name
    return f"{described}: {record.status}" if record.status else described


def _plot_psnr(axes: Axes, metrics: dict[str, dict[int, float]], record: RunRecord) -> None:
    colors = {}
    for name, meaning in PSNR_CURVES.items():
        if name in metrics:
            (line,) = axes.plot(list(metrics[name]), list(metrics[name].values()), label=f"{name} ({meaning})")
            colors[name] = line.get_color()
    for name, value, step in (
        ("psnr", record.best_psnr, record.best_psnr_step),
        ("psnr_avg", record.best_psnr_avg, record.best_psnr_avg_step),
    ):
        value, step = as_number(value), as_number(step)
        if value is not None and step is not None:
            color = colors.get(name, "black")
            axes.axvline(step, color=color, linestyle=":", linewidth=1)
            axes.plot([step], [value], "o", color=color, label=f"best {name} {value:.2f} dB at step {step:g}")
    axes.set_ylabel("PSNR (dB)")
    if not colors:
        axes.text(0.5, 0.5, "no PSNR logged", transform=axes.transAxes, ha="center", va="center")


def _plot_loss(axes: Axes, metrics: dict[str, dict[int, float]]) -> None:
    names = [name for name in LOSS_CURVES if name in metrics]
    for name in names:
        axes.plot(list(metrics[name]), list(metrics[name].values()), label=name)
    if names:
        axes.set_yscale("log")
        axes.set_ylabel("loss (log scale)")
    else:
        axes.text(0.5, 0.5, "no loss logged", transform=axes.transAxes, ha="center", va="center")


def _plot_rule(axes: Axes, metrics: dict[str, dict[int, float]], names: list[str]) -> None:
    for name in names:
        axes.plot(list(metrics[name]), list(metrics[name].values()), label=f"{name} ({RULE_CURVES[name]})")
    if "output_variance" in names:
        axes.set_yscale("log")
        axes.set_ylabel("variance (log scale)")
    else:
        axes.set_ylabel("PSNR (dB)")
