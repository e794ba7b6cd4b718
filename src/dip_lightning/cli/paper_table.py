"""`python -m dip_lightning paper-table SWEEP... [--report FILE]`: a paper preset's sweep tabled beside the
paper's numbers and classical baselines on the same inputs (paper_table.md / .csv in each sweep)."""

import argparse
import logging
import sys
from pathlib import Path

from dip_lightning.atomic import write_atomically
from dip_lightning.errors import InputError
from dip_lightning.reporting.paper_table import write_table


def main(argv: list[str] | None = None) -> int:
    description = __doc__.split(": ", 1)[1].split(" (")[0]
    parser = argparse.ArgumentParser(prog="python -m dip_lightning paper-table", description=description)
    parser.add_argument("sweeps", nargs="+", type=Path, metavar="SWEEP", help="a paper preset's multirun folder")
    parser.add_argument("--report", type=Path, help="also write all the tables into this markdown file")
    parser.add_argument("--header", default="", help="text above the tables in the report (machine, command)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    markdown, failed = [], False
    for sweep in args.sweeps:  # a sweep that cannot be tabled is said so in its place; the others go on
        try:
            markdown.append(write_table(sweep).markdown())
        except InputError as error:
            print(f"error: {error}", file=sys.stderr)
            markdown.append(f"### {sweep.name}\n\nNo table: {error}\n")
            failed = True
        print(markdown[-1])
    if args.report:
        text = "\n".join([args.header, *markdown]) + "\n"
        write_atomically(args.report, lambda handle: handle.write(text.encode()))
    return 2 if failed else 0
