"""Before a fit: the memory it needs against what the machine has, its estimated time, the precision
chosen for the hardware, and activation checkpointing as a way to fit more."""

import logging

import numpy as np
import pytest
from conftest import TINY_NET, dip, write_png

from dip_lightning.build import build_module
from dip_lightning.errors import InputError
from dip_lightning.hardware import preflight as preflight_module
from dip_lightning.hardware.precision import choose_precision, hardware_facts


def test_an_image_too_large_for_the_memory_is_refused_with_the_largest_size_that_fits(configure, monkeypatch):
    monkeypatch.setattr(preflight_module, "available_bytes", lambda device: 600 * 10**6)
    with pytest.raises(InputError, match=r"a 512 x 512 fit needs about .* GB .* at most (\d+) x \1 fits"):
        build_module(configure("check_fit=true", "image.max_size=null"))
    build_module(configure("check_fit=true", "image.max_size=64"))  # a small one goes on


@pytest.mark.cli
def test_a_huge_photo_not_to_be_tiled_is_refused_in_one_line_before_anything_is_allocated(tmp_path):
    path = write_png(tmp_path / "huge.png", np.full((6000, 6000), 128, np.uint8))
    result = dip(f"observed={path}", "tile=none", f"hydra.run.dir={tmp_path / 'out'}", cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "Traceback" not in output, output
    assert "a 6016 x 6016 fit needs about" in output and "image.max_size=" in output  # the canvas: up to 32s


def test_the_estimated_time_is_logged_and_a_long_run_warned(configure, caplog):
    with caplog.at_level(logging.INFO):
        build_module(configure("check_fit=true", *TINY_NET, "task.num_iter=10"))
    assert "estimated: " in caplog.text and "for 10 steps at 64 x 64" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO):
        build_module(configure("check_fit=true", "image.max_size=null", "task.num_iter=10000000"))
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert warnings and "a long run" in warnings[0].getMessage()


def test_auto_precision_is_the_default_and_follows_the_hardware(fit):
    results = fit(*TINY_NET, "task.num_iter=2")  # trainer.precision as configured by default
    expected = choose_precision("auto", "cpu", hardware_facts("cpu")).precision
    assert results["precision"] == expected


def test_activation_checkpointing_does_not_change_the_fit(fit):  # its memory: tests/hardware/test_memory.py
    plain = fit(*TINY_NET, "task.num_iter=5", "trainer.precision=32-true")
    checkpointed = fit(*TINY_NET, "task.num_iter=5", "trainer.precision=32-true", "prior.activation_checkpointing=all")
    assert checkpointed["psnr_avg"] == pytest.approx(plain["psnr_avg"], abs=1e-3)
