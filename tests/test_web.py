"""The draw-a-digit page (web/) and notebook 09's drawing pad (`drawpad`).

Python is the reference: the JavaScript port (web/prep.js) of the redrawing (`redraw`) and of the
rules that refuse what is not one digit (`verdict`, on the ink `digits` finds) is checked against
it under node and in headless Chromium, where strokes are drawn with pointer events and the answer
is read off the page and compared with what notebook 09's pad (`drawpad.read_drawing`) makes of
the same paths and pixels. Without node, Chromium, its driver, selenium or ONNX Runtime Web these tests
skip, naming what is missing; with EFFMNIST_REQUIRE_BROWSER=1 (CI) they fail instead. The
browser's tests are slow (`-m "not slow"` leaves them out); the node ones are not.
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
from PIL import Image

from effmnist_utils.use import deploy, digits, drawpad, redraw, verdict, web
from effmnist_utils.use.browser import DIGIT_STROKES, NOT_ONE_DIGIT, BrowserMissing, Chromium, find_chromium, sized
from effmnist_utils.core.config import RUNS_DIR
from effmnist_utils.core.data import MEAN, STD
from effmnist_utils.use.deploy import load_run
from helpers import CENTRED, CHECKOUT_ENV, PAD, SIZES, on_pad, render

RUN = RUNS_DIR / "f8a_seed1.json"  # recorded: read only
TOLERANCE = 1e-6  # JavaScript's 28x28 field against Python's, per pixel (the range is [0, 1])
REQUIRED = os.environ.get("EFFMNIST_REQUIRE_BROWSER") == "1"
SMALL, OFF_CENTRE, CORNER = (70, 70, 140, 140), (150, 140, 120, 130), (4, 4, 90, 100)  # pad pixels


def missing(reason):
    if REQUIRED:
        pytest.fail(f"{reason} (EFFMNIST_REQUIRE_BROWSER=1: this run must not skip the browser tests)")
    pytest.skip(reason)


def data_url(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="module")
def f8a():
    return load_run(RUN)[0]


@pytest.fixture(scope="module")
def limits():
    return verdict.limits("f8a_seed1")


# --- the JavaScript port under node ------------------------------------------------------------

NODE = """
import * as prep from %(prep)s;
import { readFileSync } from "node:fs";
(0, eval)(readFileSync(new URL(%(ui)s), "utf8"));  // ui.js: a classic script; defines DigitUI
let text = "";
process.stdin.on("data", (d) => { text += d; });
process.stdin.on("end", () => {
  const { images, drawings, probabilities } = JSON.parse(text);
  const ink = images.map(({ width, height, gray }) => {
    try {
      const ink = prep.inkOf(Float32Array.from(gray), width, height);
      return { ink: Array.from(ink), look: prep.look(ink, width, height) };
    } catch (e) {
      if (e instanceof prep.BlankImage) return { blank: e.message };
      throw e;
    }
  });
  const fields = drawings.map((strokes) => Array.from(prep.render(prep.strokeSegments(strokes))));
  const percents = probabilities.map(DigitUI.percent);
  const { BOX, FIELD, CENTRE, INK, MIN_CONTRAST, MEAN, STD, PEN, MIN_SIZE, SIGNIFICANT, TALL, CONFIDENCE,
          MAX_INK, MESSAGES } = prep;
  process.stdout.write(JSON.stringify({ ink, fields, percents, constants: { BOX, FIELD, CENTRE, INK, MIN_CONTRAST,
    MEAN, STD, PEN, MIN_SIZE, SIGNIFICANT, TALL, CONFIDENCE, MAX_INK, MESSAGES } }));
});
"""


def node_run(images: dict = {}, drawings: dict = {}, probabilities=()) -> dict:
    """prep.js under node: {"ink": {name: {ink, look} or {blank}}, "fields": {name: field},
    "percents": [...], "constants": {...}}."""
    node = shutil.which("node")
    if node is None:
        missing("node is not installed: apt-get install nodejs")
    payload = {"images": [{"width": int(v.shape[1]), "height": int(v.shape[0]),
                           "gray": digits.to_grayscale(v).ravel().tolist()} for v in images.values()],
               "drawings": list(drawings.values()), "probabilities": list(probabilities)}
    script = NODE % {"prep": json.dumps((web.WEB_DIR / "prep.js").as_uri()),
                     "ui": json.dumps((web.WEB_DIR / "ui.js").as_uri())}
    result = subprocess.run([node, "--input-type=module", "-e", script], input=json.dumps(payload),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    return {"ink": dict(zip(images, answer["ink"])), "fields": dict(zip(drawings, answer["fields"])),
            "percents": answer["percents"], "constants": answer["constants"]}


def sample_images(mnist):
    """Light and dark paper, off-centre, thin and thick strokes, a corner digit, a tiny one, a
    photo-like grey page with noise, a page that is not square, a raw MNIST digit, an empty
    canvas, and the drawings that are not one digit."""
    _, (test_x, _), _ = mnist
    noise = np.random.default_rng(0).normal(0, 12, (280, 280))
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
        "empty canvas": np.full((280, 280), 255, np.uint8),
    } | {name: render(strokes, box=PAD) for name, strokes in NOT_ONE_DIGIT.items()}


def drawings():
    """Pen paths in pad pixels: every digit centred, small, in a corner and at each size, a dot,
    and the paths that are not one digit."""
    out = {f"{d} {where}": on_pad(DIGIT_STROKES[d], box) for d in range(10)
           for where, box in (("centred", CENTRED), ("small", SMALL), ("corner", CORNER))}
    out |= {f"{d} at {size:.3f}": on_pad(sized(DIGIT_STROKES[d], size), PAD) for d in (0, 8) for size in SIZES}
    return out | {name: on_pad(strokes, PAD) for name, strokes in NOT_ONE_DIGIT.items()}


def test_javascript_finds_the_ink_and_applies_the_rules_as_python_does(mnist):
    """prep.js finds Python's ink (`digits.ink_of`, within TOLERANCE) and gives Python's verdict
    (`verdict.look`) on every test image; the empty canvas is blank in both, with one message."""
    images = sample_images(mnist)
    js = node_run(images)["ink"]
    seen = set()
    for name, image in images.items():
        if name == "empty canvas":
            with pytest.raises(ValueError, match="blank") as python:
                digits.ink_of(image)
            assert js[name] == {"blank": str(python.value)}
            continue
        ink = digits.ink_of(image)
        assert np.abs(np.array(js[name]["ink"], np.float32).reshape(ink.shape) - ink).max() <= TOLERANCE, name
        assert js[name]["look"] == verdict.look(ink), name
        seen.add(js[name]["look"])
    assert seen == {None, "small", "marks"}  # every rule was met, and plain digits passed


def test_javascript_redraws_the_paths_as_python_does():
    """prep.js redraws each pen path into the very field Python's `redraw` makes (within TOLERANCE)."""
    paths = drawings()
    js = node_run(drawings=paths)["fields"]
    for name, strokes in paths.items():
        difference = np.abs(np.array(js[name], np.float32).reshape(28, 28) - redraw.redraw_strokes(strokes)).max()
        assert difference <= TOLERANCE, (name, difference)


