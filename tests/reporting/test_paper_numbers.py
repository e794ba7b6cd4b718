"""The paper's numbers as data: spot checks against paper-numbers.md, every number traced back to a row of
that file, and every image stem a file of ../shared/data (each skipped where the file is absent)."""

import re

import pytest
from conftest import SHARED_DATA

from dip_lightning.reporting.baselines import BASELINES
from dip_lightning.reporting.paper_numbers import paper_table, paper_tables

PAPER_NUMBERS_MD = SHARED_DATA.parent / "reference" / "paper-numbers.md"


@pytest.mark.parametrize(
    "table, method, image, value",
    [
        ("inpaint_table1", "dip", "barbara", 32.22),
        ("inpaint_table1", "papyan", "Cameraman256", 27.90),
        ("inpaint_table1_recomputed", "dip", "house", 39.00),
        ("sr_x4_set14", "dip", "zebra", 25.71),
        ("sr_x8_set5", "dip", "butterfly", 20.02),  # reg_noise_std 0.05
        ("sr_x8_set5", "dip_reg003", "butterfly", 20.74),
        ("denoise_sigma25", "bm3d", "F16", 32.67),
        ("denoise_sigma50", "nlm", "kodim12", 28.29),
    ],
)
def test_values(table, method, image, value):
    assert paper_table(table).value(method, image) == value


@pytest.mark.parametrize(
    "table, method, average",
    [
        ("sr_x4_set5", "dip", 29.90),
        ("sr_x4_set5_paper", "dip", 29.90),
        ("sr_x4_set14_paper", "dip", 27.00),
        ("sr_x4_set14", "bicubic", 26.05),
        ("denoise_sigma25", "bm3d", 31.42),
        ("denoise_sigma25_paper", "bm3d", 31.42),
        ("denoise_sigma25_paper", "dip_averaged", 30.43),
        ("denoise_sigma25_paper", "nlm", 30.26),
        ("inpaint_table1_recomputed", "dip", 33.44),
    ],
)
def test_averages(table, method, average):
    assert paper_table(table).average(method) == average


def test_table1_averages_are_the_mean_of_its_columns():
    table = paper_table("inpaint_table1")
    assert table.source.startswith("[P]")
    assert table.average("dip") == pytest.approx(33.48, abs=0.005)
    assert table.average("papyan") == pytest.approx(31.19, abs=0.005)


def test_every_table_says_where_its_numbers_come_from_and_how_to_score_a_run():
    for table in paper_tables().values():
        assert table.source[:3] in ("[P]", "[R]")
        assert table.task in BASELINES and table.metric == ("sr_psnr" if table.task == "sr" else "psnr")
        assert table.methods and all(table.label(method) for method in table.methods)


def test_unknown_names_say_what_there_is():
    with pytest.raises(KeyError, match="sr_x4_set5"):
        paper_table("sr_x3")
    with pytest.raises(KeyError, match="baby"):
        paper_table("sr_x4_set5").value("dip", "zebra")
    with pytest.raises(KeyError, match="averages only"):
        paper_table("denoise_sigma25_paper").value("bm3d", "F16")


def test_every_number_is_a_row_of_paper_numbers_md():
    if not PAPER_NUMBERS_MD.is_file():
        pytest.skip(f"{PAPER_NUMBERS_MD} is not here")
    md_rows = [
        [float(cell) for cell in line.replace("*", "").split("|") if re.fullmatch(r"\s*\d+\.\d+\s*", cell)]
        for line in PAPER_NUMBERS_MD.read_text().splitlines()
        if line.startswith("|")
    ]
    for table in paper_tables().values():
        for method in table.methods:
            if not table.images:
                continue
            numbers = [table.value(method, image) for image in table.images]
            if table.rows[method].average is not None:
                numbers.append(table.average(method))
            assert numbers in md_rows, f"{table.name} {method}"


def test_every_image_is_a_file_of_the_shared_data():
    tables = [table for table in paper_tables().values() if table.images]
    if not any((SHARED_DATA / table.folder).is_dir() for table in tables):
        pytest.skip(f"{SHARED_DATA} is not here")
    for table in tables:
        folder = SHARED_DATA / table.folder
        if folder.is_dir():
            assert sorted(path.stem for path in folder.glob("*.png")) == sorted(table.images), table.name
