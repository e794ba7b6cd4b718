"""`python -m dip_lightning`: a command (its first argument: resume, summary, paper-table), the help page
(--help), or a fit."""

import importlib
import sys

COMMANDS = {"resume": "resume", "summary": "summary", "paper-table": "paper_table"}  # name -> its module here


def main() -> None:
    arguments = sys.argv[1:]
    if arguments and arguments[0] in COMMANDS:
        command = importlib.import_module(f"dip_lightning.cli.{COMMANDS[arguments[0]]}")
        sys.exit(command.main(arguments[1:]))
    if "--help" in arguments or "-h" in arguments:  # ours; Hydra's own page is --hydra-help
        from dip_lightning.cli.help import help_page

        print(help_page())
        sys.exit(0)
    from dip_lightning.train import main as fit  # Hydra's app: it reads the overrides from sys.argv

    fit()
