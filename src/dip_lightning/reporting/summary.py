"""A sweep's summary: which settings won. The sweep as sweep.py reads it (one row per job, best first by the
metric the sweep optimised) written into its folder as `summary.md` and `summary.csv`, beside
`summary_grid.png` (every job's restoration) and `summary_curves.png` (every job's PSNR curve).

    python -m dip_lightning summary multirun/2024-05-01_12-00-00 [FOLDER ...]

`SweepSummary` is the Hydra callback that writes it as a sweep goes on and when it ends."""

import csv
import io
import logging
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from matplotlib.figure import Figure
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from dip_lightning.atomic import write_atomically
from dip_lightning.data.images import read_image, save_png
from dip_lightning.reporting.plots import new_figure, read_metrics, save_figure
from dip_lightning.reporting.sweep import FALLBACK_METRIC, Job, Sweep, read_sweep
from dip_lightning.run.comparison import side_by_side

log = logging.getLogger(__name__)

TEXT_COLUMNS = 3  # job, overrides, status; the others are numbers (right-aligned in the markdown)
FORMATS = {"seconds": ".1f", "ssim": ".4f"}  # in the markdown; other decimals are dB: .2f
MAX_CELL = 120  # characters of a markdown cell (a long error); summary.csv keeps it whole
MAX_LEGEND = 60  # characters of a curve's label in summary_curves.png
RESTORATIONS = ("restored_avg.png", "restored.png")  # a job's picture, in order of preference
CURVES = ("psnr_avg", "psnr", "psnr_observed")  # a job's curve, in order of preference
THUMBNAIL = 256  # longest side a job's picture is shrunk to in the grid
GAP = 4  # pixels of white between the grid's cells


@dataclass
class Summary(Sweep):
    """A sweep as read (sweep.py), and its summary as written."""

    markdown: str
    files: list[Path]


def summarize(sweep_dir: str | Path) -> Summary:
    """Read the sweep (sweep.read_sweep) and write summary.md, summary.csv, summary_grid.png and
    summary_curves.png into its folder. Raises InputError when the folder does not exist or holds no job
    folder."""
    sweep = read_sweep(sweep_dir)
    directory = sweep.directory
    markdown = _markdown(sweep)
    files = [directory / "summary.md", directory / "summary.csv", directory / "summary_grid.png"]
    _write_text(files[0], markdown)
    _write_text(files[1], _csv(sweep.rows, sweep.columns))
    save_png(grid_picture(sweep.jobs, sweep.metric), files[2])
    if (figure := sweep_curves_figure(sweep.jobs, f"{directory.name}: PSNR against step")) is not None:
        files.append(save_figure(figure, directory / "summary_curves.png"))
    return Summary(**vars(sweep), markdown=markdown, files=files)


def _write_text(path: Path, text: str) -> None:
    write_atomically(path, lambda handle: handle.write(text.encode()))


def _markdown(sweep: Sweep) -> str:
    jobs, columns, metric = sweep.jobs, sweep.columns, sweep.metric
    finished, failed = sum(job.finished for job in jobs), sum(job.failed for job in jobs)
    unfinished = len(jobs) - finished - failed
    counts = f"{finished} finished, {failed} failed" + (f", {unfinished} unfinished" if unfinished else "")
    fallback = f" (psnr where {metric} is null)" if metric != FALLBACK_METRIC else ""
    lines = [
        f"# {sweep.directory}: {len(jobs)} jobs ({counts}), sorted by {metric}{fallback}, best first",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * TEXT_COLUMNS + "---:|" * (len(columns) - TEXT_COLUMNS),
    ]
    lines += ["| " + " | ".join(_markdown_cell(name, row[name]) for name in columns) + " |" for row in sweep.rows]
    return "\n".join(lines) + "\n"


