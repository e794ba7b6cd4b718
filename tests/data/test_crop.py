import pytest
import torch

from dip_lightning.data.crop import Crop, centre_crop


def test_crop_rule_is_the_references_centre_crop():
    # 400 x 261 snail -> 384 x 256 (d=32): offsets are (W mod d) // 2 and (H mod d) // 2
    assert centre_crop(261, 400, 32) == Crop(2, 8, 256, 384, 261, 400)
    assert centre_crop(512, 512, 32).is_whole
    assert centre_crop(388, 584, 32) == Crop(2, 4, 384, 576, 388, 584)  # zebra -> 576 x 384, as the SR notebook
    image = torch.arange(10 * 7, dtype=torch.float32).reshape(1, 10, 7)
    assert torch.equal(centre_crop(10, 7, 4)(image), image[:, 1:9, 1:5])


def test_a_crop_cuts_an_image_scale_times_larger_at_the_same_place():
    crop = Crop(1, 2, 4, 4, 7, 8)
    large = torch.arange(14 * 16, dtype=torch.float32).reshape(1, 14, 16)
    assert torch.equal(crop(large, scale=2), large[:, 2:10, 4:12])


def test_image_smaller_than_the_stride_is_refused():
    with pytest.raises(ValueError, match="image 20x20 is smaller than 32 pixels"):
        centre_crop(20, 20, 32)
