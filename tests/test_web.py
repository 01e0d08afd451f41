"""The draw-a-digit page (web/) and notebook 09's drawing pad (`drawpad`).

Python's preparation (`digits`) is the reference: the JavaScript port (web/prep.js) is checked
against it under node and in headless Chromium, where strokes are drawn with pointer events and
the answer is read off the page. Without node, Chromium, its driver, selenium or ONNX Runtime Web
these tests skip, naming what is missing; with EFFMNIST_REQUIRE_BROWSER=1 (CI) they fail instead.
"""
import base64
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image, ImageDraw

from effmnist_utils.use import digits, drawpad, web
from effmnist_utils.use.browser import DIGIT_STROKES, BrowserMissing, Chromium, find_chromium
from effmnist_utils.core.config import RUNS_DIR
from effmnist_utils.core.data import MEAN, STD
from effmnist_utils.use.deploy import load_run, top_k

RUN = RUNS_DIR / "f8a_seed1.json"  # recorded: read only
TOLERANCE = 1e-6  # JavaScript's 28x28 field against Python's, per pixel (the range is [0, 1])
REQUIRED = os.environ.get("EFFMNIST_REQUIRE_BROWSER") == "1"
CENTRED, LARGE, SMALL = (40, 40, 200, 200), (25, 25, 230, 230), (70, 70, 140, 140)  # pad pixels
OFF_CENTRE, CORNER = (150, 140, 120, 130), (4, 4, 90, 100)


def missing(reason):
    if REQUIRED:
        pytest.fail(f"{reason} (EFFMNIST_REQUIRE_BROWSER=1: this run must not skip the browser tests)")
    pytest.skip(reason)


def render(strokes, size=(280, 280), box=CENTRED, pen=22, paper=255, ink=0):
    """Strokes (unit-square paths) drawn with PIL: a drawing made without a browser."""
    img = Image.new("L", size, paper)
    draw = ImageDraw.Draw(img)
    left, top, width, height = box
    for stroke in strokes:
        draw.line([(left + x * width, top + y * height) for x, y in stroke], fill=ink, width=pen,
                  joint="curve")
    return np.asarray(img)


def data_url(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="module")
def f8a():
    return load_run(RUN)[0]


def python_answer(model, image):
    """(the 28x28 field, the top digit) of Python's `predict` path for one image."""
    return digits.prepare_steps(image)[-1][1], top_k(model, digits.prepare_digit(image))[0][0][0]


# --- the JavaScript preparation under node -----------------------------------------------------

NODE_PREPARE = """
import * as prep from %s;
let text = "";
process.stdin.on("data", (d) => { text += d; });
process.stdin.on("end", () => {
  const out = JSON.parse(text).map(({ width, height, gray }) => {
    try {
      const r = prep.prepare(Float32Array.from(gray), width, height);
      return { field: Array.from(r.field), crop: r.crop, box: r.box };
    } catch (e) {
      if (e instanceof prep.BlankImage) return { blank: e.message };
      throw e;
    }
  });
  const { BOX, FIELD, CENTRE, INK, MIN_CONTRAST, MEAN, STD } = prep;
  process.stdout.write(JSON.stringify({ out, constants: { BOX, FIELD, CENTRE, INK, MIN_CONTRAST, MEAN, STD } }));
});
"""


