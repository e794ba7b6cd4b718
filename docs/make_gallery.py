"""Make the site's gallery (docs/gallery.md and the pictures in docs/gallery/) from the pictures the project
already has: the figures `make paper-mini` copies into experiments/figures/ and the seams picture of
experiments/benchmarks/tile_seams.png. Nothing is fitted here; run it again after `make paper-mini`:

    .venv/bin/python docs/make_gallery.py

Each picture is flattened onto white (the site has a dark mode), saved as an optimised PNG and, where it is
still over its share of the budget (under 200 KB each, under 1.5 MB in all), reduced to a 256-colour palette
and then shrunk until it fits. A picture listed below that is missing is left out with a line that says so."""

import io
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "gallery"
PAGE = ROOT / "docs" / "gallery.md"
MAX_FILE = 200_000  # bytes, each picture
MAX_TOTAL = 1_450_000  # bytes, all of them (under 1.5 MB)

# (section, source picture, alt text, caption), in the page's order. The captions are the reading of
# experiments/RESULTS.md and experiments/benchmarks/tile_seams.md.
PICTURES = [
    (
        "Denoising",
        "experiments/figures/paper_denoise-summary_curves.png",
        "PSNR curves of the nine denoising runs",
        "`paper_denoise_mini`: the averaged output's PSNR (`psnr_avg`) of every run by step (9 images, 128 px "
        "crops, sigma 25), each curve ending at its run's last step. Held-out validation, with no "
        "ground truth, stopped the runs after a median 979 of the 1800 steps and kept "
        "averages 0.08 dB under each run's best step; averaged over two runs DIP scores 29.69 dB against TV "
        "28.01, NLM 28.08 and CBM3D 30.38 on the same noisy inputs.",
    ),
    (
        "Blind JPEG artifact removal",
        "experiments/figures/paper_jpeg-comparison.png",
        "the snail at JPEG quality 10, restored and averaged",
        "`paper_jpeg_mini` (snail, no ground truth): the rule, on whole 8 x 8 held-out blocks, stopped at step "
        "1427 of the paper's 2400 and kept the average of step 1038; the blocks and the ringing around the "
        "black strokes are gone, the edges kept.",
    ),
    (
        "Inpainting",
        "experiments/figures/paper_inpaint-inpaint_case-kate-comparison.png",
        "kate with text over her face, and the text removed",
        "Text removal on kate (`paper_inpaint_mini`, 1000 steps, 192 px crop): the text is gone, DIP "
        "averaged 33.65 dB against biharmonic inpainting's 37.34 (the thin strokes are filled best from their "
        "close borders).",
    ),
    (
        "Inpainting",
        "experiments/figures/paper_inpaint-inpaint_case-vase-comparison.png",
        "the vase with a region missing, and filled in",
        "Region inpainting on the vase (meshgrid input): DIP and biharmonic inpainting are level (24.43 / 24.53 dB).",
    ),
    (
        "Inpainting",
        "experiments/figures/paper_inpaint-inpaint_case-library-comparison.png",
        "the library with large holes, and filled in",
        "The library, whose holes are large: every network beats biharmonic inpainting (14.78 dB).",
    ),
    (
        "Architectures",
        "experiments/figures/paper_architectures-summary_grid.png",
        "the library inpainted by four networks",
        "`paper_architectures_mini` (library, 1000 steps): encoder-decoder 18.49 dB > U-Net 18.07 > skip "
        "17.22 > ResNet 16.24, all above biharmonic 14.78 and all still rising at the last step. The paper "
        "ranks skip first, by eye, after 5000 steps or more: the ranking is not settled this early.",
    ),
    (
        "The effect of the prior",
        "experiments/figures/paper_prior_effect-summary_grid.png",
        "zebra x4 super-resolution with no prior, TV and the deep prior",
        "`paper_prior_effect_mini` (zebra x4, 1000 of 2000 steps): deep prior 25.09 dB > TV 23.47 > no prior "
        "16.33, the paper's order; both priors beat bicubic (21.49), and the pixels alone fit the observation "
        "with the aliasing the paper shows.",
    ),
    (
        "Flash / no-flash",
        "experiments/figures/paper_flash-comparison.png",
        "the no-flash photo, restored with the flash photo as input",
        "`paper_flash_mini` (200 steps, no ground truth): the network fed the flash photo and fitted to the "
        "noisy no-flash photo of the same scene.",
    ),
    (
        "Noise impedance",
        "experiments/figures/paper_noise_impedance-loss_curves.png",
        "loss curves of fitting an image, image with noise, shuffled pixels and noise",
        "The paper's fig. 2 (`paper_noise_impedance_mini`, 600 steps, no stopping rule): up to step 300 the "
        "paper's order holds, the image fitted fastest, then the image with noise, shuffled pixels and "
        "U(0, 1) noise; on a 128 px crop what has no structure is memorised within a few hundred steps, so "
        "the impedance shows as a delay, which is what early stopping uses.",
    ),
    (
        "Tiles and their seams",
        "experiments/benchmarks/tile_seams.png",
        "peppers restored whole and in 64 px tiles, with the tile grid and their difference",
        "`experiments/benchmarks/tile_seams.md`: a 160 x 96 crop (sigma 25) restored whole and in 64 px tiles "
        "with `tile_overlap=32`, the grid, and the difference between the two, four times enhanced. On the "
        "report half of the crops the tiled photo scores +0.35 dB above the whole fit, and the band around "
        "every tile border at most 0.15 dB below the whole fit on the same pixels.",
    ),
]


