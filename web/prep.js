// What the page reads, ported from Python step by step so that the page and Python give the same
// answer: the pen's paths redrawn into MNIST's 20x20 box at MNIST's stroke width
// (effmnist_utils/use/redraw.py, `render`), and the rules that say a drawing is not one digit
// (use/verdict.py, on the pad's pixels as use/digits.py finds the ink). Python's is the reference:
// tests/test_web.py runs this file under node and in Chromium and compares fields and verdicts.
// Pixel arithmetic is rounded to float32 (Math.fround) where numpy computes in float32, so that a
// pixel on the ink threshold falls on the same side in both languages; the redrawing is float64
// in both. One difference is left: a figure whose centre of mass lies within float rounding of a
// half pixel (a perfectly symmetric one, as a program draws it, never a hand) may move one pixel apart.

// The constants of digits.py, redraw.py, verdict.py and data.py, and the limits recorded in
// results/deploy/thresholds/validation.json for f8a_seed1; tests/test_web.py checks they are equal.
export const BOX = 20, FIELD = 28, CENTRE = 14.0, INK = 0.2, MIN_CONTRAST = 0.1;
export const MEAN = 0.1307, STD = 0.3081;
export const PEN = 2.35, MIN_SIZE = 1 / 8, SIGNIFICANT = 0.05, TALL = 0.5;
export const CONFIDENCE = 0.821291602253914, MAX_INK = 0.2085861712694168;
export const MESSAGES = {
  small: "Too small to read: draw the digit larger (at least an eighth of the box's height).",
  marks: "That looks like more than one digit side by side: draw one digit.",
  ink: "Too much ink for one digit: a scribble? Clear the box and draw one digit.",
  unsure: "Not sure: this looks like none of the digits clearly enough.",
};

const f32 = Math.fround;

/** An image with nothing to read (blank or empty): the page shows its message, not a digit. */
export class BlankImage extends Error {}

/** RGBA bytes (a canvas's ImageData) -> grayscale in [0, 1]: the mean of R, G and B, as
 * digits.to_grayscale does for an H x W x 4 array (alpha is ignored: the pad is opaque). */
export function grayFromRGBA(rgba, width, height) {
  const gray = new Float32Array(width * height);
  for (let i = 0; i < gray.length; i++) {
    gray[i] = f32(f32((rgba[4 * i] + rgba[4 * i + 1] + rgba[4 * i + 2]) / 3) / 255);
  }
  return gray;
}

function border(x, w, h) {  // digits._border: top row, bottom row, then the sides between
  const out = [];
  for (let c = 0; c < w; c++) out.push(x[c]);
  for (let c = 0; c < w; c++) out.push(x[(h - 1) * w + c]);
  for (let r = 1; r < h - 1; r++) out.push(x[r * w]);
  for (let r = 1; r < h - 1; r++) out.push(x[r * w + w - 1]);
  return out;
}

function median(values) {  // np.median of float32 values: the mean of the middle two if even
  const s = Float32Array.from(values).sort();
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : f32(f32(s[n / 2 - 1] + s[n / 2]) / 2);
}

function roundHalfEven(x) {  // Python's round()
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Grayscale pixels in [0, 1] (row-major) -> the ink in [0, 1] (digits._ink: light or dark paper,
 * background taken off, faint pixels dropped). Throws BlankImage as digits raises ValueError. */
export function inkOf(gray, width, height) {
  if (Math.min(width, height) < 2) throw new BlankImage(`empty image: ${width}x${height} pixels`);
  const light = median(border(gray, width, height)) > 0.5;
  const ink = light ? gray.map((g) => f32(1 - g)) : Float32Array.from(gray);
  const background = median(border(ink, width, height));
  const top = ink.reduce((a, b) => Math.max(a, b), 0);
  if (top - background < MIN_CONTRAST) {
    throw new BlankImage("blank image: no ink stands out from the background " +
                         `(contrast ${(top - background).toFixed(2)}, at least ${MIN_CONTRAST} needed)`);
  }
  const range = f32(top - background);
  for (let i = 0; i < ink.length; i++) {
    const v = Math.min(Math.max(f32(f32(ink[i] - background) / range), 0), 1);
    ink[i] = v < f32(INK) ? 0 : v;  // paper texture, noise and shadows are not ink
  }
  return ink;
}

/** verdict.marks: the 8-connected marks of the ink, [pixels, top, bottom, left, right] each. */
function marks(ink, width, height) {
  const seen = new Uint8Array(ink.length), found = [];
  for (let start = 0; start < ink.length; start++) {
    if (!ink[start] || seen[start]) continue;
    seen[start] = 1;
    const queue = [start];
    let n = 0, top = height, bottom = -1, left = width, right = -1;
    while (n < queue.length) {
      const i = queue[n++], r = Math.floor(i / width), c = i % width;
      top = Math.min(top, r); bottom = Math.max(bottom, r); left = Math.min(left, c); right = Math.max(right, c);
      for (let rr = r - 1; rr <= r + 1; rr++) {
        for (let cc = c - 1; cc <= c + 1; cc++) {
          const j = rr * width + cc;
          if (rr >= 0 && rr < height && cc >= 0 && cc < width && ink[j] && !seen[j]) { seen[j] = 1; queue.push(j); }
        }
      }
    }
    found.push([n, top, bottom, left, right]);
  }
  return found;
}

function sideBySide(found) {  // verdict.side_by_side
  const total = found.reduce((a, m) => a + m[0], 0);
  const height = Math.max(...found.map((m) => m[2])) - Math.min(...found.map((m) => m[1])) + 1;
  const tall = found.filter((m) => m[0] >= SIGNIFICANT * total && m[2] - m[1] + 1 >= TALL * height)
    .sort((a, b) => a[3] - b[3]);
  let right = null;
  for (const m of tall) {
    if (right !== null && m[3] > right) return true;
    right = right === null ? m[4] : Math.max(right, m[4]);
  }
  return false;
}

/** verdict.look: "small" or "marks" when the ink is not one digit, else null. (Python first
 * reduces a crop larger than the 280-pixel pad; the pad never is.) */
export function look(ink, width, height) {
  let r0 = height, r1 = -1, c0 = width, c1 = -1;
  for (let i = 0; i < ink.length; i++) {
    if (!ink[i]) continue;
    const r = Math.floor(i / width), c = i % width;
    r0 = Math.min(r0, r); r1 = Math.max(r1, r); c0 = Math.min(c0, c); c1 = Math.max(c1, c);
  }
  if (Math.max(r1 - r0, c1 - c0) + 1 < MIN_SIZE * Math.min(width, height)) return "small";
  const w = c1 - c0 + 1, h = r1 - r0 + 1, crop = new Uint8Array(w * h);
  for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) crop[r * w + c] = ink[(r0 + r) * width + c0 + c] > 0;
  return sideBySide(marks(crop, w, h)) ? "marks" : null;
}

