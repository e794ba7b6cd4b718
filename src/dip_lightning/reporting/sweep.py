"""A sweep as it is read: each job folder of a Hydra multirun (or of a folder of single runs) becomes a
`Job` (its results.json, its overrides, its status) and one row of the sweep's table, best first by the
metric the sweep optimised. A broken job never stops the reading: it becomes a failed job that says why.
Reading writes nothing: summary.py writes the sweep's summary from it, paper_table.py its table."""

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from dip_lightning.errors import InputError
from dip_lightning.reporting.plots import as_number
from dip_lightning.run.folder import RESULTS_FILE
from dip_lightning.run.results import RunRecord

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
LOG_PREFIX = re.compile(r"^(\[[^\]]*\])+\s*(-\s*)?")  # Hydra's "[time][logger][LEVEL] - "


@dataclass
class Job:
    """One job folder as the sweep's reader sees it; `record` is its results.json (all None when it has none)."""

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
class Sweep:
    """A sweep folder as read: its jobs in the table's order and the table."""

    directory: Path
    metric: str  # what the jobs are sorted by
    jobs: list[Job]  # in the table's order
    columns: tuple[str, ...]  # COLUMNS, and the OPTIONAL_COLUMNS some job has
    rows: list[dict]  # the table: column -> value as results.json has it (None where unknown)


def read_sweep(sweep_dir: str | Path) -> Sweep:
    """The jobs of a sweep folder, best first, and its table. Raises InputError when the folder does not
    exist or holds no job folder."""
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
    return Sweep(directory, metric, jobs, columns, [_row(job, columns) for job in jobs])


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
    except OSError:  # missing or unreadable: the job is read without it
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


def _row(job: Job, columns: tuple[str, ...]) -> dict:
    own = {"job": job.name, "overrides": job.label, "status": job.status}
    return {name: own[name] if name in own else getattr(job.record, name) for name in columns}
