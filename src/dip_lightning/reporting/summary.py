"""A sweep's summary: which settings won. Each job folder of a Hydra multirun (or of a folder of single
runs) becomes one row of `summary.md` and `summary.csv`, best first by the metric the sweep optimised,
beside `summary_grid.png` (every job's restoration) and `summary_curves.png` (every job's PSNR curve).
A broken job never stops the summary: it becomes a failed row that says why.

    python -m dip_lightning.summary multirun/2024-05-01_12-00-00 [FOLDER ...]

`SweepSummary` is the Hydra callback that writes it as a sweep goes on and when it ends."""

import csv
import io
import logging
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from matplotlib.figure import Figure
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from dip_lightning.atomic import write_atomically
from dip_lightning.data.images import read_image, save_png
from dip_lightning.errors import InputError
from dip_lightning.reporting.plots import as_number, new_figure, read_metrics, save_figure
from dip_lightning.run.comparison import side_by_side
from dip_lightning.run.folder import RESULTS_FILE
from dip_lightning.run.results import RunRecord

log = logging.getLogger(__name__)

DEFAULT_METRIC = "psnr_avg"  # conf/config.yaml's optimized_metric
FALLBACK_METRIC = "psnr"  # the score of a run without output averaging, whose psnr_avg is null
COLUMNS = (
    "job",
    "overrides",
    "status",
    "steps",
    "seconds",
    "psnr",
    "psnr_avg",
    "ssim",
    "best_psnr",
    "best_psnr_step",
    "psnr_input",
)
OPTIONAL_COLUMNS = ("stop_step", "stop_step_avg")  # shown when some job has one
TEXT_COLUMNS = 3  # job, overrides, status; the others are numbers (right-aligned in the markdown)
FORMATS = {"seconds": ".1f", "ssim": ".4f"}  # in the markdown; other decimals are dB: .2f
MAX_CELL = 120  # characters of a markdown cell (a long error); summary.csv keeps it whole
MAX_LEGEND = 60  # characters of a curve's label in summary_curves.png
RESTORATIONS = ("restored_avg.png", "restored.png")  # a job's picture, in order of preference
CURVES = ("psnr_avg", "psnr", "psnr_observed")  # a job's curve, in order of preference
THUMBNAIL = 256  # longest side a job's picture is shrunk to in the grid
GAP = 4  # pixels of white between the grid's cells
LOG_PREFIX = re.compile(r"^(\[[^\]]*\])+\s*(-\s*)?")  # Hydra's "[time][logger][LEVEL] - "


@dataclass
class Job:
    """One job folder as the summary sees it; `record` is its results.json (all None when it has none)."""

    name: str
    folder: Path
    status: str = ""
    record: RunRecord = field(default_factory=RunRecord)
    overrides: dict[str, str | None] = field(default_factory=dict)  # key -> value (None: "~key")
    metric: str | None = None  # its config's optimized_metric
    label: str = ""  # the overrides that tell it from the other jobs

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    @property
    def failed(self) -> bool:
        return self.status.startswith("failed")

    def score(self, metric: str) -> tuple[str, float] | None:
        """(name, value) of the metric the jobs are sorted by, or of psnr where that one is null."""
        for name in (metric, FALLBACK_METRIC):
            if (value := as_number(getattr(self.record, name, None))) is not None:
                return name, value
        return None


@dataclass
class Summary:
    directory: Path
    metric: str  # what the jobs are sorted by
    jobs: list[Job]  # in the table's order
    rows: list[dict]  # the table: column -> value as results.json has it (None where unknown)
    markdown: str
    files: list[Path]


def natural_key(name: str) -> list:
    """'2' before '10': job folders are usually numbered."""
    return [int(part) if index % 2 else part for index, part in enumerate(re.split(r"(\d+)", name))]


def find_jobs(directory: Path) -> list[Path]:
    """The job folders: direct subfolders that hold .hydra/ or results.json, whatever their names."""
    jobs = [
        path
        for path in Path(directory).iterdir()
        if path.is_dir() and ((path / ".hydra").is_dir() or (path / RESULTS_FILE).exists())
    ]
    return sorted(jobs, key=lambda path: natural_key(path.name))


def read_job(folder: Path) -> Job:
    """Never raises: whatever cannot be read makes the job a failed one, with the reason as its status."""
    job = Job(folder.name, folder, overrides=_read_overrides(folder), metric=_read_metric(folder))
    if not (folder / RESULTS_FILE).exists():
        job.status = f"failed: {_logged_error(folder) or 'no ' + RESULTS_FILE}"
        return job
    try:
        job.record = RunRecord.read(folder)
    except (OSError, ValueError) as error:
        job.status = f"failed: unreadable {RESULTS_FILE} ({type(error).__name__}: {error})"
        return job
    job.status = str(job.record.status or "unknown")
    return job


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:  # missing or unreadable: the job is summarised without it
        return ""


def _read_yaml(path: Path):
    try:
        return yaml.safe_load(_read_text(path))
    except yaml.YAMLError:
        return None