/** redraw.stroke_segments: strokes ([[x, y], ...] each; one point is a dot) -> [x0, y0, x1, y1]s. */
export function strokeSegments(strokes) {
  const out = [];
  for (const stroke of strokes) {
    if (!stroke.length) continue;
    const points = stroke.length === 1 ? [stroke[0], stroke[0]] : stroke;
    for (let k = 0; k + 1 < points.length; k++) out.push([...points[k], ...points[k + 1]]);
  }
  if (!out.length) throw new BlankImage("no strokes: nothing drawn");
  return out;
}

/** redraw.render: centre-line segments -> the 28x28 digit (Float32Array, row-major, in [0, 1]),
 * its ink's longer side BOX px, drawn with a round pen PEN px wide, centred by centre of mass. */
export function render(segments, pen = PEN) {
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const [ax, ay, bx, by] of segments) {
    x0 = Math.min(x0, ax, bx); x1 = Math.max(x1, ax, bx); y0 = Math.min(y0, ay, by); y1 = Math.max(y1, ay, by);
  }
  const extent = Math.max(x1 - x0, y1 - y0);
  const scale = extent > 0 ? (BOX - pen - 1) / extent : 0;
  const mx = (x0 + x1) / 2, my = (y0 + y1) / 2;
  const at = segments.map(([ax, ay, bx, by]) => [(ax - mx) * scale + FIELD / 2, (ay - my) * scale + FIELD / 2,
                                                 (bx - mx) * scale + FIELD / 2, (by - my) * scale + FIELD / 2]);
  const ink = new Float32Array(FIELD * FIELD);
  for (let r = 0; r < FIELD; r++) {
    for (let c = 0; c < FIELD; c++) {
      const px = c + 0.5, py = r + 0.5;
      let nearest = Infinity;
      for (const [ax, ay, bx, by] of at) {
        const abx = bx - ax, aby = by - ay, apx = px - ax, apy = py - ay;
        const length2 = abx * abx + aby * aby;
        const t = length2 > 0 ? Math.min(Math.max((apx * abx + apy * aby) / length2, 0), 1) : 0;
        const qx = apx - t * abx, qy = apy - t * aby;
        nearest = Math.min(nearest, qx * qx + qy * qy);
      }
      ink[r * FIELD + c] = Math.min(Math.max(pen / 2 + 0.5 - Math.sqrt(nearest), 0), 1);
    }
  }
  let total = 0, rows = 0, cols = 0, r0 = FIELD, r1 = -1, c0 = FIELD, c1 = -1;
  for (let r = 0; r < FIELD; r++) {
    for (let c = 0; c < FIELD; c++) {
      const v = ink[r * FIELD + c];
      if (!v) continue;
      total += v; rows += r * v; cols += c * v;
      r0 = Math.min(r0, r); r1 = Math.max(r1, r); c0 = Math.min(c0, c); c1 = Math.max(c1, c);
    }
  }
  const down = Math.min(Math.max(roundHalfEven(CENTRE - rows / total), -r0), FIELD - 1 - r1);
  const right = Math.min(Math.max(roundHalfEven(CENTRE - cols / total), -c0), FIELD - 1 - c1);
  const field = new Float32Array(FIELD * FIELD);
  for (let r = r0; r <= r1; r++) {
    for (let c = c0; c <= c1; c++) field[(r + down) * FIELD + c + right] = ink[r * FIELD + c];
  }
  return field;
}

/** The field standardised as in training ((x - MEAN) / STD), the model's input. */
export function normalise(field) {
  return field.map((v) => f32(f32(v - MEAN) / STD));
}

/** The field's mean ink, compared with MAX_INK. */
export function meanInk(field) {
  return field.reduce((a, b) => a + b, 0) / field.length;
}
