// The page: the pen's paths redrawn like MNIST's digits (prep.js, the port of redraw.py), read by
// the int8 model in ONNX Runtime Web, top 3 beside it; or, when the drawing is not one digit or
// the model is not sure, a message instead (the rules of verdict.py). Everything is fetched from
// this folder by relative paths, so the page works from any static server, offline.
import { BlankImage, CONFIDENCE, MAX_INK, MESSAGES, grayFromRGBA, inkOf, look, meanInk, normalise, render,
         strokeSegments } from "./prep.js";

const MODEL = "f8a_seed1.int8.onnx";  // `python -m effmnist_utils export ... --int8` writes it
// ONNX Runtime Web's smallest build that runs the model: 1.18's core (no proxy worker, no threads)
// and its plain WebAssembly (no SIMD, no threads), installed by `npm ci --prefix web`.
const RUNTIME = "node_modules/onnxruntime-web/dist/ort.wasm-core.min.js";
const DRAW = "Draw one digit across most of the box: mouse, pen or finger.";

// What the browser test reads: the last answer, the drawing it answered, timings (ms since the
// page was opened: the runtime loaded, the model loaded, ready to answer after a first run).
const state = globalThis.digitPage = {
  status: "loading", drawn: 0, answered: 0, answer: null, model: MODEL, modelBytes: 0,
  timings: { runtimeMs: null, modelMs: null, readyMs: null, predictMs: [] },
};
let ort = null, session = null, busy = false;

document.getElementById("boot").remove();
const ui = DigitUI.build(document.getElementById("app"), { onChange: changed, page: true });
ui.say("Loading the model…");
start();

function script(src) {  // the runtime is a classic script: it defines globalThis.ort
  return new Promise((resolve, reject) => {
    const tag = document.createElement("script");
    tag.src = src;
    tag.onload = resolve;
    tag.onerror = () => reject(new Error(`${src} did not load`));
    document.head.appendChild(tag);
  });
}

async function start() {
  try {
    await script(RUNTIME);
    ort = globalThis.ort;
    state.timings.runtimeMs = performance.now();
  } catch (error) {
    return fail(`ONNX Runtime Web is missing (${RUNTIME}): install it with \`npm ci --prefix web\`, ` +
                "then start the page with `python -m effmnist_utils serve`.");
  }
  try {
    const response = await fetch(MODEL);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    ort.env.wasm.numThreads = 1;  // no worker threads: no cross-origin isolation needed (GitHub Pages has none)
    ort.env.wasm.simd = false;  // the plain build: the smallest download, and fast enough for 7.6K parameters
    session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
    state.modelBytes = bytes.length;
    state.timings.modelMs = performance.now();
    await session.run({ image: new ort.Tensor("float32", new Float32Array(784), [1, 1, 28, 28]) });
  } catch (error) {
    return fail(`The model ${MODEL} could not be loaded (${error.message || error}). ` +
                "Export it with `python -m effmnist_utils export results/runs/f8a_seed1.json --int8` " +
                "and copy the .int8.onnx file here.");
  }
  state.timings.readyMs = performance.now();
  state.status = "ready";
  document.getElementById("about-model").textContent =
    `${MODEL}, ${state.modelBytes.toLocaleString("en")} bytes, in ONNX Runtime Web (WebAssembly)`;
  answer();
}

function fail(text) {
  state.status = "error";
  ui.show({ message: text });
}

function changed() {
  state.drawn += 1;
  answer();
}

// One prediction at a time; a drawing that changes meanwhile is answered right after.
async function answer() {
  if (!session || busy) return;
  busy = true;
  try {
    while (state.answered !== state.drawn || !state.answer) {
      const drawn = state.drawn;
      state.answer = await predict();
      ui.show(state.answer);
      state.answered = drawn;
    }
  } finally {
    busy = false;
  }
}

// The pad's pixels say whether there is one digit's worth of ink (verdict.look); the paths,
// redrawn, are what the model reads; its top probability says whether it is sure. Notebook 09's
// pad reads a drawing the same way (drawpad.read_drawing), and the browser test holds the two alike.
async function predict() {
  if (ui.isEmpty()) return { message: DRAW };
  const start = performance.now();
  const { data, width, height } = ui.pixels();
  let ink;
  try {
    ink = inkOf(grayFromRGBA(data, width, height), width, height);
  } catch (error) {
    if (error instanceof BlankImage) return { message: `Nothing to read (${error.message}). ${DRAW}` };
    throw error;
  }
  const strokes = ui.strokes();
  const field = render(strokeSegments(strokes));
  let reason = look(ink, width, height), top3 = null, logProbs = null;
  if (!reason && meanInk(field) > MAX_INK) reason = "ink";
  if (!reason) {
    const input = new ort.Tensor("float32", normalise(field), [1, 1, 28, 28]);
    logProbs = Array.from((await session.run({ image: input })).log_probs.data);
    top3 = logProbs.map((lp, digit) => [digit, Math.exp(lp)]).sort((a, b) => b[1] - a[1]).slice(0, 3);
    if (top3[0][1] < CONFIDENCE) reason = "unsure";
  }
  const ms = performance.now() - start;
  state.timings.predictMs.push(ms);
  return { reason, message: reason ? MESSAGES[reason] : "", top3, logProbs, field: Array.from(field), strokes, ms };
}
