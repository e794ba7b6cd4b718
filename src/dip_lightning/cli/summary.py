"""`python -m dip_lightning summary FOLDER...`: the table, grid and curves of a sweep, again, of any folder of runs."""

import argparse
import sys
from pathlib import Path

from dip_lightning.errors import InputError
from dip_lightning.reporting.summary import summarize


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dip_lightning summary",
        description="Summarise sweeps: a table of their jobs, best first (summary.md, summary.csv), "
        "their restorations (summary_grid.png) and PSNR curves (summary_curves.png), written into each FOLDER.",
    )
    parser.add_argument("folders", nargs="+", type=Path, metavar="FOLDER", help="a multirun folder, or one of runs")
    exit_code = 0
    for folder in parser.parse_args(argv).folders:
        try:
            print(summarize(folder).markdown)
        except InputError as error:
            print(f"error: {error}", file=sys.stderr)
            exit_code = 2
    return exit_code