def _markdown_cell(column: str, value) -> str:
    if value is None:
        return ""
    text = format(value, FORMATS.get(column, ".2f")) if isinstance(value, float) else str(value)
    text = " ".join(text.split()).replace("|", "\\|")  # one line; a bare | would end the cell
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _csv(rows: list[dict], columns: tuple[str, ...]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def grid_picture(jobs: list[Job], metric: str) -> Image.Image:
    """Every job's restoration, in the table's order, in a grid about as wide as high: each panel titled
    with what the job varied and captioned with its score; a grey panel captioned with its status for a
    job without a picture. Cells are `side_by_side` pictures of one panel, as big as the biggest."""
    pictures = [_restoration(job) for job in jobs]
    height = max((picture.shape[-2] for picture in pictures if picture is not None), default=THUMBNAIL // 4)
    width = max((picture.shape[-1] for picture in pictures if picture is not None), default=THUMBNAIL // 4)
    grey = torch.full((3, height, width), 0.5)
    cells = [
        side_by_side([(_caption(job, metric), grey if picture is None else picture)], job.label or job.name)
        for job, picture in zip(jobs, pictures, strict=True)
    ]
    columns = math.ceil(math.sqrt(len(cells)))
    rows = math.ceil(len(cells) / columns)
    cell_width, cell_height = max(cell.width for cell in cells), max(cell.height for cell in cells)
    canvas = Image.new("RGB", (columns * (cell_width + GAP) - GAP, rows * (cell_height + GAP) - GAP), "white")
    for index, cell in enumerate(cells):
        row, column = divmod(index, columns)
        canvas.paste(cell, (column * (cell_width + GAP), row * (cell_height + GAP)))
    return canvas


def _restoration(job: Job) -> torch.Tensor | None:
    for name in RESTORATIONS:
        if (job.folder / name).is_file():
            try:
                return read_image(job.folder / name, max_size=THUMBNAIL)
            except Exception as error:  # a broken picture must not break the summary
                log.warning("%s: %s", job.folder / name, error)
    return None


def _caption(job: Job, metric: str) -> str:
    score = job.score(metric)
    parts = [] if score is None else [_score_text(*score)]
    if not job.finished:
        parts.append(job.status)
    return ", ".join(parts) or job.status


def _score_text(name: str, value: float) -> str:
    return f"{name} {value:.2f} dB" if name.startswith("psnr") else f"{name} {value:.4g}"


def sweep_curves_figure(jobs: list[Job], title: str) -> Figure | None:
    """Every job's PSNR curve on one plot (psnr_avg, else psnr, else psnr_observed), labelled by what
    the job varied; None when no job logged one."""
    curves = [(job, curve) for job in jobs if (curve := _psnr_curve(job)) is not None]
    if not curves:
        return None
    usual = Counter(name for _, (name, _) in curves).most_common(1)[0][0]
    figure, (axes,) = new_figure()
    for job, (name, values) in curves:
        label = _shortened(job.label or job.name) + ("" if name == usual else f" ({name})")
        axes.plot(list(values), list(values.values()), linewidth=1, label=label)
    axes.set(xlabel="step", ylabel=f"{usual} (dB)", title=title)
    axes.legend(fontsize="small", ncols=math.ceil(len(curves) / 15))
    return figure


def _shortened(label: str) -> str:
    """A legend entry that leaves the plot room (the one job of a sweep's first summary lists all its overrides)."""
    return label if len(label) <= MAX_LEGEND else label[: MAX_LEGEND - 1] + "…"


def _psnr_curve(job: Job) -> tuple[str, dict[int, float]] | None:
    try:
        metrics = read_metrics(job.folder)
    except Exception as error:  # a broken CSV must not break the summary
        log.warning("%s: %s", job.folder, error)
        return None
    return next(((name, metrics[name]) for name in CURVES if metrics.get(name)), None)


class SweepSummary(Callback):
    """Hydra callback: writes the sweep's summary after each of its jobs and when it ends. After each
    job too, because Hydra skips on_multirun_end when a job has failed (the sweeper re-raises its error)
    and so that an interrupted sweep still has one. Never raises: the sweep's result stands."""

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs) -> None:
        if OmegaConf.select(config, "hydra.mode") != RunMode.MULTIRUN:
            return
        if job_return.status == JobStatus.FAILED:
            try:
                _ = job_return.return_value  # re-raises the job's error
            except Exception as error:  # into the job's log, where its row finds it (Hydra logs it nowhere)
                log.error("%s: %s", type(error).__name__, " ".join(str(error).split()))
        self._summarize(config, log.debug)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        self._summarize(config, log.info)

    @staticmethod
    def _summarize(config: DictConfig, report) -> None:
        try:  # the sweep folder, as the launcher made it: relative to where the command was started
            summary = summarize(Path(config.hydra.runtime.cwd) / str(config.hydra.sweep.dir))
        except Exception as error:
            log.warning("no sweep summary: %s: %s", type(error).__name__, error)
            return
        report("sweep summary: %s (with %s)", summary.files[0], ", ".join(path.name for path in summary.files[1:]))
