"""Drive the draw-a-digit page in headless Chromium, as a person would: strokes drawn with
pointer events (mouse or touch) along pen paths, the answer read off the page. Shared by the
browser test (`tests/test_web.py`) and the screenshot tool (`tools/web_screenshot.py`).

Needs Debian's `chromium` and `chromium-driver` (or another Chromium and its chromedriver on the
PATH) and `selenium` (the dev extra). Chromium runs with every host name but 127.0.0.1 unresolvable,
so the page is proven to work offline; `requests` lists every URL the page asked for and
`downloads` the bytes each took over the wire. `phone=True` emulates a phone (touch, the given
size as its screen, 3 device pixels per CSS pixel).
"""
from __future__ import annotations

import base64
import io
import json
import math
import shutil
import time

import numpy as np
from PIL import Image


class BrowserMissing(RuntimeError):
    """Chromium, its driver or selenium is not installed; the message names the package."""


def _arc(cx, cy, rx, ry, start, stop, n=16):
    """Points on an ellipse from angle `start` to `stop` (degrees; 0 = right, 90 = down)."""
    return [(cx + rx * math.cos(math.radians(start + (stop - start) * k / n)),
             cy + ry * math.sin(math.radians(start + (stop - start) * k / n))) for k in range(n + 1)]


# A pen's path for each digit: strokes of (x, y) points in the unit square (y down), drawn the
# way people write them (4 in two strokes, 8 as two loops).
DIGIT_STROKES = {
    0: [_arc(0.5, 0.5, 0.27, 0.4, -90, 270, 24)],
    1: [[(0.56, 0.1), (0.5, 0.5), (0.44, 0.9)]],
    2: [_arc(0.5, 0.33, 0.25, 0.23, 190, 380, 10) + [(0.25, 0.9), (0.78, 0.9)]],
    3: [_arc(0.48, 0.29, 0.22, 0.19, 200, 450, 12) + _arc(0.48, 0.69, 0.26, 0.21, 270, 510, 12)[1:]],
    4: [[(0.32, 0.1), (0.22, 0.58), (0.8, 0.58)], [(0.66, 0.3), (0.64, 0.9)]],
    5: [[(0.74, 0.1), (0.33, 0.1), (0.29, 0.45)] + _arc(0.5, 0.64, 0.25, 0.24, 225, 495, 12)],
    6: [[(0.68, 0.1), (0.42, 0.35)] + _arc(0.5, 0.68, 0.22, 0.22, 200, 560, 16)],
    7: [[(0.22, 0.12), (0.78, 0.12), (0.42, 0.9)]],
    8: [_arc(0.5, 0.29, 0.19, 0.19, 90, 450, 16), _arc(0.5, 0.69, 0.23, 0.21, -90, 270, 16)],
    9: [_arc(0.48, 0.32, 0.21, 0.21, 0, 360, 16) + [(0.66, 0.9)]],
}


def _scribble():
    """Nine loops, overlapping, across the middle of the pad."""
    points = []
    for k in range(9):
        points += _arc(0.25 + 0.5 * k / 8, 0.35 + 0.15 * (k % 3), 0.2, 0.17, 0, 360, 12)[:-1]
    return [points]


# Drawings that are not one digit, in the unit square (the whole pad): each must get a message.
NOT_ONE_DIGIT = {
    "a tap": [[(0.5, 0.5)]],
    "a scribble": _scribble(),
    "a box covered in ink": [[(0.01 + 0.98 * (i % 2), 0.01 + 0.98 * i / 30) for i in range(31)]],
    "two digits side by side": [[(0.22 + 0.06 * x, 0.25 + 0.5 * y) for x, y in s] for s in DIGIT_STROKES[1]]
                               + [[(0.45 + 0.4 * x, 0.25 + 0.5 * y) for x, y in s] for s in DIGIT_STROKES[7]],
}


def sized(strokes, fraction: float, pad: int = 280, pen: int = 12):
    """Unit-square strokes scaled so that the ink (the path and a `pen` around it) is `fraction` of
    the pad's height, centred on the pad; still in the unit square (draw them with box=(0, 0, pad, pad))."""
    xs, ys = [x for s in strokes for x, _ in s], [y for s in strokes for _, y in s]
    scale = (fraction * pad - pen) / pad / (max(ys) - min(ys))
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    return [[(0.5 + (x - cx) * scale, 0.5 + (y - cy) * scale) for x, y in s] for s in strokes]


def _step(points, most=6.0):
    """The path with points added so that no step is longer than `most` pixels (a real pointer
    reports a move every few pixels)."""
    out = [points[0]]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        n = max(1, math.ceil(math.hypot(x1 - x0, y1 - y0) / most))
        out += [(x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n) for k in range(1, n + 1)]
    return out


def find_chromium() -> tuple[str, str]:
    """(chromium, chromedriver) executables, or BrowserMissing naming what to install."""
    browser = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        raise BrowserMissing(f"{'chromium' if browser is None else 'chromium-driver'} is not installed: "
                             "apt-get install chromium chromium-driver")
    try:
        # heavy/optional: selenium is the dev extra's; this checks that it is installed
        import selenium  # noqa: F401
    except ImportError:
        raise BrowserMissing("selenium is not installed: pip install -e \".[dev]\"") from None
    return browser, driver


