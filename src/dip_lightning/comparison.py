"""The side-by-side picture of a run: observation | restored | ground truth, each with a caption."""

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from dip_lightning.images import to_pil

MIN_HEIGHT = 256


def side_by_side(panels: list[tuple[str, torch.Tensor]]) -> Image.Image:
    """Panels (caption, image) in a row at the size of the largest; smaller ones (an SR observation)
    are enlarged with nearest-neighbour so that their pixels stay visible, and small runs are zoomed
    by a whole factor so that the picture is at least `MIN_HEIGHT` pixels high."""
    zoom = max(1, MIN_HEIGHT // max(image.shape[-2] for _, image in panels))
    height = zoom * max(image.shape[-2] for _, image in panels)
    width = zoom * max(image.shape[-1] for _, image in panels)
    caption_height = max(14, height // 16)
    font = ImageFont.load_default(size=caption_height * 0.7)
    canvas = Image.new("RGB", (width * len(panels), height + caption_height), "white")
    draw = ImageDraw.Draw(canvas)
    for index, (caption, image) in enumerate(panels):
        image = image.detach().float().cpu()
        if image.shape[-2:] != (height, width):
            image = F.interpolate(image[None], size=(height, width), mode="nearest")[0]
        canvas.paste(to_pil(image).convert("RGB"), (index * width, 0))
        draw.text((index * width + 4, height + caption_height * 0.1), caption, fill="black", font=font)
    return canvas