def png_bytes(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def flattened(picture: Image.Image) -> Image.Image:
    picture = picture.convert("RGBA")
    white = Image.new("RGBA", picture.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, picture).convert("RGB")


def small_png(picture: Image.Image, budget: int) -> bytes:
    """The picture as a PNG of at most `budget` bytes: as it is, else in 256 colours, else smaller."""
    data = png_bytes(picture)
    scale = 1.0
    while len(data) > budget:
        size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
        resized = picture if scale == 1.0 else picture.resize(size, Image.Resampling.LANCZOS)
        data = png_bytes(resized.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE))
        scale *= 0.9
    return data


def main() -> int:
    present = [entry for entry in PICTURES if (ROOT / entry[1]).is_file()]
    for _, source, _, _ in PICTURES:
        if not (ROOT / source).is_file():
            print(f"{source}: not there (make paper-mini makes it), left out")
    budget = min(MAX_FILE, MAX_TOTAL // max(1, len(present)))
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.png"):
        old.unlink()
    lines = [
        "# Gallery",
        "",
        "<!-- Written by docs/make_gallery.py from the pictures of experiments/: edit the script, not this page. -->",
        "",
        "Before and after, from the paper presets at mini scale (`make paper-mini`: the central 128 x 128 pixels,",
        "192 x 192 for the inpainting pictures, on 2 CPU cores; [Reproducing the paper](paper.md)) and from the",
        "benchmarks. Each comparison shows, left to right, the observation, the baseline where there is one, the",
        "restoration, its average and the ground truth where there is one, with their PSNR, under a title with",
        "the step and the run's status. The full-size pictures are in `experiments/figures/` and",
        "`experiments/benchmarks/`; `docs/make_gallery.py` makes this page from them.",
    ]
    section, total = None, 0
    for title, source, alt, caption in present:
        data = small_png(Image.open(ROOT / source), budget)
        name = Path(source).name
        (OUT / name).write_bytes(data)
        total += len(data)
        print(f"docs/gallery/{name}: {len(data) / 1000:.0f} KB")
        if title != section:
            lines += ["", f"## {title}"]
            section = title
        lines += ["", f"![{alt}](gallery/{name})", "", caption, "", f"Source: `{source}`."]
    PAGE.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(present)} pictures, {total / 1000:.0f} KB in all; {PAGE.relative_to(ROOT)} written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
