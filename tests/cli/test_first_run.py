"""What a first run prints through the real entry point: its own lines and the progress bar, no warning
(Hydra's about the run folder's check, Lightning's srun hint where SLURM's tools are installed); and the
check of the default run folder, which now resolves that folder's name."""

import re
from pathlib import Path

import pytest
from conftest import TINY_NET, dip
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig

from dip_lightning.config.location import config_dir
from dip_lightning.config.resolvers import register_resolvers
from dip_lightning.run.folder import CheckRunFolder

register_resolvers()


def test_a_default_run_prints_no_warning(tmp_path):
    """The one run of the real entry point in `make test` (the others: `make test-cli`)."""
    done = dip("experiment=smoke", "task.num_iter=2", *TINY_NET, cwd=tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert not re.search(r"warn|traceback", output, re.IGNORECASE), output
    assert "results in " in done.stdout
    (run,) = (tmp_path / "outputs" / "denoise-skip").iterdir()  # one folder: the one the check made is the run's
    assert (run / "results.json").is_file()


def test_the_default_run_folder_is_checked_before_the_run(tmp_path, monkeypatch, capsys):
    """CheckRunFolder runs before Hydra has set its config: it resolves the default folder's name itself."""
    monkeypatch.chdir(tmp_path)
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        config = compose("config", return_hydra_config=True)
    monkeypatch.setattr(HydraConfig.instance(), "cfg", None)  # as before Hydra's run, and the test's own after
    (tmp_path / "outputs").write_text("a file where the runs' folder would go")
    with pytest.raises(SystemExit) as exit:
        CheckRunFolder().on_run_start(config)
    assert exit.value.code == 2
    assert "InputError: cannot write the run's folder outputs/denoise-skip/" in capsys.readouterr().err
    (tmp_path / "outputs").unlink()
    CheckRunFolder().on_run_start(config)
    (made,) = (tmp_path / "outputs" / "denoise-skip").iterdir()
    assert made.relative_to(tmp_path) == Path(
        str(config.hydra.run.dir)
    )  # the run's own folder: the name is resolved once