def node_prepare(images: dict) -> dict:
    node = shutil.which("node")
    if node is None:
        missing("node is not installed: apt-get install nodejs")
    payload = [{"width": int(v.shape[1]), "height": int(v.shape[0]), "gray": digits.to_grayscale(v).ravel().tolist()}
               for v in images.values()]
    script = NODE_PREPARE % json.dumps((web.WEB_DIR / "prep.js").as_uri())
    result = subprocess.run([node, "--input-type=module", "-e", script], input=json.dumps(payload),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    return dict(zip(images, answer["out"])) | {"constants": answer["constants"]}


def sample_images(mnist):
    """Light and dark paper, off-centre, thin and thick strokes, a corner digit, a tiny one (scaled
    up), a photo-like grey page with noise, a page that is not square, a raw MNIST digit, a box
    whose scaled width is a tie for rounding, and an empty canvas."""
    _, (test_x, _), _ = mnist
    noise = np.random.default_rng(0).normal(0, 12, (280, 280))
    bar = np.full((280, 280), 255, np.uint8)
    bar[100:140, 90:96] = bar[134:140, 90:115] = 0  # an L of 25x40 px: 12.5 px wide once scaled,
    # which Python rounds to 12
    return {
        "light paper": digits.as_drawing(test_x[0]),
        "dark paper": 255 - digits.as_drawing(test_x[1], at=(40, 30)),
        "off-centre": render(DIGIT_STROKES[3], box=OFF_CENTRE),
        "thin strokes": render(DIGIT_STROKES[5], pen=2),
        "thick strokes": render(DIGIT_STROKES[8], pen=45),
        "corner digit": render(DIGIT_STROKES[7], box=(2, 2, 58, 68), pen=8),
        "tiny digit": render(DIGIT_STROKES[2], box=(200, 200, 15, 18), pen=3),
        "grey noisy paper": np.clip(render(DIGIT_STROKES[4], paper=200, ink=60) + noise, 0, 255).astype(np.uint8),
        "not square": render(DIGIT_STROKES[6], size=(300, 180), box=(100, 20, 80, 150), pen=14),
        "raw MNIST digit": test_x[2].numpy(),
        "an L 12.5 px wide": bar,
        "empty canvas": np.full((280, 280), 255, np.uint8),
    }


def test_javascript_preparation_equals_python(mnist):
    """prep.js gives Python's 28x28 field within TOLERANCE (and the same crop and box sizes) on
    every test image, and calls the empty canvas blank as Python does; its constants are digits'
    and data's."""
    images = sample_images(mnist)
    js = node_prepare(images)
    assert js.pop("constants") == {"BOX": digits.BOX, "FIELD": digits.FIELD, "CENTRE": digits.CENTRE,
                                   "INK": digits.INK, "MIN_CONTRAST": digits.MIN_CONTRAST, "MEAN": MEAN, "STD": STD}
    for name, image in images.items():
        if name == "empty canvas":
            with pytest.raises(ValueError, match="blank") as python:
                digits.prepare_steps(image)
            assert js[name] == {"blank": str(python.value)}
            continue
        steps = digits.prepare_steps(image)
        assert "blank" not in js[name], (name, js[name])
        assert js[name]["crop"] == list(steps[2][1].shape[::-1]) and js[name]["box"] == list(steps[3][1].shape[::-1]), name
        difference = np.abs(np.array(js[name]["field"], np.float32).reshape(28, 28) - steps[-1][1]).max()
        assert difference <= TOLERANCE, (name, difference)


# --- the page in headless Chromium ------------------------------------------------------------

@pytest.fixture(scope="module")
def chromium():
    try:
        find_chromium()
    except BrowserMissing as exc:
        missing(str(exc))
    with Chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def server():
    """web/ served on a free localhost port."""
    try:
        web.check(web.WEB_DIR)
    except web.WebError as exc:
        missing(str(exc))
    with web.serving(web.WEB_DIR) as server:
        yield server


@pytest.fixture
def page(chromium, server):
    """The page open and ready in Chromium (opened again if a test went elsewhere): (browser, server)."""
    if chromium.driver.current_url != web.url(server):
        chromium.requests()  # forget what other pages asked for
        state = chromium.open(web.url(server))
        assert state["status"] == "ready", state
    return chromium, server


@pytest.fixture(scope="module")
def int8():
    ort = pytest.importorskip("onnxruntime")
    return ort.InferenceSession(str(web.WEB_DIR / web.MODEL_FILE), providers=["CPUExecutionProvider"])


def drawn(browser, digit, box=CENTRED, pointer="mouse"):
    """Clear the pad, draw `digit`, wait for the answer: (page state, RGBA pixels of the pad)."""
    browser.click(".clear")
    browser.draw(DIGIT_STROKES[digit], box, pointer)
    return browser.answered(), browser.pad_pixels()


def check_like_python(browser, state, pixels, f8a, int8, digit):
    """The page's field is Python's, it shows that field, and its top digit is Python's and `digit`;
    its int8 probabilities are those of ONNX Runtime in Python on the same field."""
    answer = state["answer"]
    field, python_digit = python_answer(f8a, pixels)
    page_field = np.array(answer["field"], np.float32).reshape(28, 28)
    assert np.abs(page_field - field).max() <= TOLERANCE
    shown = browser.shown()
    assert (shown["field"] == np.round(page_field * 255)).all() and (shown["opaque"] == 255).all()
    assert [d for d, _ in shown["top3"]] == [d for d, _ in answer["top3"]] and shown["message"] == ""
    assert answer["top3"][0][0] == python_digit == digit
    x = ((page_field - np.float32(MEAN)) / np.float32(STD)).reshape(1, 1, 28, 28)
    python_probs = np.exp(int8.run(None, {"image": x})[0][0])
    assert np.abs(np.exp(answer["logProbs"]) - python_probs).max() < 1e-3


@pytest.mark.slow
def test_the_page_reads_every_digit_as_python_does(page, f8a, int8):
    """Each digit drawn on the page with a mouse: the 28x28 field Python makes from the same
    canvas pixels (within TOLERANCE), shown beside the pad, and Python's digit, which is the one
    drawn (not "always 8"); the page asks nothing of any server but its own."""
    browser, server = page
    for digit in range(10):
        check_like_python(browser, *drawn(browser, digit), f8a, int8, digit)
    origin = web.url(server)
    assert all(url.startswith(origin) for url in browser.requests()), browser.requests()
    assert {f"/{web.MODEL_FILE}", f"/{web.RUNTIME_DIR}/{web.RUNTIME_FILES[1]}"} <= set(server.requests)


@pytest.mark.slow
@pytest.mark.parametrize("where", ["off-centre", "corner"])
def test_off_centre_and_corner_digits_are_read(page, f8a, int8, where):
    """A digit drawn away from the middle, or small in a corner, is read as the digit."""
    browser, _ = page
    for digit in (2, 3, 7):
        check_like_python(browser, *drawn(browser, digit, OFF_CENTRE if where == "off-centre" else CORNER),
                          f8a, int8, digit)


@pytest.mark.slow
def test_touch_strokes_draw_too(page, f8a, int8):
    """A finger (touch pointer events) draws like a mouse."""
    browser, _ = page
    check_like_python(browser, *drawn(browser, 4, pointer="touch"), f8a, int8, 4)


@pytest.mark.slow
def test_an_empty_or_cleared_canvas_gets_a_message_not_a_digit(page):
    """Nothing drawn, or a drawing cleared: a plain message, no digit and no 28x28 image."""
    browser, _ = page
    drawn(browser, 5)
    assert browser.shown()["top3"]
    browser.click(".clear")
    state = browser.answered()
    shown = browser.shown()
    assert "top3" not in state["answer"] and "Draw one digit" in state["answer"]["message"]
    assert shown["top3"] == [] and shown["message"] == state["answer"]["message"]
    assert (shown["opaque"] == 0).all()


@pytest.mark.slow
def test_the_pen_is_as_thick_as_mnists(page, mnist):
    """Digits drawn across half to most of the pad come out, once prepared, with as much ink as
    MNIST's test digits of their class (between the 5th and 95th percentiles): the pen is
    neither a hairline nor a marker."""
    browser, _ = page
    _, (test_x, test_y), _ = mnist
    ink = (test_x.float() / 255).mean((1, 2))
    for digit in range(10):
        low, high = ink[test_y == digit].quantile(0.05).item(), ink[test_y == digit].quantile(0.95).item()
        for box in (SMALL, LARGE):
            mean = np.mean(drawn(browser, digit, box)[0]["answer"]["field"])
            assert low <= mean <= high, (digit, box, low, mean, high)


def _page_copy(tmp_path, leave_out):
    """web/ linked file by file into tmp_path, without `leave_out`."""
    root = tmp_path / "web"
    root.mkdir()
    for path in web.WEB_DIR.iterdir():
        if path.name != leave_out:
            (root / path.name).symlink_to(path)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("leave_out, says", [(web.MODEL_FILE, f"The model {web.MODEL_FILE} could not be loaded"),
                                             ("node_modules", "npm ci --prefix web")])
def test_a_page_that_cannot_load_its_model_says_so(chromium, tmp_path, leave_out, says):
    """Without the model or ONNX Runtime Web the page shows a message naming the fix, and never
    a digit, even when something is drawn."""
    if not (web.WEB_DIR / web.RUNTIME_DIR).is_dir():
        missing("onnxruntime-web is not installed: npm ci --prefix web")
    with web.serving(_page_copy(tmp_path, leave_out)) as server:
        state = chromium.open(web.url(server))
        chromium.draw(DIGIT_STROKES[1])
        time.sleep(0.3)
        shown = chromium.shown()
    assert state["status"] == "error" and state["answer"] is None
    assert says in shown["message"] and shown["top3"] == []


# --- notebook 09's pad: the JavaScript glue in Chromium, the Python side without --------------

HARNESS = """<!doctype html><html><head><meta charset="utf-8"></head><body>
<div id="widget"></div>
<script>
  // Colab's output bridge, faked: each call waits until the test answers it.
  globalThis.calls = [];
  globalThis.google = { colab: {
    kernel: { invokeFunction: (name, args) => new Promise((resolve) => calls.push({ name, args, resolve })) },
    output: { setIframeHeight: () => {} } } };
</script>
<script>%(colab)s</script>
<script type="module">
  // A widget model, faked: what anywidget gives render().
  const values = {}, handlers = {};
  globalThis.saved = [];
  const model = { get: (k) => values[k], set: (k, v) => { values[k] = v; },
                  save_changes: () => saved.push({ ...values }),
                  on: (event, f) => { handlers[event] = f; } };
  globalThis.answerWidget = (answer) => { values.answer = answer; handlers["change:answer"](); };
  const url = URL.createObjectURL(new Blob([%(widget)s], { type: "text/javascript" }));
  const { default: widget } = await import(url);
  widget.render({ model, el: document.getElementById("widget") });
  globalThis.ready = true;
</script></body></html>"""


@pytest.mark.slow
def test_the_notebook_pad_sends_its_strokes_and_shows_the_answer(chromium, tmp_path, f8a, mnist):
    """In Chromium, the pad drawpad puts on Colab sends each finished stroke through Colab's bridge
    and shows the answer that comes back; the widget's pad sets its `drawing` trait and shows its
    `answer`. The drawing they send is read by Python as the digit drawn."""
    pad = drawpad.DrawPad(f8a, ("a test digit", digits.as_drawing(mnist[1][0][0]), 7))
    (tmp_path / "pad.html").write_text(HARNESS % {
        "colab": drawpad._script() + drawpad._COLAB_GLUE % {"draw": drawpad.COLAB_DRAW, "files": drawpad.COLAB_FILES},
        "widget": json.dumps(drawpad._script() + drawpad._WIDGET_GLUE)})
    driver = chromium.driver
    with web.serving(tmp_path) as server:
        driver.get(web.url(server) + "pad.html")
        for _ in range(200):
            if driver.execute_script("return globalThis.ready === true"):
                break
            time.sleep(0.02)
        colab, widget = "body > div:not(#widget) .pad", "#widget .pad"
        chromium.draw(DIGIT_STROKES[7], canvas=colab)
        chromium.draw(DIGIT_STROKES[3], canvas=widget)
        time.sleep(0.3)
        calls = driver.execute_script("return calls.map(({ name, args }) => ({ name, args }))")
        saved = driver.execute_script("return saved")
        assert [c["name"] for c in calls] == [drawpad.COLAB_DRAW] and calls[0]["args"][1] is False
        answer = pad.receive_drawing(*calls[0]["args"])
        assert answer["top3"][0][0] == 7
        driver.execute_script("calls[0].resolve({data: {'application/json': arguments[0]}})", answer)
        assert len(saved) == 1 and pad.receive_drawing(saved[0]["drawing"])["top3"][0][0] == 3
        driver.execute_script("answerWidget(arguments[0])", pad.receive_drawing(saved[0]["drawing"]))
        time.sleep(0.1)
        shown = [driver.execute_script(f"return Number(document.querySelector('{pad} .top3 li')?.dataset.digit)")
                 for pad in ("body > div:not(#widget)", "#widget")]
    assert shown == [7, 3]


def test_the_pad_answers_drawings_and_photos(f8a, mnist, tmp_path):
    """A stroke's canvas is answered with its digit and the 28x28 image; a cleared pad with a
    message; several photos at once each get a line (EXIF orientation applied: an upright photo
    stored sideways is read upright), a file that is not an image is named; `images()` gives
    whichever came last."""
    default = ("a test digit", digits.as_drawing(mnist[1][0][0]), 7)
    pad = drawpad.DrawPad(f8a, default)
    answer = pad.receive_drawing(data_url(render(DIGIT_STROKES[7])))
    assert answer["top3"][0][0] == 7 and len(answer["field"]) == 784
    assert [name for name, _, _ in pad.images()] == ["your drawing"]
    assert pad.receive_drawing(None, empty=True) == {"message": "Draw a digit in the box."}
    pad.receive_drawing(data_url(render(DIGIT_STROKES[1])))
    upright = render(DIGIT_STROKES[4])
    sideways = tmp_path / "photo.png"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned by 90 degrees; shown upright
    Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90).save(sideways, exif=exif)
    photo = "data:image/png;base64," + base64.b64encode(sideways.read_bytes()).decode()
    answer = pad.receive_files([{"name": "photo.png", "dataURL": photo},
                                {"name": "seven.png", "dataURL": data_url(render(DIGIT_STROKES[7]))},
                                {"name": "notes.txt", "dataURL": "data:text/plain;base64,aGVsbG8="}])
    lines = answer["message"].splitlines()
    assert lines[0] == "notes.txt: not an image that Pillow can read"
    assert lines[1].startswith("photo.png: 4 ") and lines[2].startswith("seven.png: 7 ")
    assert answer["top3"][0][0] == 4
    assert [name for name, _, _ in pad.images()] == ["photo.png", "seven.png"]
    pad.receive_drawing(data_url(render(DIGIT_STROKES[2])))
    assert [name for name, _, _ in pad.images()] == ["your drawing"]


