"""`results.json`, a run folder's record, as one type: `RunRecord`, whose fields are the file's keys in
the file's order, each with its type and meaning. The three kinds of record are RunRecords: a fit's
(run/record.py builds it), a photo restored in tiles' (tiled.py; its `tiles` are `TileEntry`s) and a run's
that failed before its first step (train.record_failure: what the run is, and why it failed). The runs
write it with `write`; every tool that reads a run folder (sweep summaries, tables, plots, the stitcher)
reads it with `read`.

A field that is None is left out of the file, except the fields that say what the run is (written null
too: every record has them) and the facts and scores of a fit (written null in a fit's record, where the
score is unknown without a ground truth; left out of the other records, which have none)."""

import json
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from dip_lightning.atomic import write_atomically
from dip_lightning.run.folder import RESULTS_FILE

NULL = "null"  # a field's metadata: when the field is written as null where it is None
ALWAYS, IN_A_FIT = "always", "in a fit"  # its values: in every record; in a fit's record (see _JsonRecord)


def _always():
    """A field every record writes, null when unknown."""
    return field(default=None, metadata={NULL: ALWAYS})


def _in_a_fit():
    """A field a fit's record writes, null when unknown (no ground truth, no backtracking...)."""
    return field(default=None, metadata={NULL: IN_A_FIT})


class _JsonRecord:
    """A dataclass written as a JSON object (RunRecord, TileEntry): its fields in order, None left out but
    where the field's NULL says so (a record is a fit's when it has `steps`)."""

    steps: int | None  # both records have it

    def to_json(self) -> dict[str, Any]:
        fitted = self.steps is not None
        written = {}
        for each in fields(self):
            value, null = getattr(self, each.name), each.metadata.get(NULL)
            if value is not None or null == ALWAYS or (null == IN_A_FIT and fitted):
                written[each.name] = value
        return written

    @classmethod
    def _checked(cls, value, what: str) -> dict:
        """`value`, a JSON object of the class's fields, or a ValueError that says what it is not."""
        if not isinstance(value, dict):
            raise ValueError(f"{what} holds a JSON {type(value).__name__}, not an object")
        names = [each.name for each in fields(cls)]
        if unknown := [name for name in value if name not in names]:
            raise ValueError(f"{what} has fields that are not {cls.__name__}'s: {', '.join(unknown)}")
        required = [each.name for each in fields(cls) if each.default is MISSING]
        if missing := [name for name in required if name not in value]:
            raise ValueError(f"{what} lacks {', '.join(missing)}")
        return value


@dataclass(kw_only=True)
class TileEntry(_JsonRecord):
    """One tile of a photo restored in tiles, in its photo's record: its box and its run's result."""

    index: int  # the tile's number, row by row (its run is in tiles/<index>)
    top: int  # its box, in pixels of the observation (data/tiles.py's Tile)
    left: int
    height: int
    width: int
    # the tile's run's record, as in its results.json (RunRecord's fields of the same names)
    status: str | None = _always()  # finished, or why not
    steps: int | None = None  # the steps done
    stop_step: int | list[int] | None = None  # the step of the output a stopping rule kept
    stop_step_avg: int | list[int] | None = None  # the step of the average it kept
    seconds: float | None = None  # its fitting time
    psnr_observed: float | None = _in_a_fit()  # its restoration's fit to its part of the observation
    psnr: float | None = _in_a_fit()  # its restoration against its part of the ground truth
    psnr_avg: float | None = _in_a_fit()  # its average against its part of the ground truth

    @classmethod
    def of(cls, index: int, box: dict[str, int], record: "RunRecord") -> "TileEntry":
        """The entry of tile `index` (`box`: data.tiles.Tile.as_dict()) whose run's record is `record`."""
        shared = {each.name: getattr(record, each.name) for each in fields(cls) if hasattr(record, each.name)}
        return cls(**{**shared, "index": index, **box})

    @classmethod
    def from_json(cls, value: dict) -> "TileEntry":
        return cls(**cls._checked(value, f"a tile of {RESULTS_FILE}"))