def test_javascript_constants_and_messages_are_pythons():
    """prep.js's constants and messages are those of digits, redraw, verdict and data, and its
    limits those recorded for f8a_seed1 in results/deploy/thresholds/validation.json."""
    recorded = json.loads(verdict.THRESHOLDS.read_text())
    assert node_run()["constants"] == {
        "BOX": digits.BOX, "FIELD": digits.FIELD, "CENTRE": digits.CENTRE, "INK": digits.INK,
        "MIN_CONTRAST": digits.MIN_CONTRAST, "MEAN": MEAN, "STD": STD, "PEN": redraw.PEN,
        "MIN_SIZE": verdict.MIN_SIZE, "SIGNIFICANT": verdict.SIGNIFICANT, "TALL": verdict.TALL,
        "CONFIDENCE": recorded["confidence"]["f8a_seed1"]["threshold"], "MAX_INK": recorded["max_ink"],
        "MESSAGES": verdict.MESSAGES}


def test_percentages_never_round_to_a_certainty():
    """99.96 % is "> 99.9 %", not "100.0 %"; 0.04 % is "< 0.1 %", not "0.0 %"; the page (ui.js)
    and Python (`verdict.percent`) round alike."""
    probabilities = [0.9996, 0.99949, 1.0, 0.5, 0.0004, 0.00051, 0.0]
    expected = ["> 99.9%", "99.9%", "> 99.9%", "50.0%", "< 0.1%", "0.1%", "< 0.1%"]
    assert [verdict.percent(p) for p in probabilities] == expected
    assert [t.replace(" %", "%") for t in node_run(probabilities=probabilities)["percents"]] == expected


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
        chromium.forget()  # forget what other pages asked for
        state = chromium.open(web.url(server))
        assert state["status"] == "ready", state
    return chromium, server