def test_without_a_frontend_the_pad_returns_at_once_with_the_default(f8a, mnist, capsys):
    """Where nobody can draw (nbconvert, nbval, a plain interpreter), `show` returns at once and
    `images()` gives the default digit, saying so: "Run all" never waits."""
    default = ("a test digit", digits.as_drawing(mnist[1][0][0]), 7)
    start = time.perf_counter()
    pad = drawpad.show(f8a, default)
    images = pad.images()
    assert time.perf_counter() - start < 5
    assert images == [default]
    assert "nothing drawn or uploaded: reading a test digit instead" in capsys.readouterr().out


def test_on_colab_the_pad_answers_through_the_output_bridge(f8a, mnist, monkeypatch):
    """With Colab's `google.colab.output` (faked here), `show` registers the two callbacks that the
    pad's JavaScript invokes and displays the pad; the callbacks answer as JSON, without waiting."""
    import types

    registered, displayed = {}, []
    output = types.SimpleNamespace(register_callback=registered.__setitem__)
    colab = types.ModuleType("google.colab")
    colab.output = output
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setattr("IPython.display.display", displayed.append)
    pad = drawpad.show(f8a, ("a test digit", digits.as_drawing(mnist[1][0][0]), 7))
    assert set(registered) == {drawpad.COLAB_DRAW, drawpad.COLAB_FILES}
    assert "DigitUI.build" in displayed[0].data and drawpad.COLAB_DRAW in displayed[0].data
    reply = registered[drawpad.COLAB_DRAW](data_url(render(DIGIT_STROKES[9])), False)
    assert reply.data["top3"][0][0] == 9 and pad.drawing is not None


