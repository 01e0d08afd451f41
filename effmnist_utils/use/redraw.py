"""A drawing redrawn into MNIST's 20x20 box at MNIST's stroke width, whatever size it was drawn.

MNIST's digits have strokes about 2.6 px wide in their 20x20 box whether the writer wrote large or
small. A drawing scaled into that box keeps its pen instead: a digit drawn small with a thick pen
comes out as a blob with its holes closed. Where the strokes are known as paths (the web page and
notebook 09's pad record them), `render` draws their centre-lines again, scaled into the box, with
a pen of MNIST's width (`PEN`); the result does not depend on the size drawn. Where only pixels
are known, `skeleton` thins the ink to centre-lines first (Zhang and Suen's thinning), which a
drawing with closed holes cannot survive: tools/stroke_stats.py measures both against MNIST.

web/prep.js ports `render` step by step; tests/test_web.py holds the two equal.
"""
from __future__ import annotations

import numpy as np

from .digits import BOX, CENTRE, FIELD

# The pen, in the 28x28 field's pixels: ink mass per unit of centre-line. Chosen so that the
# digits redrawn from the browser test's pen paths have MNIST's median stroke width (ink over
# skeleton length, `stroke_width`), which tests/test_web.py checks against the validation digits.
PEN = 2.35


def stroke_segments(strokes) -> np.ndarray:
    """Strokes (each a list of (x, y) points, any units; one point is a dot) -> N x 4 segments
    (x0, y0, x1, y1), float64."""
    out = []
    for stroke in strokes:
        points = np.asarray(stroke, dtype=np.float64).reshape(-1, 2)
        if len(points) == 0:
            continue
        if len(points) == 1:
            points = np.concatenate([points, points])
        out.append(np.concatenate([points[:-1], points[1:]], axis=1))
    if not out:
        raise ValueError("no strokes: nothing drawn")
    return np.concatenate(out)


def skeleton(mask: np.ndarray) -> np.ndarray:
    """The centre-lines (one pixel wide) of a boolean ink mask: Zhang and Suen's thinning (1984)."""
    img = np.pad(np.asarray(mask, dtype=bool), 1).astype(np.uint8)
    while True:
        changed = False
        for step in (0, 1):
            p2, p3, p4, p5 = img[:-2, 1:-1], img[:-2, 2:], img[1:-1, 2:], img[2:, 2:]
            p6, p7, p8, p9 = img[2:, 1:-1], img[2:, :-2], img[1:-1, :-2], img[:-2, :-2]
            ring = [p2, p3, p4, p5, p6, p7, p8, p9, p2]
            neighbours = sum(p.astype(np.int16) for p in ring[:8])
            turns = sum(((a == 0) & (b == 1)).astype(np.int16) for a, b in zip(ring, ring[1:]))
            if step == 0:
                side = ((p2 & p4 & p6) == 0) & ((p4 & p6 & p8) == 0)
            else:
                side = ((p2 & p4 & p8) == 0) & ((p2 & p6 & p8) == 0)
            remove = (img[1:-1, 1:-1] == 1) & (neighbours >= 2) & (neighbours <= 6) & (turns == 1) & side
            if remove.any():
                img[1:-1, 1:-1][remove] = 0
                changed = True
        if not changed:
            return img[1:-1, 1:-1].astype(bool)


def skeleton_segments(skel: np.ndarray) -> np.ndarray:
    """A one-pixel-wide skeleton -> segments between neighbouring pixels' centres (and a dot for
    each pixel), in pixel units with (0, 0) the top-left corner of the image."""
    rows, cols = np.nonzero(skel)
    if len(rows) == 0:
        raise ValueError("no ink to thin")
    h, w = skel.shape
    out = [np.stack([cols, rows, cols, rows], axis=1)]
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        r, c = rows + dr, cols + dc
        inside = (r < h) & (c >= 0) & (c < w)
        linked = np.zeros_like(inside)
        linked[inside] = skel[r[inside], c[inside]]
        out.append(np.stack([cols[linked], rows[linked], c[linked], r[linked]], axis=1))
    return np.concatenate(out).astype(np.float64) + 0.5


def _distances(segments: np.ndarray) -> np.ndarray:
    """Each field pixel's centre's distance to the nearest segment, FIELD x FIELD, float64."""
    rows, cols = np.indices((FIELD, FIELD))
    p = np.stack([cols.ravel() + 0.5, rows.ravel() + 0.5], axis=1)[:, None, :]
    nearest = np.full(FIELD * FIELD, np.inf)
    for k in range(0, len(segments), 256):  # in chunks: a skeleton has thousands of segments
        a, b = segments[k:k + 256, :2][None], segments[k:k + 256, 2:][None]
        ab = b - a
        length2 = ab[..., 0] * ab[..., 0] + ab[..., 1] * ab[..., 1]
        ap = p - a
        along = ap[..., 0] * ab[..., 0] + ap[..., 1] * ab[..., 1]
        t = np.clip(np.divide(along, length2, out=np.zeros_like(along), where=length2 > 0), 0.0, 1.0)
        qx, qy = ap[..., 0] - t * ab[..., 0], ap[..., 1] - t * ab[..., 1]
        nearest = np.minimum(nearest, (qx * qx + qy * qy).min(axis=1))
    return np.sqrt(nearest).reshape(FIELD, FIELD)


def render(segments: np.ndarray, pen: float = PEN) -> np.ndarray:
    """Centre-line segments (N x 4, any units) -> the 28x28 digit, float32 in [0, 1]: scaled (aspect
    kept) so that the ink's longer side is BOX px, drawn with a round pen `pen` px wide (a pixel's
    ink: pen / 2 + 0.5 minus its centre's distance to the nearest centre-line, clipped to [0, 1]),
    then moved by whole pixels so that its centre of mass is nearest CENTRE, never cut."""
    xs, ys = segments[:, 0::2], segments[:, 1::2]
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    extent = max(x1 - x0, y1 - y0)
    scale = (BOX - pen - 1) / extent if extent > 0 else 0.0  # + pen + 1: the ink's edge, both sides
    at = np.empty_like(segments)
    at[:, 0::2] = (xs - (x0 + x1) / 2) * scale + FIELD / 2
    at[:, 1::2] = (ys - (y0 + y1) / 2) * scale + FIELD / 2
    ink = np.clip(pen / 2 + 0.5 - _distances(at), 0.0, 1.0).astype(np.float32)
    rows, cols = np.nonzero(ink)
    r, c = np.indices(ink.shape)
    total = float(ink.sum(dtype=np.float64))
    com = (float((r * ink).sum(dtype=np.float64)) / total, float((c * ink).sum(dtype=np.float64)) / total)
    down = int(np.clip(round(CENTRE - com[0]), -rows.min(), FIELD - 1 - rows.max()))
    right = int(np.clip(round(CENTRE - com[1]), -cols.min(), FIELD - 1 - cols.max()))
    field = np.zeros_like(ink)
    field[rows + down, cols + right] = ink[rows, cols]
    return field


def redraw_strokes(strokes, pen: float = PEN) -> np.ndarray:
    """Strokes as drawn (lists of (x, y) points, any size) -> the 28x28 digit (`render`)."""
    return render(stroke_segments(strokes), pen)


def stroke_width(field: np.ndarray, level: float = 0.5) -> float:
    """A digit's stroke width in pixels: its ink over the length of its centre-lines (the skeleton,
    in pixels, of the ink above `level`). The same estimate for MNIST's digits and ours."""
    return float(field.sum(dtype=np.float64)) / max(1, int(skeleton(field >= level).sum()))