def _read_overrides(folder: Path) -> dict[str, str | None]:
    overrides = _read_yaml(folder / ".hydra" / "overrides.yaml")
    pairs = [str(override).partition("=") for override in overrides] if isinstance(overrides, list) else []
    return {key: value if equals else None for key, equals, value in pairs}


def _read_metric(folder: Path) -> str | None:
    config = _read_yaml(folder / ".hydra" / "config.yaml")
    metric = config.get("optimized_metric") if isinstance(config, dict) else None
    return str(metric) if metric else None


def _logged_error(folder: Path) -> str | None:
    """The last line of the job's log that reports an error, without the logger's prefix."""
    own_log = folder / "dip_lightning.log"
    logs = [own_log] if own_log.is_file() else sorted(folder.glob("*.log"))
    errors = [
        line.strip() for path in logs for line in _read_text(path).splitlines() if "ERROR" in line or "Error" in line
    ]
    return LOG_PREFIX.sub("", errors[-1]) if errors else None


def overrides_that_differ(overrides: list[dict[str, str | None]]) -> list[str]:
    """Each job's overrides as "key=value,..." keeping the keys whose values differ between the jobs:
    what the sweep varied (all of them when there is one job)."""
    keys = list(dict.fromkeys(key for job in overrides for key in job))
    if len(overrides) > 1:
        absent = object()
        keys = [key for key in keys if len({job.get(key, absent) for job in overrides}) > 1]
    return [
        ",".join(key if job[key] is None else f"{key}={job[key]}" for key in keys if key in job) for job in overrides
    ]


def sweep_metric(jobs: list[Job]) -> str:
    """The optimized_metric of the jobs' configs (the most common one, should they disagree)."""
    metrics = Counter(job.metric for job in jobs if job.metric)
    return metrics.most_common(1)[0][0] if metrics else DEFAULT_METRIC


def _rank(job: Job, metric: str) -> tuple:
    """Finished jobs by score, best first; then finished ones without a score; then unfinished and failed."""
    score = job.score(metric)
    group = 0 if job.finished and score else 1 if job.finished else 2
    return group, -score[1] if group == 0 else 0.0, natural_key(job.name)


def summarize(sweep_dir: str | Path) -> Summary:
    """Write summary.md, summary.csv, summary_grid.png and summary_curves.png into the sweep folder.
    Raises InputError when the folder does not exist or holds no job folder."""
    directory = Path(sweep_dir)
    if not directory.is_dir():
        raise InputError(f"{directory} {'is not a folder' if directory.exists() else 'does not exist'}")
    folders = find_jobs(directory)
    if not folders:
        single = (directory / RESULTS_FILE).exists() or (directory / ".hydra").is_dir()
        hint = ": it is one run; give the folder that holds runs" if single else ""
        raise InputError(f"{directory} holds no job (no subfolder with .hydra/ or {RESULTS_FILE}){hint}")
    jobs = [read_job(folder) for folder in folders]
    for job, label in zip(jobs, overrides_that_differ([job.overrides for job in jobs]), strict=True):
        job.label = label
    metric = sweep_metric(jobs)
    jobs.sort(key=lambda job: _rank(job, metric))
    optional = [name for name in OPTIONAL_COLUMNS if any(getattr(job.record, name) is not None for job in jobs)]
    columns = COLUMNS + tuple(optional)
    rows = [_row(job, columns) for job in jobs]
    markdown = _markdown(directory, jobs, rows, columns, metric)

    files = [directory / "summary.md", directory / "summary.csv", directory / "summary_grid.png"]
    _write_text(files[0], markdown)
    _write_text(files[1], _csv(rows, columns))
    save_png(grid_picture(jobs, metric), files[2])
    if (figure := sweep_curves_figure(jobs, f"{directory.name}: PSNR against step")) is not None:
        files.append(save_figure(figure, directory / "summary_curves.png"))
    return Summary(directory, metric, jobs, rows, markdown, files)


def _row(job: Job, columns: tuple[str, ...]) -> dict:
    own = {"job": job.name, "overrides": job.label, "status": job.status}
    return {name: own[name] if name in own else getattr(job.record, name) for name in columns}


def _write_text(path: Path, text: str) -> None:
    write_atomically(path, lambda handle: handle.write(text.encode()))


def _markdown(directory: Path, jobs: list[Job], rows: list[dict], columns: tuple[str, ...], metric: str) -> str:
    finished, failed = sum(job.finished for job in jobs), sum(job.failed for job in jobs)
    unfinished = len(jobs) - finished - failed
    counts = f"{finished} finished, {failed} failed" + (f", {unfinished} unfinished" if unfinished else "")
    fallback = f" (psnr where {metric} is null)" if metric != FALLBACK_METRIC else ""
    lines = [
        f"# {directory}: {len(jobs)} jobs ({counts}), sorted by {metric}{fallback}, best first",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * TEXT_COLUMNS + "---:|" * (len(columns) - TEXT_COLUMNS),
    ]
    lines += ["| " + " | ".join(_markdown_cell(name, row[name]) for name in columns) + " |" for row in rows]
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
