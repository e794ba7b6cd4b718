"""The table of a paper preset's sweep: per image, this project's numbers beside the paper's and beside the
classical baselines on the same inputs, and their averages, written as paper_table.md and paper_table.csv
into the sweep's folder.

It builds on the sweep's reader (sweep.py reads the jobs, and writes nothing: one aggregator). The
baselines see exactly what DIP saw: each job's observation is made again from its saved config and seed.
Super-resolution is scored twice, in RGB over the whole image (as the rest of this project) and with the
paper's protocol (Y channel of ITU-R BT.601, a 4 px / 5 px border shave: sr_eval.py), on the saved 8-bit
pictures as the paper's [R] numbers were.

    python -m dip_lightning paper-table multirun/paper_denoise/<date> [MORE ...] [--report experiments/RESULTS.md]
"""

import csv
import io
import logging
import statistics
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import torch
from omegaconf import OmegaConf

from dip_lightning.atomic import write_atomically
from dip_lightning.build import build_problem
from dip_lightning.data.images import read_image
from dip_lightning.errors import InputError
from dip_lightning.fitting.metrics import psnr
from dip_lightning.hardware.machine import cpu_name
from dip_lightning.reporting.baselines import baselines_for
from dip_lightning.reporting.paper_numbers import PaperTable, paper_table
from dip_lightning.reporting.plots import new_figure, read_metrics, save_figure
from dip_lightning.reporting.sr_eval import sr_psnr
from dip_lightning.reporting.sweep import Job, read_sweep
from dip_lightning.run.results import RunRecord

log = logging.getLogger(__name__)
TABLE_FILES = ("paper_table.md", "paper_table.csv")
CURVES_FILE = "loss_curves.png"
ORACLE = "DIP averaged at its best step (oracle)"  # the last DIP column's best over the run, with ground truth


@dataclass
class Table:
    title: str
    notes: list[str]
    columns: list[str]  # the first is the image
    rows: list[dict] = field(default_factory=list)  # column -> number (or text)
    averages: dict = field(default_factory=dict)

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", *self.notes, ""] if self.notes else [f"### {self.title}", ""]
        lines += ["| " + " | ".join(self.columns) + " |", "|---|" + "---:|" * (len(self.columns) - 1)]
        for row in [*self.rows, self.averages] if self.averages else self.rows:
            lines.append("| " + " | ".join(_cell(row.get(column)) for column in self.columns) + " |")
        return "\n".join(lines) + "\n"

    def csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows([*self.rows, self.averages] if self.averages else self.rows)
        return buffer.getvalue()


def _cell(value) -> str:
    if value is None:
        return ""
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def job_config(job: Job):
    return OmegaConf.load(job.folder / ".hydra" / "config.yaml")


def ours(job: Job, task: str) -> dict[str, float | None]:
    """This project's numbers for one job, named by what they are."""
    record = job.record
    if task == "sr":
        truth = read_image(job.folder / "ground_truth.png")[None]
        scores = {f"DIP ({name}, Y)": sr_psnr(read_image(path)[None], truth) for name, path in _restorations(job)}
        return {**scores, "DIP (RGB)": record.psnr, "DIP averaged (RGB)": record.psnr_avg}
    if (record.restarts or 1) > 1:  # the paper's three numbers: one run, averaged, over runs
        scores = {
            "DIP one run": (record.psnr_restarts or [None])[0],
            "DIP averaged": (record.psnr_avg_restarts or [None])[0],
            f"DIP averaged over {record.restarts} runs": record.psnr_avg,
        }
    else:
        scores = {"DIP": record.psnr, "DIP averaged": record.psnr_avg}
    if record.stopping and record.best_psnr_avg is not None:  # what the rule left, seen with the truth
        scores[ORACLE] = record.best_psnr_avg
    return scores


def _restorations(job: Job) -> list[tuple[str, Path]]:
    names = (("last step", "restored.png"), ("averaged", "restored_avg.png"))
    return [(name, job.folder / file) for name, file in names if (job.folder / file).is_file()]


@torch.no_grad()
def baseline_scores(job: Job, task: str) -> dict[str, float]:
    """Every baseline of the task on the job's own observation, scored as DIP is."""
    methods = baselines_for(task)
    if not methods:
        return {}
    cfg = job_config(job)
    physics, problem = build_problem(cfg)
    truth = problem.ground_truth
    if truth is None:
        return {}
    known = {"observed": problem.observed[0], "sigma": cfg.task.get("sigma"), "factor": physics.scale}
    known["mask"] = getattr(physics.operator, "mask", None)
    if known["mask"] is not None:
        known["mask"] = known["mask"][0]
    scores = {}
    for method in methods.values():
        restored = method(**known)[None]
        if task == "sr":
            scores[f"{method.label} (Y)"] = sr_psnr(_quantised(restored), _quantised(truth))
        scores[f"{method.label}" + (" (RGB)" if task == "sr" else "")] = psnr(restored, truth)
    return scores


def _quantised(image: torch.Tensor) -> torch.Tensor:
    """As a saved 8-bit picture: the SR protocol scores pictures."""
    return (image.clamp(0, 1) * 255).round() / 255


def paper_column(table: PaperTable, method: str) -> str:
    """`paper [R] DIP`: the method, with where its number comes from ([P] the paper, [R] recomputed)."""
    return f"paper {table.source[:3]} {table.label(method)}"


def paper_columns(tables: list[PaperTable], image: str) -> dict[str, float | None]:
    values = {}
    for table in tables:
        if not table.images:
            continue
        for method in table.methods:
            try:
                values[paper_column(table, method)] = table.value(method, image)
            except KeyError:
                values[paper_column(table, method)] = None
    return values


