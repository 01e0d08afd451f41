"""Measure which preparation of a drawn digit matches MNIST's strokes: MNIST's own steps (scale the
pixels into the 20x20 box), thinning the ink and redrawing its centre-lines at MNIST's stroke
width, or redrawing the pen's paths (`use.redraw`). Prints, for the validation split's digits
(training images held out; never the test set), their stroke width (ink over skeleton length,
`redraw.stroke_width`) and mean ink per pixel; then, for the browser test's pen paths drawn on the
280-pixel pad from a quarter of its height to all of it with two pens, the same statistics of
each preparation and how many of the ten digits f8a reads right; then what thinning costs on
MNIST-like drawings (validation digits drawn large: digits read right, each way).

Usage: .venv/bin/python tools/stroke_stats.py [--images 1000]    (about a minute on a CPU)
"""
import argparse

import numpy as np
import torch
from PIL import Image, ImageDraw

from effmnist_utils.core.config import RUNS_DIR
from effmnist_utils.core.data import load_mnist
from effmnist_utils.core.loaders import validation_split
from effmnist_utils.core.record import load_run
from effmnist_utils.use import digits, redraw
from effmnist_utils.use.browser import DIGIT_STROKES
from effmnist_utils.use.verdict import top_k

PAD, HEIGHTS, PENS = 280, (70, 105, 140, 210, 280), (12, 22)


def on_pad(strokes, height):
    """The unit-square paths scaled to `height` pad pixels, centred on the pad."""
    at = (PAD - height) / 2
    return [[(at + x * height, at + y * height) for x, y in stroke] for stroke in strokes]


def drawn(strokes, pen):
    """Black strokes on a white pad, drawn with PIL with round caps and joints."""
    img = Image.new("L", (PAD, PAD), 255)
    draw = ImageDraw.Draw(img)
    for stroke in strokes:
        draw.line(stroke if len(stroke) > 1 else stroke * 2, fill=0, width=pen, joint="curve")
        for x, y in (stroke[0], stroke[-1]):
            draw.ellipse([x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2], fill=0)
    return np.asarray(img)


def thinned(image):
    """Thin the ink and redraw its centre-lines at MNIST's stroke width."""
    ink = digits.ink_of(image)
    rows, cols = np.nonzero(ink)
    crop = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1] > 0
    return redraw.render(redraw.skeleton_segments(redraw.skeleton(crop)))


WAYS = {"MNIST's steps": lambda s, pen: digits.prepare_steps(drawn(s, pen))[-1][1],
        "thin, redraw": lambda s, pen: thinned(drawn(s, pen)),
        "redraw paths": lambda s, pen: redraw.redraw_strokes(s)}


def read(model, fields):
    x = torch.stack([digits.as_input(f)[0] for f in fields])
    return [best[0][0] for best in top_k(model, x)]


def summary(values):
    q = np.quantile(values, [0.25, 0.5, 0.75])
    return f"median {q[1]:.2f} (quartiles {q[0]:.2f}-{q[2]:.2f})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000, help="validation digits drawn large, for the cost")
    args = parser.parse_args()
    model = load_run(RUNS_DIR / "f8a_seed1.json")[0]
    (train_x, train_y), _, _ = load_mnist()
    (images, labels), _ = validation_split(train_x, train_y, 5000)
    mnist = images.numpy().astype(np.float32) / 255
    print(f"MNIST validation digits ({len(mnist)}): stroke width {summary([redraw.stroke_width(f) for f in mnist])} px, "
          f"ink per pixel {summary(mnist.mean(axis=(1, 2)))}")
    print(f"redrawn at PEN = {redraw.PEN}; pads of {PAD} px; the test's paths for 0-9")
    for pen in PENS:
        for height in HEIGHTS:
            cells = []
            for way, prepare in WAYS.items():
                fields = [prepare(on_pad(DIGIT_STROKES[d], height), pen) for d in range(10)]
                right = sum(d == got for d, got in enumerate(read(model, fields)))
                widths = [redraw.stroke_width(f) for f in fields]
                cells.append(f"{way}: {right}/10 right, width {np.median(widths):.2f}, ink {np.mean(fields):.3f}")
            print(f"pen {pen:2d} px, digit {height:3d} px tall | " + " | ".join(cells))
    n = args.images
    large = [digits.as_drawing(image) for image in images[:n]]
    for way, prepare in (("MNIST's steps", lambda p: digits.prepare_steps(p)[-1][1]), ("thin, redraw", thinned)):
        right = (np.array(read(model, [prepare(p) for p in large])) == labels[:n].numpy()).mean()
        print(f"{n} validation digits drawn large (digits.as_drawing), {way}: {right:.1%} read right")


if __name__ == "__main__":
    main()