class Chromium:
    """One headless Chromium window (`with Chromium() as b: b.open(url)`)."""

    def __init__(self, width: int = 900, height: int = 620, phone: bool = False):
        # heavy/optional: selenium, the dev extra's
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        browser, driver = find_chromium()
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    f"--window-size={width},{height}", "--no-first-run", "--disable-extensions",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):  # offline
            options.add_argument(arg)
        if phone:
            options.add_experimental_option("mobileEmulation", {"deviceMetrics": {
                "width": width, "height": height, "pixelRatio": 3.0, "touch": True}})
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(executable_path=driver), options=options)
        self.driver.set_script_timeout(30)
        self.events = []  # Chromium's network events, kept: reading its log empties it

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.driver.quit()

    def open(self, url: str, timeout: float = 60) -> dict:
        """Load the page and wait until the model is ready or has failed; the page's state."""
        self.driver.get(url)
        state = self.wait(lambda s: s and s["status"] != "loading", timeout)
        return state

    def state(self) -> dict | None:
        return self.driver.execute_script("return globalThis.digitPage ? JSON.parse(JSON.stringify(globalThis.digitPage)) : null")

    def wait(self, done, timeout: float = 30) -> dict:
        """The page's state once `done(state)` is true (polled); TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.state()
            if done(state):
                return state
            if time.monotonic() > deadline:
                raise TimeoutError(f"the page did not get there in {timeout} s; its state: {state}")
            time.sleep(0.02)

    def draw(self, strokes, box=(40, 40, 200, 200), pointer: str = "mouse", canvas: str = ".pad") -> None:
        """Draw `strokes` (unit-square paths, e.g. DIGIT_STROKES[7]) scaled into `box` = (left, top,
        width, height) in the pad's pixels, with pointer events of a mouse or a finger."""
        # heavy/optional: selenium, the dev extra's
        from selenium.webdriver.common.actions import interaction
        from selenium.webdriver.common.actions.action_builder import ActionBuilder
        from selenium.webdriver.common.actions.pointer_input import PointerInput
        # heavy/optional: selenium, the dev extra's
        from selenium.webdriver.common.by import By

        pad = self.driver.find_element(By.CSS_SELECTOR, canvas)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'nearest'})", pad)
        size = pad.size  # CSS pixels; the pad has DigitUI.SIZE pixels
        pixels = self.driver.execute_script("return DigitUI.SIZE")
        kind = {"mouse": interaction.POINTER_MOUSE, "touch": interaction.POINTER_TOUCH}[pointer]
        actions = ActionBuilder(self.driver, mouse=PointerInput(kind, pointer), duration=0)
        left, top, width, height = box
        for stroke in strokes:
            path = _step([(left + x * width, top + y * height) for x, y in stroke])
            for k, (x, y) in enumerate(path):  # offsets from the pad's centre, in CSS pixels
                dx = round((x - pixels / 2) * size["width"] / pixels)
                dy = round((y - pixels / 2) * size["height"] / pixels)
                actions.pointer_action.move_to(pad, dx, dy)
                if k == 0:
                    actions.pointer_action.pointer_down()
            actions.pointer_action.pointer_up()
        actions.perform()

    def click(self, selector: str) -> None:
        # heavy/optional: selenium, the dev extra's
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.CSS_SELECTOR, selector).click()

    def answered(self, timeout: float = 30) -> dict:
        """The page's state once it has answered the drawing as it is now."""
        return self.wait(lambda s: s["answered"] == s["drawn"] and s["answer"] is not None, timeout)

    def shown(self) -> dict:
        """What the page shows: the top-3 list, the message, and the 28x28 image (uint8)."""
        shown = self.driver.execute_script("""
            const q = (s) => document.querySelector(s);
            const f = q('.field').getContext('2d').getImageData(0, 0, 28, 28).data;
            return {top3: Array.from(document.querySelectorAll('.top3 li'),
                                     (li) => [Number(li.dataset.digit), Number(li.dataset.probability)]),
                    text: Array.from(document.querySelectorAll('.top3 li'), (li) => li.textContent),
                    message: q('.message').textContent,
                    field: Array.from(f.filter((_, i) => i % 4 === 0)),
                    opaque: Array.from(f.filter((_, i) => i % 4 === 3))};""")
        shown["field"] = np.array(shown["field"], np.uint8).reshape(28, 28)
        shown["opaque"] = np.array(shown["opaque"], np.uint8).reshape(28, 28)
        return shown

    def pad_pixels(self, canvas: str = ".pad") -> np.ndarray:
        """The drawing as the page holds it: H x W x 4 uint8 (RGBA), losslessly via PNG."""
        url = self.driver.execute_script(f"return document.querySelector('{canvas}').toDataURL('image/png')")
        return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGBA"))

    def _network(self) -> list[dict]:
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"].startswith("Network."):
                self.events.append(message)
        return self.events

    def forget(self) -> None:
        """Forget the requests made so far (before opening a page whose requests count)."""
        self._network()
        self.events = []

    def requests(self) -> list[str]:
        """Every URL requested since `forget` (Chromium's network log)."""
        return [m["params"]["request"]["url"] for m in self._network() if m["method"] == "Network.requestWillBeSent"]

    def downloads(self) -> dict[str, int]:
        """{URL: bytes received over the wire, headers included} of every response finished since
        `forget`."""
        events = self._network()
        urls = {m["params"]["requestId"]: m["params"]["request"]["url"]
                for m in events if m["method"] == "Network.requestWillBeSent"}
        return {urls[m["params"]["requestId"]]: int(m["params"]["encodedDataLength"])
                for m in events if m["method"] == "Network.loadingFinished" and m["params"]["requestId"] in urls}

    def console(self) -> list[str]:
        """The messages the page has logged as errors (a missing file included) since last asked."""
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]

    def screenshot(self, path) -> None:
        self.driver.save_screenshot(str(path))