def test_the_widget_answers_when_its_drawing_changes(f8a, mnist):
    """The local-Jupyter pad: setting its `drawing` trait (as the browser does) sets its `answer`."""
    pytest.importorskip("anywidget")
    pad = drawpad.DrawPad(f8a, ("a test digit", digits.as_drawing(mnist[1][0][0]), 7))
    w = drawpad.widget(pad)
    w.drawing = data_url(render(DIGIT_STROKES[6]))
    assert w.answer["top3"][0][0] == 6
    w.drawing = ""
    assert w.answer == {"message": "Draw a digit in the box."} and pad.drawing is None


# --- serving, and the committed model ---------------------------------------------------------

@pytest.mark.parametrize("leave_out, says", [(web.MODEL_FILE, "export results/runs/f8a_seed1.json --int8"),
                                             ("node_modules", "npm ci --prefix")])
def test_check_names_the_fix_for_a_missing_file(tmp_path, leave_out, says):
    """A page folder without its model, or without ONNX Runtime Web, is refused with the command
    that puts it there."""
    root = tmp_path / "web"
    root.mkdir()
    (root / "index.html").write_text("")
    if leave_out != web.MODEL_FILE:
        (root / web.MODEL_FILE).write_bytes(b"")
    with pytest.raises(web.WebError, match=re.escape(says)):
        web.check(root)


