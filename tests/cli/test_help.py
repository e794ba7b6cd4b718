"""`python -m dip_lightning --help`: a page for people, from conf/ as shipped."""

import subprocess
import sys

import pytest

from dip_lightning.cli.help import GROUPS, help_page, options


def test_the_help_page_lists_the_groups_a_user_picks_without_the_private_presets():
    page = help_page()
    assert "Deep Image Prior" in page and "resume" in page and "--hydra-help" in page
    flat = " ".join(page.split())  # the options are wrapped
    for group in GROUPS:
        assert options(group), group  # every group named has options
        assert " | ".join(options(group)) in flat
    assert "paper_denoise[_mini]" in page and "poisson_gaussian" in page and "validation" in page
    assert not [option for group in GROUPS for option in options(group) if option.startswith("_")]  # private ones
    assert " _mini" not in flat and " _paper" not in flat and "_common" not in page
    assert "task_arch" not in page and "inpaint_case" not in page  # composed by themselves, or the presets' own


@pytest.mark.cli
def test_help_is_ours_and_the_commands_keep_theirs():
    page = subprocess.run(
        [sys.executable, "-m", "dip_lightning", "--help"], capture_output=True, text=True, timeout=120
    )
    assert page.returncode == 0 and page.stdout.strip() == help_page()
    resume = subprocess.run(
        [sys.executable, "-m", "dip_lightning", "resume", "--help"], capture_output=True, text=True, timeout=120
    )
    assert resume.returncode == 0 and resume.stdout.startswith("`python -m dip_lightning resume RUN_DIR")
