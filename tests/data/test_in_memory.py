"""Pictures given as data (data/in_memory.py): the tensors and formats a file of the same pixels gives,
and one line for what is not a picture."""

import numpy as np
import pytest
import torch

from dip_lightning.data.in_memory import as_photo, as_tensor
from dip_lightning.errors import InputError


@pytest.mark.parametrize(
    "picture, message",
    [
        (np.full((8, 8, 3), 255.0), r"values in \[255, 255\]: pixels are in \[0, 1\]"),
        (np.zeros((8, 8), np.int64), "int64: give uint8"),
        (torch.zeros(2, 3, 8, 8), "a batch of 2 pictures"),
        (torch.zeros(8, 8, 3), r"shape \(8, 8, 3\): give a gray or RGB\(A\) picture as \(C, H, W\)"),
        (torch.full((3, 8, 8), float("nan")), "NaN"),
        (42, "must be a path, a PIL image, a numpy array or a tensor, not int"),
    ],
)
def test_a_picture_that_is_not_one_is_refused_in_one_line(picture, message):
    with pytest.raises(InputError, match=message):
        as_tensor(picture, "observed")


def test_pictures_become_the_tensors_a_file_gives():
    gray16 = as_tensor(np.full((4, 5), 65535, np.uint16))
    assert gray16.shape == (1, 4, 5) and gray16.max() == 1.0
    rgba = as_tensor(np.zeros((4, 5, 4), np.uint8))
    assert rgba.shape == (3, 4, 5)
    assert as_tensor(torch.ones(4, 5, dtype=torch.bool)).dtype == torch.float32


def test_the_format_keeps_the_alpha_and_the_depth_of_the_pixels():
    colour, photo = as_photo(np.full((4, 5, 4), 65535, np.uint16))
    assert colour.shape == (3, 4, 5) and photo.bits == 16 and photo.alpha.shape == (1, 4, 5)
    assert as_photo(torch.zeros(1, 4, 5))[1].bits == 16  # float pixels are written back at 16 bits
    assert as_photo(np.zeros((4, 5), np.uint8))[1].bits == 8