@pytest.mark.slow
def test_serve_without_the_runtime_exits_1_naming_npm_ci(tmp_path):
    """`serve` where ONNX Runtime Web is not installed: status 1 and one line naming the fix."""
    root = tmp_path / "web"
    root.mkdir()
    (root / "index.html").write_text("")
    (root / web.MODEL_FILE).write_bytes(b"")
    code = ("import sys, effmnist_utils.use.web as w, effmnist_utils.__main__ as m; "
            f"w.WEB_DIR = w.Path({str(root)!r}); sys.exit(m.main(['serve']))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ONNX Runtime Web is not installed") and f"npm ci --prefix {root}" in lines[0]


@pytest.mark.slow
def test_serve_serves_the_page_with_the_types_browsers_need(tmp_path):
    """`serve --port N` prints its address and serves the page, its module scripts as JavaScript and
    the runtime as WebAssembly (a browser refuses them otherwise)."""
    try:
        web.check(web.WEB_DIR)
    except web.WebError as exc:
        missing(str(exc))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "effmnist_utils", "serve", "--port", str(port)],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in line, line + process.stderr.read()
        types = {}
        for path in ("", "app.js", f"{web.RUNTIME_DIR}/{web.RUNTIME_FILES[1]}", web.MODEL_FILE):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/{path}", timeout=10) as response:
                types[path] = response.headers["Content-Type"]
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert types["app.js"] == "text/javascript" and types[f"{web.RUNTIME_DIR}/{web.RUNTIME_FILES[1]}"] == "application/wasm"
    assert types[""].startswith("text/html")