@pytest.fixture(scope="module")
def int8():
    ort = pytest.importorskip("onnxruntime")
    return ort.InferenceSession(str(web.WEB_DIR / web.MODEL_FILE), providers=["CPUExecutionProvider"])


def drawn(browser, strokes, box=CENTRED, pointer="mouse"):
    """Clear the pad, draw `strokes` (unit square) into `box`, wait for the answer: (page state,
    RGBA pixels of the pad)."""
    browser.click(".clear")
    browser.draw(strokes, box, pointer)
    return browser.answered(), browser.pad_pixels()


def check_like_python(browser, state, pixels, f8a, int8, limits, digit):
    """The page redrew its paths into the field notebook 09's pad makes of the same paths and
    pixels (`drawpad.read_drawing`) and shows it; it reads `digit`, as the pad does; its int8
    probabilities are those of ONNX Runtime in Python on the same field."""
    answer = state["answer"]
    python = drawpad.read_drawing(f8a, pixels, answer["strokes"], limits)
    page_field = np.array(answer["field"], np.float32).reshape(28, 28)
    assert np.abs(page_field - python.field).max() <= TOLERANCE
    shown = browser.shown()
    assert (shown["field"] == np.round(page_field * 255)).all() and (shown["opaque"] == 255).all()
    assert [d for d, _ in shown["top3"]] == [d for d, _ in answer["top3"]] and shown["message"] == ""
    assert answer["reason"] is None and answer["top3"][0][0] == python.digit == digit
    x = ((page_field - np.float32(MEAN)) / np.float32(STD)).reshape(1, 1, 28, 28)
    python_probs = np.exp(int8.run(None, {"image": x})[0][0])
    assert np.abs(np.exp(answer["logProbs"]) - python_probs).max() < 1e-3


@pytest.mark.slow
def test_the_page_reads_every_digit_as_python_does(page, f8a, int8, limits):
    """Each digit drawn on the page with a mouse: the 28x28 field Python redraws from the same
    paths (within TOLERANCE), shown beside the pad, and Python's digit, which is the one drawn
    (not "always 8"); the page asks nothing of any server but its own."""
    browser, server = page
    for digit in range(10):
        check_like_python(browser, *drawn(browser, DIGIT_STROKES[digit]), f8a, int8, limits, digit)
    origin = web.url(server)
    assert all(url.startswith(origin) for url in browser.requests()), browser.requests()
    assert {f"/{web.MODEL_FILE}", f"/{web.RUNTIME_DIR}/{web.RUNTIME_FILES[1]}"} <= set(server.requests)


@pytest.mark.slow
@pytest.mark.parametrize("where", ["off-centre", "corner"])
def test_off_centre_and_corner_digits_are_read(page, f8a, int8, limits, where):
    """A digit drawn away from the middle, or small in a corner, is read as the digit."""
    browser, _ = page
    for digit in (2, 3, 7):
        check_like_python(browser, *drawn(browser, DIGIT_STROKES[digit], OFF_CENTRE if where == "off-centre" else CORNER),
                          f8a, int8, limits, digit)


