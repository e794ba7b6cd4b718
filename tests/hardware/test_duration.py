"""The time estimate's FLOP count: fake tensors at two small sizes, extrapolated to the image."""

import pytest
import torch
from conftest import make_net
from torch.utils.flop_counter import FlopCounterMode

from dip_lightning.hardware.duration import format_duration, step_flops
from dip_lightning.hardware.fake_step import fitting_step

SMALL = {"num_channels_down": [16] * 3, "num_channels_up": [16] * 3, "num_channels_skip": [4] * 3}


def test_the_counted_flops_of_a_step_are_those_of_a_real_step_at_another_size():
    def factory(num_input_channels, num_output_channels):
        return make_net("skip", num_input_channels, num_output_channels, **SMALL)

    estimated = step_flops(factory, 3, 8, 96, 160)
    torch.manual_seed(0)
    with FlopCounterMode(display=False) as counter:
        fitting_step(factory(8, 3), 8, 3, 96, 160, torch.float32)
    assert counter.get_total_flops() > 1e8
    assert estimated == pytest.approx(counter.get_total_flops(), rel=1e-6)


@pytest.mark.parametrize(("seconds", "text"), [(42, "42 s"), (150, "2 min"), (5400, "90 min"), (9000, "2.5 h")])
def test_durations_read_as_a_person_says_them(seconds, text):
    assert format_duration(seconds) == text
