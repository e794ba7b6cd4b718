"""`python -m dip_lightning`: a command (its first argument: resume, summary, paper-table) or a fit."""

import importlib
import sys

COMMANDS = {"resume": "resume", "summary": "summary", "paper-table": "paper_table"}  # name -> its module here


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in COMMANDS:
        command = importlib.import_module(f"dip_lightning.cli.{COMMANDS[sys.argv[1]]}")
        sys.exit(command.main(sys.argv[2:]))
    from dip_lightning.train import main as fit  # Hydra's app: it reads the overrides from sys.argv

    fit()
