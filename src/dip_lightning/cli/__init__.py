"""The command line: `python -m dip_lightning [OVERRIDES...]` fits (train.main, a Hydra app), and its
other commands, each a file here with a `main(argv) -> exit code`:

    python -m dip_lightning resume RUN_DIR [OVERRIDES...]    go on with a run killed half way (resume.py)
    python -m dip_lightning summary FOLDER...                a sweep's table, grid and curves again (summary.py)
    python -m dip_lightning paper-table SWEEP... [--report]  a paper preset's sweep beside the paper (paper_table.py)
"""
