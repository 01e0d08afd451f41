// The page: what you draw, prepared like MNIST's digits (prep.js, the port of digits.py), read by
// the int8 model in ONNX Runtime Web, top 3 beside it. Everything is fetched from this folder by
// relative paths, so the page works from any static server, offline.
import { BlankImage, grayFromRGBA, normalise, prepare } from "./prep.js";

const MODEL = "f8a_seed1.int8.onnx";  // `python -m effmnist_utils export ... --int8` writes it
const RUNTIME = "./node_modules/onnxruntime-web/dist/ort.wasm.bundle.min.mjs";  // npm ci --prefix web
const DRAW = "Draw one digit across most of the box: mouse, pen or finger.";

// What the browser test reads: the last answer, the drawing it answered, timings (ms).
const state = globalThis.digitPage = {
  status: "loading", drawn: 0, answered: 0, answer: null, model: MODEL, modelBytes: 0,
  timings: { readyMs: null, predictMs: [] },
};
let ort = null, session = null, busy = false;

document.getElementById("boot").remove();
const ui = DigitUI.build(document.getElementById("app"), { onChange: changed });
ui.say("Loading the model…");
start();

async function start() {
  try {
    ort = await import(RUNTIME);
  } catch (error) {
    return fail(`ONNX Runtime Web is missing (${RUNTIME}): install it with \`npm ci --prefix web\`, ` +
                "then start the page with `python -m effmnist_utils serve`.");
  }
  try {
    const response = await fetch(MODEL);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    ort.env.wasm.numThreads = 1;  // no cross-origin isolation needed (GitHub Pages has none)
    session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
    state.modelBytes = bytes.length;
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

async function predict() {
  if (ui.isEmpty()) return { message: DRAW };
  const start = performance.now();
  const { data, width, height } = ui.pixels();
  let prepared;
  try {
    prepared = prepare(grayFromRGBA(data, width, height), width, height);
  } catch (error) {
    if (error instanceof BlankImage) return { message: `Nothing to read (${error.message}). ${DRAW}` };
    throw error;
  }
  const input = new ort.Tensor("float32", normalise(prepared.field), [1, 1, 28, 28]);
  const logProbs = Array.from((await session.run({ image: input })).log_probs.data);
  const top3 = logProbs.map((lp, digit) => [digit, Math.exp(lp)])
    .sort((a, b) => b[1] - a[1]).slice(0, 3);
  state.timings.predictMs.push(performance.now() - start);
  return { top3, field: Array.from(prepared.field), logProbs };
}