def build_table(sweep_dir: Path) -> Table:
    jobs = sorted(read_sweep(sweep_dir).jobs, key=lambda job: job.name)
    done = [job for job in jobs if job.finished]
    if not done:
        raise InputError(f"{sweep_dir}: no finished job to tabulate")
    first = job_config(done[0])
    task = done[0].record.task
    tables = [paper_table(name) for name in (first.get("paper") or {}).get("tables", [])]
    stems = [Path(job.record.image or job.name).stem for job in jobs]
    by_image = len(set(stems)) == len(stems)  # a sweep over images; else over settings, named by them
    columns, rows = ["image" if by_image else "run"], []
    for job, stem in zip(jobs, stems, strict=True):
        row = {columns[0]: stem if by_image else job.label or job.name}
        if not job.finished:
            row[columns[0]] = f"{row[columns[0]]} ({job.status})"
            rows.append(row)
            continue
        row.update(ours(job, task))
        row.update(baseline_scores(job, task))
        row.update(paper_columns(tables, stem))
        rows.append(row)
        columns += [name for name in row if name not in columns]
    table = Table(_title(sweep_dir, done), _notes(first, done, task, tables), columns, rows)
    table.averages = _averages(table, tables, done)
    if task == "fit":
        _loss_curves(sweep_dir, done)
    return table


def _averages(table: Table, tables: list[PaperTable], done: list[Job]) -> dict:
    """The mean over the images of each column; a paper column uses the source's own average when the
    sweep covered all of its images."""
    averages = {table.columns[0]: f"average ({_runs(len(done))})"}
    for column in table.columns[1:]:
        values = [row.get(column) for row in table.rows if isinstance(row.get(column), float)]
        if len(values) == len(done) and values:
            averages[column] = statistics.fmean(values)
    stems = {Path(str(job.record.image)).stem for job in done}
    for paper in tables:
        for method in paper.methods:
            column = paper_column(paper, method)
            if not paper.images or stems >= set(paper.images):
                averages[column] = paper.average(method)
                if column not in table.columns:
                    table.columns.append(column)
    return averages


def _runs(count: int) -> str:
    return f"{count} run" if count == 1 else f"{count} runs"


def _title(sweep_dir: Path, done: list[Job]) -> str:
    record = done[0].record
    size = "x".join(str(n) for n in record.size or [])
    steps = record.num_iter
    if any(job.record.stopping for job in done):
        steps = f"at most {steps}"
    return f"{sweep_dir.parent.name}: {_runs(len(done))} of {steps} steps at {size} px ({sweep_dir.name})"


def _notes(config, done: list[Job], task: str, tables: list[PaperTable]) -> list[str]:
    record = done[0].record
    fitted = sorted({str(job.record.arch or job.record.prior) for job in done})
    notes = [
        f"- Machine: {cpu_name()}, {record.device}, {record.precision}, {record.threads} threads; {date.today()}",
        f"- Setting: task {task}, {' / '.join(fitted)}, "
        f"crop {config.image.get('center_crop') or 'none'}, seed {record.seed}",
        "- Scores: PSNR in dB with peak 1 over all channels and pixels (RGB)"
        + (
            "; SR also with the paper's protocol: Y channel of BT.601 in [16, 235], 4 px / 5 px border shave, "
            "on the 8-bit pictures (Y)"
            if task == "sr"
            else ""
        ),
    ]
    notes += _stopping_notes(done)
    notes += [f"- paper columns: {paper.name}, {paper.source}" for paper in tables]
    if all(job.record.psnr is None for job in done):
        notes.append("- No ground truth for these images, so no PSNR: the results are the pictures of each job")
    return notes


def _stopping_notes(done: list[Job]) -> list[str]:
    """Which rule stopped the runs, and where: the steps run and the steps kept (results.json)."""
    rules = sorted({str(job.record.stopping) for job in done if job.record.stopping})
    if not rules:
        return []
    ran = [job.record.steps for job in done if job.record.stopping]
    kept = [step for job in done for step in _as_list(_kept_step(job.record))]
    return [
        f"- Stopping: {' / '.join(rules)}: the runs ended after {_span(ran)} steps and kept "
        f"the average of step {_span(kept)} (each run's and restart's own)"
    ]


def _kept_step(record: RunRecord) -> int | list[int] | None:
    """The step of the result a stopping rule kept: the average's, where the run keeps one."""
    return record.stop_step_avg if record.stop_step_avg is not None else record.stop_step


def _as_list(value) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def _span(values: list) -> str:
    values = sorted(value for value in values if isinstance(value, int))
    if not values:
        return "?"
    if values[0] == values[-1]:
        return str(values[0])
    return f"{values[0]}-{values[-1]} (median {statistics.median_low(values)})"


def _loss_curves(sweep_dir: Path, done: list[Job]) -> None:
    """The paper's fig. 2: the loss of each fitted target against step, on a log scale, in one plot."""
    figure, (axes,) = new_figure()
    for job in done:
        loss = read_metrics(job.folder).get("loss", {})
        axes.plot(list(loss), list(loss.values()), label=job.label or job.name)
    axes.set(xlabel="step", ylabel="loss (MSE to the target)", yscale="log", title="fitting a target")
    axes.legend()
    save_figure(figure, sweep_dir / CURVES_FILE)


def write_table(sweep_dir: Path) -> Table:
    table = build_table(sweep_dir)
    for name, text in zip(TABLE_FILES, (table.markdown(), table.csv()), strict=True):
        write_atomically(sweep_dir / name, lambda handle, text=text: handle.write(text.encode()))
    return table