@pytest.mark.slow
def test_digits_of_every_size_are_read_alike_in_the_page_and_in_predict(page, f8a, limits, tmp_path):
    """Each digit drawn from a quarter of the pad's height up to all of it: the page gives the same
    field at every size and reads it as the digit drawn; `predict` reads the page's pixels (the
    pad as a PNG) as that digit at every size too. Prints what each read, size by size."""
    browser, _ = page
    read = {}
    for size in SIZES:
        for digit in range(10):
            state, pixels = drawn(browser, sized(DIGIT_STROKES[digit], size), PAD)
            Image.fromarray(pixels).save(tmp_path / f"{digit}_{size:.3f}.png")
            read[size, digit] = (state["answer"]["top3"][0][0] if state["answer"]["top3"] else None,
                                 state["answer"]["field"])
    lines = deploy.predict_files([tmp_path / f"{d}_{s:.3f}.png" for s in SIZES for d in range(10)], run=RUN)
    for line in lines.splitlines()[1:]:
        name, said = line.split(": ", 1)
        digit, size = name.rsplit("/", 1)[1][:-4].split("_")
        read[float(size), int(digit)] += (said.split()[0],)
    for size in SIZES:
        print(f"drawn {size:.3f} of the pad's height: page", "".join(str(read[size, d][0]) for d in range(10)),
              "| predict", "".join(read[size, d][2] for d in range(10)))
    for digit in range(10):
        assert all(read[s, digit][0] == digit and read[s, digit][2] == str(digit) for s in SIZES), \
            [(s, read[s, digit][0], read[s, digit][2]) for s in SIZES]
        fields = [np.array(read[s, digit][1]).reshape(28, 28) for s in SIZES]
        assert max(apart(f, fields[-1]) for f in fields) < 0.02, digit


def apart(a, b) -> float:
    """The mean difference of two fields, the nearer of them moved by up to one pixel each way
    (centring moves a digit by whole pixels; the pointer's path differs a little with the size)."""
    return min(np.abs(np.roll(a, (dr, dc), axis=(0, 1)) - b).mean() for dr in (-1, 0, 1) for dc in (-1, 0, 1))


@pytest.mark.slow
def test_what_is_not_one_digit_gets_a_message_not_a_digit(page, f8a, limits):
    """A tap, a scribble, a box covered in ink and two digits side by side: the page shows a
    message and no digit, for the reason Python gives on the same pixels and paths."""
    browser, _ = page
    for name, strokes in NOT_ONE_DIGIT.items():
        state, pixels = drawn(browser, strokes, PAD)
        answer, shown = state["answer"], browser.shown()
        python = drawpad.read_drawing(f8a, pixels, answer["strokes"], limits)
        assert answer["reason"] in verdict.MESSAGES and answer["reason"] == python.reason, name
        assert shown["top3"] == [] and shown["message"] == verdict.MESSAGES[answer["reason"]], name


@pytest.mark.slow
def test_an_empty_or_cleared_canvas_gets_a_message_not_a_digit(page):
    """Nothing drawn, or a drawing cleared: a plain message, no digit and no 28x28 image."""
    browser, _ = page
    drawn(browser, DIGIT_STROKES[5])
    assert browser.shown()["top3"]
    browser.click(".clear")
    state = browser.answered()
    shown = browser.shown()
    assert "top3" not in state["answer"] and "Draw one digit" in state["answer"]["message"]
    assert shown["top3"] == [] and shown["message"] == state["answer"]["message"]
    assert (shown["opaque"] == 0).all()


@pytest.mark.slow
def test_the_answer_shows_how_long_it_took(page):
    """Under the answer, small: the time the preparation and the model took, in ms."""
    browser, _ = page
    state, _ = drawn(browser, DIGIT_STROKES[2])
    took = browser.driver.execute_script("return document.querySelector('.took').textContent")
    assert re.fullmatch(r"read in \d+\.\d ms", took) and float(took.split()[2]) == round(state["answer"]["ms"], 1)


