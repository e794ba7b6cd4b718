import numpy as np
import pytest
import torch
from conftest import write_png

from dip_lightning.data.masks import BernoulliMask, FileMask, RectangleMask, TextMask, check_mask


def generator(seed=0):
    return torch.Generator().manual_seed(seed)


def test_bernoulli_mask_misses_the_asked_fraction_and_is_seeded():
    mask = BernoulliMask(0.5)(256, 256, generator())
    assert mask.shape == (1, 256, 256)
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    assert 1 - mask.mean().item() == pytest.approx(0.5, abs=0.01)
    assert torch.equal(mask, BernoulliMask(0.5)(256, 256, generator()))
    assert not torch.equal(mask, BernoulliMask(0.5)(256, 256, generator(1)))
    assert 1 - BernoulliMask(0.9)(256, 256, generator()).mean().item() == pytest.approx(0.9, abs=0.01)


def test_text_mask_hides_a_minority_of_pixels_in_lines():
    mask = TextMask("Deep Image Prior restores what is hidden", 10)(128, 128, generator())
    missing = 1 - mask.mean().item()
    assert 0.03 < missing < 0.4
    rows_hit = (mask[0] == 0).any(dim=1).float().mean().item()
    assert 0.2 < rows_hit < 0.9  # text lines with gaps between them


def test_rectangle_mask_hides_the_centre():
    mask = RectangleMask(0.25, 0.5)(40, 80, generator())
    assert (mask == 0).sum().item() == 10 * 40
    assert mask[0, 20, 40] == 0 and mask[0, 0, 0] == 1


def test_file_mask_white_is_known(tmp_path):
    values = np.array([[0, 100, 128, 255]], dtype=np.uint8)
    mask = FileMask(write_png(tmp_path / "m.png", values), None, None)(1, 4, generator())
    assert mask.tolist() == [[[0.0, 0.0, 1.0, 1.0]]]


def test_file_mask_of_the_wrong_size_is_refused(tmp_path):
    path = write_png(tmp_path / "m.png", np.full((30, 20), 255, np.uint8))
    with pytest.raises(ValueError, match="mask .*m.png is 20x30 but the image is 64x48"):
        FileMask(path, None, None)(48, 64, generator())


def test_a_mask_with_nothing_known_is_refused():
    with pytest.raises(ValueError, match="marks no pixel as known"):
        check_mask(torch.zeros(1, 8, 8))