@dataclass(kw_only=True)
class RunRecord(_JsonRecord):
    """A run's results.json (see the module's docstring for which fields each kind of record has)."""

    # what the run is (build.describe)
    task: str | None = _always()  # the task's name (conf/task): denoise, inpaint, sr, deblur, jpeg, fit...
    prior: str | None = _always()  # the parametrisation (conf/prior): deep (a network) or pixels
    arch: str | None = _always()  # the deep prior's network (conf/arch); null for the pixel prior
    image: str | None = _always()  # the picture restored: observed=PATH, or the clean image's source
    seed: int | None = _always()  # the seed of the weights, z and the degradation (a tile's: seed + its index)
    profile: str | None = None  # the settings (conf/profile): fast (a photo of yours) | paper
    memory_format: str | None = None  # the deep prior's layout in memory (hardware/layout.py)
    # the session: how far it got, how long it took, where it ran (callbacks/result_writer.py)
    status: str | None = _always()  # finished, running, interrupted, or "failed: <the error>"
    seconds: float | None = None  # fitting time (all the sessions of a resumed run; a tiled photo's tiles' sum)
    wall_seconds: float | None = None  # a tiled photo: from its first tile to its record
    device: str | None = None  # where it was fitted: cpu, cuda:0...
    precision: str | None = None  # Lightning's precision: 32-true, bf16-mixed...
    threads: int | None = None  # torch's CPU threads
    updated: str | None = None  # when this record was written (UTC, ISO 8601, to the second)
    pid: int | None = None  # the process that wrote it
    host: str | None = None  # the machine it ran on
    resumed_from: list[int] | None = None  # the steps a resumed run went on from, in order
    # the fit (DeepImagePrior.record)
    num_params: int | None = None  # the prior's parameters (all the restarts')
    steps: int | None = None  # the steps done
    num_iter: int | None = None  # the task's budget of steps
    restarts: int | None = None  # the fits averaged into the restoration
    size: list[int] | None = None  # [height, width] of the restoration
    tile: int | None = None  # a tiled photo: the tiles' size, in pixels of the observation
    tile_overlap: int | None = None  # a tiled photo: how much neighbouring tiles overlap, in pixels
    tiles: list[TileEntry] | None = None  # a tiled photo: one entry per tile, in order
    crop: dict[str, int] | None = None  # where the fitted part lies in its source (data/crop.py's Crop)
    backtracks: int | None = _in_a_fit()  # the steps backtracking undid; null: no backtracking
    stopping: str | None = _in_a_fit()  # the stopping rule that chose the result; null: the task's budget
    stop_step: int | list[int] | None = None  # the step of the output kept (one per restart with restarts)
    stop_step_avg: int | list[int] | None = None  # the step of the average kept (idem)
    stop_reason: str | None = None  # why the rule stopped there, or that it did not stop
    # the scores of the restoration the run returns (run/record.py's evaluate), in dB for PSNR
    psnr: float | None = _in_a_fit()  # the restoration against the ground truth (null without one)
    psnr_avg: float | None = _in_a_fit()  # its exponential average against the ground truth
    ssim: float | None = _in_a_fit()  # SSIM of the restoration
    ssim_avg: float | None = _in_a_fit()  # SSIM of the average
    psnr_observed: float | None = _in_a_fit()  # A(restoration) against the observation: how well it fits
    psnr_input: float | None = _in_a_fit()  # the naive baseline (the observation, bicubic...) against the truth
    best_psnr: float | None = _in_a_fit()  # the highest psnr among the evaluated steps (every eval_every)
    best_psnr_step: int | None = _in_a_fit()  # its step
    best_psnr_avg: float | None = _in_a_fit()  # the highest psnr_avg among the evaluated steps
    best_psnr_avg_step: int | None = _in_a_fit()  # its step
    psnr_restarts: list[float | None] | None = None  # with restarts: each fit's own psnr
    psnr_avg_restarts: list[float | None] | None = None  # with restarts: each fit's own psnr_avg
    gap_to_best: float | None = None  # best_psnr_avg - psnr_avg (psnr where no average): what stopping here lost
    files: list[str] | None = None  # the pictures in the run's folder

    @classmethod
    def from_json(cls, value: dict) -> "RunRecord":
        """The record of a JSON object (its absent fields None); ValueError for anything else."""
        known = cls._checked(value, RESULTS_FILE)
        tiles = known.get("tiles")
        if tiles is not None:
            if not isinstance(tiles, list):
                raise ValueError(f"{RESULTS_FILE}'s tiles is a JSON {type(tiles).__name__}, not a list")
            known = {**known, "tiles": [TileEntry.from_json(entry) for entry in tiles]}
        return cls(**known)

    def to_json(self) -> dict[str, Any]:
        written = super().to_json()
        if self.tiles is not None:
            written["tiles"] = [entry.to_json() for entry in self.tiles]
        return written

    @classmethod
    def read(cls, run_dir: str | Path) -> "RunRecord":
        """The record in `run_dir`; OSError when its results.json is missing or unreadable, ValueError when
        it is not a JSON object of RunRecord's fields."""
        return cls.from_json(json.loads((Path(run_dir) / RESULTS_FILE).read_text()))

    def write(self, run_dir: str | Path) -> None:
        """Write results.json into `run_dir` atomically: a reader never sees half a record."""
        text = json.dumps(self.to_json(), indent=2) + "\n"
        write_atomically(Path(run_dir) / RESULTS_FILE, lambda handle: handle.write(text.encode()))