def _int8_graph(path):
    """(the graph without its numbers, {initializer: array}) of an ONNX file."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    del model.graph.initializer[:]
    return model.SerializeToString(), weights


@pytest.mark.slow
def test_the_committed_model_is_what_export_writes(tmp_path):
    """web/'s int8 model is what `export --int8` writes from the recorded run today: the same graph
    (every node, attribute, input and output) and the same numbers, each quantised integer within
    one step (or 0.01 %) and each scale within 0.01 % (calibration's float sums round differently on other CPU
    models, which moves a few rounding boundaries), so it cannot go stale silently: a retrained
    run or another quantisation moves far more than that."""
    pytest.importorskip("onnxruntime")
    from effmnist_utils.use.deploy import export_run

    fresh = export_run(RUN, tmp_path, int8=True)["int8"]
    assert fresh.name == web.MODEL_FILE
    fix = (f"run `python -m effmnist_utils export {RUN.relative_to(web.REPO_ROOT)} --int8` and copy "
           f"exports/{web.MODEL_FILE} to web/")
    (graph, weights), (committed_graph, committed) = _int8_graph(fresh), _int8_graph(web.WEB_DIR / web.MODEL_FILE)
    assert graph == committed_graph and weights.keys() == committed.keys(), f"the graph differs: {fix}"
    for name, value in weights.items():
        old = committed[name]
        assert value.dtype == old.dtype and value.shape == old.shape, f"{name} differs: {fix}"
        if np.issubdtype(value.dtype, np.integer):
            steps = np.abs(value.astype(np.int64) - old.astype(np.int64))
            allowed = np.maximum(1, 1e-4 * np.abs(old.astype(np.int64)))  # int32 biases: their scale's 0.01 %
            assert (steps <= allowed).all(), f"{name} moves by up to {steps.max()} steps: {fix}"
        else:
            np.testing.assert_allclose(value, old, rtol=1e-4, err_msg=f"{name} differs: {fix}")
