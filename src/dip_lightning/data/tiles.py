"""A photo as overlapping tiles, each restored by a fit of its own, and the restorations blended back into
one photo: a tile's weight rises from the tile's inner edges across the overlap (a raised cosine) and is
one elsewhere, and every pixel is the weighted mean of the tiles that cover it, so that the weights sum to
one and no seam shows where a tile ends. DIP's prior is local (the hourglass's receptive field), which is
what makes the tiles' fits independent jobs."""

import math
from dataclasses import asdict, dataclass

import torch

from dip_lightning.data.photo import upright_size

ALIGN = 8  # tiles start on multiples of 8 pixels: JPEG's 8 x 8 blocks stay whole in every tile


@dataclass(frozen=True)
class Tile:
    """A box of the photo (pixels of the observation)."""

    top: int
    left: int
    height: int
    width: int

    def __call__(self, image: torch.Tensor, scale: int = 1) -> torch.Tensor:
        """The tile's part of `image` (.., H, W); with `scale`, of an image `scale` times larger (SR)."""
        top, left, height, width = (n * scale for n in (self.top, self.left, self.height, self.width))
        return image[..., top : top + height, left : left + width]

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def aligned(tile: int, overlap: int) -> int:
    """What tiles start on a multiple of: ALIGN, unless the tiles are too small to leave room for it."""
    return ALIGN if tile - overlap > 2 * ALIGN else 1


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    """Where the tiles of one axis start: evenly spread, on multiples of `aligned`, the first at 0 and the last
    reaching the end (it may be up to ALIGN - 1 longer than `tile`), neighbours overlapping by >= `overlap`."""
    if length <= tile:
        return [0]
    align, step = aligned(tile, overlap), tile - overlap
    count = math.ceil((length - tile) / step) + 1  # the fewest tiles, then one more while rounding breaks the overlap
    while True:
        starts = sorted({(index * (length - tile) // (count - 1)) // align * align for index in range(count)})
        if all(later - earlier <= step for earlier, later in zip(starts, starts[1:], strict=False)):
            return starts
        count += 1


def _spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """(start, length) of the tiles of one axis: the last one reaches the end."""
    starts = _starts(length, tile, overlap)
    return [(start, tile if start != starts[-1] else length - start) for start in starts]


class TileGrid:
    """Overlapping tiles of about `tile` x `tile` pixels covering a height x width photo, row by row."""

    def __init__(self, height: int, width: int, tile: int, overlap: int):
        if tile < 1 or overlap < 0 or overlap >= tile:
            raise ValueError(f"tiles of {tile} px need an overlap in [0, {tile}), got {overlap}")
        self.height, self.width, self.tile, self.overlap = height, width, tile, overlap
        rows, cols = _spans(height, tile, overlap), _spans(width, tile, overlap)
        self.tiles = [Tile(top, left, height, width) for top, height in rows for left, width in cols]

    def __len__(self) -> int:
        return len(self.tiles)

    def weight(self, tile: Tile, scale: int = 1) -> torch.Tensor:
        """(h, w) weights of `tile` at `scale`: a raised cosine across the overlap at each edge that another
        tile shares, one elsewhere (and at the photo's own edges)."""
        rows = _ramp(tile.height * scale, self.overlap * scale, tile.top > 0, tile.top + tile.height < self.height)
        cols = _ramp(tile.width * scale, self.overlap * scale, tile.left > 0, tile.left + tile.width < self.width)
        return rows[:, None] * cols[None, :]

    def stitch(self, pieces: list[torch.Tensor], scale: int = 1) -> torch.Tensor:
        """One photo (.., H * scale, W * scale) from the tiles' restorations (.., h * scale, w * scale)."""
        if len(pieces) != len(self.tiles):
            raise ValueError(f"{len(self.tiles)} tiles, {len(pieces)} pieces")
        first = pieces[0]
        total = first.new_zeros((*first.shape[:-2], self.height * scale, self.width * scale), dtype=torch.float64)
        weights = torch.zeros(self.height * scale, self.width * scale, dtype=torch.float64)
        for tile, piece in zip(self.tiles, pieces, strict=True):
            weight = self.weight(tile, scale)
            tile(total, scale).add_(piece.double() * weight)
            tile(weights, scale).add_(weight)
        return (total / weights).to(first.dtype)


def _ramp(length: int, overlap: int, rise: bool, fall: bool) -> torch.Tensor:
    """Weights along one axis of a tile: 0.5 - 0.5 cos over `overlap` pixels at a shared start (`rise`) and
    end (`fall`), one elsewhere; every weight > 0, so that each pixel has some."""
    weights = torch.ones(length, dtype=torch.float64)
    span = min(overlap, length)
    if span == 0:
        return weights
    ramp = 0.5 - 0.5 * torch.cos(math.pi * (torch.arange(span, dtype=torch.float64) + 0.5) / span)
    if rise:
        weights[:span] = torch.minimum(weights[:span], ramp)
    if fall:
        weights[length - span :] = torch.minimum(weights[length - span :], ramp.flip(0))
    return weights


def tile_jobs(observed: str | None, tile, overlap: int) -> dict[str, str]:
    """hydra.sweeper.params of a sweep over a photo's tiles (`-m observed=PATH tile=N`): one job per tile,
    `tile_index=0,1,...`; nothing for a whole photo, or where the photo cannot be read (its run says why)."""
    if observed is None or str(tile) in ("auto", "none"):
        return {}
    try:
        count = len(TileGrid(*upright_size(observed), int(tile), overlap))
    except Exception:
        return {}
    return {"tile_index": ",".join(str(index) for index in range(count))} if count > 1 else {}
