// The MNIST preparation of effmnist_utils/digits.py (`prepare_steps`), ported step by step so
// that the page feeds the model the same 28x28 field as Python does. Python's is the reference:
// tests/test_web.py runs this file under node on test images and in Chromium on drawn ones, and
// compares each 28x28 field with Python's from the same pixels.
// Arithmetic is rounded to float32 (Math.fround) where numpy and torch compute in float32, so
// that a pixel on the ink threshold falls on the same side in both languages. One difference is
// left: a figure whose centre of mass lies within float rounding of a half pixel (a perfectly
// symmetric one, as a program draws it, never a hand) may be pasted one pixel apart.

// The constants of digits.py and data.py; tests/test_web.py checks that they are equal.
export const BOX = 20, FIELD = 28, CENTRE = 14.0, INK = 0.2, MIN_CONTRAST = 0.1;
export const MEAN = 0.1307, STD = 0.3081;

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

// torch's antialiased bilinear resize (F.interpolate(mode="bilinear", antialias=True,
// align_corners=False)) along one axis: a triangle filter whose support widens with the
// downscale factor, weights normalised per output pixel (ATen's UpSampleKernel.cpp, float32).
function axisWeights(inSize, outSize) {
  const scale = f32(inSize / outSize);
  const support = scale >= 1 ? scale : 1;
  const invscale = scale >= 1 ? f32(1 / scale) : 1;
  const maxSize = Math.ceil(support) * 2 + 1;
  const taps = [];
  for (let i = 0; i < outSize; i++) {
    const center = f32(scale * (i + 0.5));
    const xmin = Math.max(Math.trunc(f32(center - support) + 0.5), 0);
    let size = Math.min(Math.trunc(f32(center + support) + 0.5), inSize) - xmin;
    size = Math.min(Math.max(size, 0), maxSize);
    const w = new Float32Array(size);
    let total = 0;
    for (let j = 0; j < size; j++) {
      const t = Math.abs(f32((f32(f32(j + xmin) - center) + 0.5) * invscale));
      w[j] = t < 1 ? f32(1 - t) : 0;
      total = f32(total + w[j]);
    }
    if (total !== 0) for (let j = 0; j < size; j++) w[j] = f32(w[j] / total);
    taps.push({ xmin, w });
  }
  return taps;
}

function resizeAxis(src, h, w, outSize, horizontal) {  // one pass; the other axis is unchanged
  const taps = axisWeights(horizontal ? w : h, outSize);
  const oh = horizontal ? h : outSize, ow = horizontal ? outSize : w;
  const out = new Float32Array(oh * ow);
  for (let r = 0; r < oh; r++) {
    for (let c = 0; c < ow; c++) {
      const { xmin, w: wt } = taps[horizontal ? c : r];
      let acc = 0;
      for (let j = 0; j < wt.length; j++) {
        const v = horizontal ? src[r * w + xmin + j] : src[(xmin + j) * w + c];
        acc = f32(acc + f32(v * wt[j]));
      }
      out[r * ow + c] = acc;
    }
  }
  return out;
}

function scaleToBox(crop, h, w) {  // digits._scale_to_box: longer side BOX px, aspect kept
  const oh = Math.max(1, roundHalfEven(BOX * h / Math.max(h, w)));
  const ow = Math.max(1, roundHalfEven(BOX * w / Math.max(h, w)));
  let out = crop;
  if (ow !== w) out = resizeAxis(out, h, w, ow, true);  // torch: the width first, then the height
  if (oh !== h) out = resizeAxis(out, h, ow, oh, false);
  out = out.map((v) => Math.min(Math.max(v, 0), 1));
  const top = out.reduce((a, b) => Math.max(a, b), 0);
  return { box: top > 0 ? out.map((v) => f32(v / top)) : out, h: oh, w: ow };
}

function pasteCentred(box, h, w) {  // digits._paste_centred: centre of mass on CENTRE
  let total = 0, rows = 0, cols = 0;
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      const v = box[r * w + c];
      total += v; rows += r * v; cols += c * v;
    }
  }
  const top = Math.min(Math.max(roundHalfEven(CENTRE - rows / total), 0), FIELD - h);
  const left = Math.min(Math.max(roundHalfEven(CENTRE - cols / total), 0), FIELD - w);
  const field = new Float32Array(FIELD * FIELD);
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) field[(top + r) * FIELD + left + c] = box[r * w + c];
  }
  return field;
}

/** Grayscale pixels in [0, 1] (row-major, width x height) -> {field: the 28x28 digit as MNIST's
 * were made (Float32Array, row-major, in [0, 1]), light, crop: [w, h], box: [w, h]}.
 * Throws BlankImage when no ink stands out, as prepare_steps raises ValueError. */
export function prepare(gray, width, height) {
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
  let r0 = height, r1 = -1, c0 = width, c1 = -1;
  for (let r = 0; r < height; r++) {
    for (let c = 0; c < width; c++) {
      const i = r * width + c;
      let v = Math.min(Math.max(f32(f32(ink[i] - background) / range), 0), 1);
      if (v < f32(INK)) v = 0;  // paper texture, noise and shadows are not ink
      ink[i] = v;
      if (v > 0) { r0 = Math.min(r0, r); r1 = Math.max(r1, r); c0 = Math.min(c0, c); c1 = Math.max(c1, c); }
    }
  }
  const ch = r1 - r0 + 1, cw = c1 - c0 + 1;
  const crop = new Float32Array(ch * cw);
  for (let r = 0; r < ch; r++) crop.set(ink.subarray((r0 + r) * width + c0, (r0 + r) * width + c1 + 1), r * cw);
  const { box, h, w } = scaleToBox(crop, ch, cw);
  return { field: pasteCentred(box, h, w), light, crop: [cw, ch], box: [w, h] };
}

/** The field standardised as in training ((x - MEAN) / STD), the model's input. */
export function normalise(field) {
  return field.map((v) => f32(f32(v - MEAN) / STD));
}
