"""The paper's numbers as data (paper_numbers.yaml, shipped beside this module), each table with its source,
so that a run on ../shared/data/<folder>/<stem>.png finds the number it reproduces by the file's stem."""

from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from statistics import fmean
from typing import Any

import yaml

METRICS = ("psnr", "sr_psnr")  # dip_lightning.fitting.metrics.psnr, dip_lightning.reporting.sr_eval.sr_psnr


@dataclass(frozen=True)
class PaperMethod:
    label: str
    psnr: dict[str, float]  # image stem -> dB; empty where the source gives only an average
    average: float | None  # the source's own average, None where it gives none


@dataclass(frozen=True)
class PaperTable:
    """One table: `source` ([P] paper, [R] recomputed from the released images), the task and its settings
    (sigma, factor, missing_fraction), the `metric` to score a run with, the ../shared/data `folder` and the
    image stems of its columns, and one row per method."""

    name: str
    source: str
    task: str
    settings: dict[str, Any]
    metric: str
    folder: str | None
    images: tuple[str, ...]
    rows: dict[str, PaperMethod]

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(self.rows)

    def label(self, method: str) -> str:
        return self._row(method).label

    def value(self, method: str, image: str) -> float:
        """PSNR of `method` on the image with file stem `image`."""
        row = self._row(method)
        if image not in row.psnr:
            where = f"images {', '.join(self.images)}" if self.images else "averages only"
            raise KeyError(f"table {self.name} has no {method} number for {image!r} ({where})")
        return row.psnr[image]

    def average(self, method: str) -> float:
        """The source's average, or the mean of the per-image numbers where the source states none."""
        row = self._row(method)
        return row.average if row.average is not None else fmean(row.psnr.values())

    def _row(self, method: str) -> PaperMethod:
        if method not in self.rows:
            raise KeyError(f"table {self.name} has no method {method!r}; it has {', '.join(self.rows)}")
        return self.rows[method]


def _parse_table(name: str, entry: dict[str, Any]) -> PaperTable:
    images = tuple(entry["images"])
    if entry["metric"] not in METRICS or len(set(images)) != len(images):
        raise ValueError(f"paper table {name}: unknown metric or repeated image")
    rows = {}
    for method, row in entry["methods"].items():
        values = row.get("psnr", [])
        if len(values) != len(images) or (not values and row.get("average") is None):
            raise ValueError(f"paper table {name}, {method}: {len(values)} numbers for {len(images)} images")
        rows[method] = PaperMethod(row["label"], dict(zip(images, map(float, values), strict=True)), row.get("average"))
    return PaperTable(
        name, entry["source"], entry["task"], dict(entry["settings"]), entry["metric"], entry["folder"], images, rows
    )


@cache
def paper_tables() -> dict[str, PaperTable]:
    """Every table of paper_numbers.yaml, by name, in the file's order."""
    data = yaml.safe_load(files("dip_lightning.reporting").joinpath("paper_numbers.yaml").read_text(encoding="utf-8"))
    return {name: _parse_table(name, entry) for name, entry in data.items()}


def paper_table(name: str) -> PaperTable:
    tables = paper_tables()
    if name not in tables:
        raise KeyError(f"no paper table {name!r}; there are {', '.join(tables)}")
    return tables[name]