@pytest.mark.slow
def test_on_a_phone_the_answer_is_visible_beside_a_pad_as_wide_as_the_screen(f8a, limits, server):
    """At 390 x 844 CSS pixels with touch: the pad nearly as wide as the screen, pad and answer
    both within the screen without scrolling, before and after a digit is drawn with a finger,
    and the digit read."""
    try:
        find_chromium()
    except BrowserMissing as exc:
        missing(str(exc))
    where = """const box = (s) => { const r = document.querySelector(s).getBoundingClientRect();
                                    return [r.left, r.top, r.right, r.bottom]; };
               return {pad: box('.pad'), answer: box('.answer'), top3: box('.top3'), width: innerWidth,
                       height: innerHeight, scrolled: scrollY, wide: document.documentElement.scrollWidth};"""
    with Chromium(390, 844, phone=True) as phone:
        assert phone.open(web.url(server))["status"] == "ready"
        before = phone.driver.execute_script(where)
        phone.draw(DIGIT_STROKES[4], pointer="touch")
        state = phone.answered()
        after = phone.driver.execute_script(where)
        shown = phone.shown()
    assert before["width"] == 390 and before["height"] == 844 and before["wide"] <= 390
    assert before["pad"][2] - before["pad"][0] >= 0.9 * 390, before
    for layout in (before, after):
        assert layout["scrolled"] == 0 and 0 <= layout["answer"][1] and layout["answer"][3] <= layout["pad"][1], layout
        assert layout["pad"][3] <= 844, layout
    assert after["pad"] == before["pad"]  # the answer did not move the pad under the finger
    assert after["top3"][3] <= 844 and shown["top3"][0][0] == state["answer"]["top3"][0][0] == 4


@pytest.mark.slow
def test_the_first_visit_downloads_the_light_runtime_and_nothing_missing(chromium, server):
    """A first visit fetches the page, its scripts, the model and the smallest runtime build,
    nothing else (no threaded or SIMD build, no favicon.ico) and logs no error; what it downloads
    (headers included) is under 10 MB: ONNX Runtime Web 1.30's threaded build alone was 14.2 MB."""
    chromium.forget()
    chromium.driver.get("about:blank")
    chromium.forget()
    assert chromium.open(web.url(server))["status"] == "ready"
    got = chromium.downloads()
    names = sorted(url[len(web.url(server)):] for url in got)
    runtime = [f"{web.RUNTIME_DIR}/{name}" for name in web.RUNTIME_FILES]
    assert names == sorted(["", "app.js", "prep.js", "ui.js", web.MODEL_FILE, *runtime]), names
    assert chromium.console() == []
    assert sum(got.values()) < 10_000_000, got


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
    chromium.console()  # the missing file was logged: not a fault of the page
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
    """In Chromium, the pad drawpad puts on Colab sends each finished stroke (its canvas and its
    paths) through Colab's bridge and shows the answer that comes back; the widget's pad sets its
    `strokes` and `drawing` traits and shows its `answer`. Python reads what they send as the
    digit drawn, from the paths, as the page does."""
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
        url, _, strokes = calls[0]["args"]
        assert len(strokes) == len(DIGIT_STROKES[7]) and len(saved) == 1 and len(saved[0]["strokes"]) == 1
        answer = pad.receive_drawing(*calls[0]["args"])
        assert answer["top3"][0][0] == 7 and answer["field"] == [round(float(v), 4) for v in redraw.redraw_strokes(strokes).ravel()]
        driver.execute_script("calls[0].resolve({data: {'application/json': arguments[0]}})", answer)
        widget_answer = pad.receive_drawing(saved[0]["drawing"], False, saved[0]["strokes"])
        assert widget_answer["top3"][0][0] == 3
        driver.execute_script("answerWidget(arguments[0])", widget_answer)
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
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=CHECKOUT_ENV)
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
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=CHECKOUT_ENV)
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
