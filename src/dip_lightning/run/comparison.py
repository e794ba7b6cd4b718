"""The side-by-side picture of a run: what was observed, the naive baseline, the restoration and its
average, and the ground truth, each captioned with its PSNR, under a title that says how far the run
got and how it ended."""

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from dip_lightning.data.images import to_pil

MIN_HEIGHT = 256
MAX_ZOOMED_WIDTH = 1024  # a thin picture (1025 x 3) is not zoomed into a panel tens of thousands of pixels wide


def _caption(name: str, value: float | None) -> str:
    return name if value is None else f"{name}  {value:.2f} dB"


def comparison_picture(module, record: dict) -> Image.Image:
    """module: a DeepImagePrior; record: its results.json fields (scores, status, steps)."""
    title, panels = comparison_panels(module, record)
    return side_by_side(panels, title)


def comparison_panels(module, record: dict) -> tuple[str, list[tuple[str, torch.Tensor]]]:
    """The picture's title and its (caption, image) panels."""
    observed = module.observed
    operator = module.physics.operator
    baseline_is_observation = operator.baseline_name == "observation"
    panels = [(_caption("observation", record["psnr_input"] if baseline_is_observation else None), observed)]
    if not baseline_is_observation:
        panels.append((_caption(operator.baseline_name, record["psnr_input"]), operator.baseline(observed)))
    restoration = module.restoration()
    if "restored" in restoration:  # a run that failed at its first step has none
        panels.append((_caption("restored", record["psnr"]), restoration["restored"]))
    if "restored_avg" in restoration:
        panels.append((_caption("averaged", record["psnr_avg"]), restoration["restored_avg"]))
    if module.ground_truth is not None:
        panels.append(("ground truth", module.ground_truth))
    arch = f", {record['arch']}" if record.get("arch") else ""
    title = f"{record['task']}{arch}: step {record['steps']} of {record['num_iter']}, {record['status']}"
    return title, [(caption, image[0]) for caption, image in panels]


def side_by_side(panels: list[tuple[str, torch.Tensor]], title: str) -> Image.Image:
    """Panels (caption, image) in a row at the size of the largest; smaller ones (an SR observation)
    are enlarged with nearest-neighbour so that their pixels stay visible, and small runs are zoomed
    by a whole factor so that the picture is at least `MIN_HEIGHT` pixels high (a panel at most
    `MAX_ZOOMED_WIDTH` wide)."""
    largest_height = max(image.shape[-2] for _, image in panels)
    largest_width = max(image.shape[-1] for _, image in panels)
    zoom = max(1, min(MIN_HEIGHT // largest_height, MAX_ZOOMED_WIDTH // largest_width))
    height = zoom * max(image.shape[-2] for _, image in panels)
    width = zoom * max(image.shape[-1] for _, image in panels)
    text_height = max(16, height // 12)
    font = ImageFont.load_default(size=text_height * 0.7)
    canvas = Image.new("RGB", (width * len(panels), height + 2 * text_height), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((4, text_height * 0.1), title, fill="black", font=font)
    for index, (caption, image) in enumerate(panels):
        image = image.detach().float().cpu()
        if image.shape[-2:] != (height, width):
            image = F.interpolate(image[None], size=(height, width), mode="nearest")[0]
        canvas.paste(to_pil(image).convert("RGB"), (index * width, text_height))
        draw.text((index * width + 4, height + text_height * 1.1), caption, fill="black", font=font)
    return canvas
