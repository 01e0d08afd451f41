"""Draw or upload your digit inside notebook 09, answered by the model as you draw.

`show(model)` puts the pad of the web page (`web/ui.js`: the same canvas, pen and answer view) in
the notebook and returns at once, so that "Run all" never waits for anyone: on Colab the strokes
come back to Python through Colab's output bridge (`google.colab.output.register_callback`), in a
local Jupyter (JupyterLab, Notebook 7, VS Code) through a widget (`anywidget`, the dev extra).
Each finished stroke is answered as the web page answers it: the pen's paths redrawn at MNIST's
stroke width (`redraw`), judged by `verdict`'s rules; each uploaded photo (several at once; EXIF
orientation applied) is prepared like MNIST's digits (`digits`) and judged alike. An answer is the
top 3 and the 28x28 image the model saw, or a message where the input is not one digit or the
model is not sure.
`DrawPad.images()` gives what was drawn or uploaded last, or else the default digit, and says
which; where nobody can draw (nbconvert, nbval, a pad without a frontend) that is the default.
"""
from __future__ import annotations

import base64
import binascii
import io

from PIL import Image, UnidentifiedImageError

from . import verdict
from .digits import ink_of
from .redraw import redraw_strokes
from .web import WEB_DIR

COLAB_DRAW, COLAB_FILES = "effmnist.drawpad.draw", "effmnist.drawpad.files"  # callback names


def decode(data_url: str, name: str = "drawing"):
    """A browser's `data:image/...;base64,...` -> PIL image; ValueError naming `name` if it is not
    an image."""
    try:
        head, _, data = data_url.partition(",")
        if not head.startswith("data:") or ";base64" not in head:
            raise ValueError
        image = Image.open(io.BytesIO(base64.b64decode(data, validate=True)))
        image.load()
        return image
    except (ValueError, binascii.Error, UnidentifiedImageError, OSError):
        raise ValueError(f"{name}: not an image that Pillow can read") from None


def read_drawing(model, image, strokes, limits: dict) -> verdict.Answer:
    """What the pad makes of a drawing, as the web page does (web/app.js's `predict`, which
    tests/test_web.py holds to this function): the pen's `strokes` (pad pixels) redrawn at MNIST's
    stroke width are what the model reads; the canvas `image` says whether there is one digit's
    worth of ink. ValueError if the canvas is blank."""
    ink, field = ink_of(image), redraw_strokes(strokes)
    return verdict.answer(model, field, verdict.look(ink), float(field.mean()), limits)


class DrawPad:
    """The latest drawing and uploads of a pad, each answered with `model`, the recorded run
    `run`'s (whose confidence threshold `verdict.limits` reads).
    `default`: (name, image, label) used while there is nothing to read."""

    def __init__(self, model, default, run: str = "f8a_seed1"):
        self.model, self.default = model, default
        self.limits = verdict.limits(run, model)
        self.drawing = None  # PIL image of the latest stroke's canvas, None when blank/cleared
        self.uploads = []  # [(file name, PIL image)] of the latest upload
        self.latest = None  # "drawing" or "files": what came last

    def answer(self, image, strokes=None) -> dict:
        """{"top3": [[digit, probability], ...], "field": the 28x28 image, flat, "reason", "message"}
        or {"message"} alone when there is nothing to read. With the pen's `strokes` (pad pixels),
        they are what is read, as the web page reads them; the image says where the ink is."""
        try:
            if strokes:
                a = read_drawing(self.model, image, strokes, self.limits)
            else:
                a = verdict.read_image(self.model, image, self.limits)
        except ValueError as exc:
            return {"message": f"Nothing to read ({exc})."}
        return {"top3": [[d, round(p, 4)] for d, p in a.top3] if a.top3 else None,
                "field": [round(float(v), 4) for v in a.field.ravel()],
                "reason": a.reason, "message": verdict.MESSAGES.get(a.reason, "")}

    def receive_drawing(self, data_url: str | None, empty: bool = False, strokes=None) -> dict:
        """A frontend's canvas (a PNG data URL) and its pen's paths, after a stroke or a clear (`empty`)."""
        self.drawing = None if empty or not data_url else decode(data_url)
        self.latest = "drawing"
        if self.drawing is None:
            return {"message": "Draw a digit in the box."}
        return self.answer(self.drawing, strokes)

    def receive_files(self, files: list[dict]) -> dict:
        """[{name, dataURL}] of uploaded photos -> the first one's answer, and a line for each
        photo in its message (a file that is not an image is named, not fatal)."""
        self.uploads, lines, self.latest = [], [], "files"
        for f in files:
            try:
                self.uploads.append((f["name"], decode(f["dataURL"], f["name"])))
            except ValueError as exc:
                lines.append(str(exc))
        answers = [(name, self.answer(image)) for name, image in self.uploads]
        lines += [f"{name}: " + (a["message"] or "  ".join(f"{d} {verdict.percent(p)}" for d, p in a["top3"]))
                  for name, a in answers]
        first = {k: v for k, v in answers[0][1].items() if k != "message"} if answers else {}
        return first | {"message": "\n".join(lines)}

    def images(self) -> list[tuple[str, object, int | None]]:
        """What to read, as [(name, image, label or None)]: the drawing or the uploaded photos,
        whichever came last, else the default digit; prints which."""
        if self.drawing is not None and not (self.latest == "files" and self.uploads):
            print("your drawing")
            return [("your drawing", self.drawing, None)]
        if self.uploads:
            print("your photos:", ", ".join(name for name, _ in self.uploads))
            return [(name, image, None) for name, image in self.uploads]
        print(f"nothing drawn or uploaded: reading {self.default[0]} instead (draw above, then run this cell again)")
        return [self.default]


def _script() -> str:
    return (WEB_DIR / "ui.js").read_text()


_COLAB_GLUE = """
(() => {
  const root = document.createElement("div");
  document.body.appendChild(root);
  const call = async (name, args) => {
    const result = await google.colab.kernel.invokeFunction(name, args, {});
    return result.data["application/json"];
  };
  const ui = DigitUI.build(root, {
    onChange: async (ui, done) => {
      if (done) ui.show(await call("%(draw)s", [ui.isEmpty() ? null : ui.dataURL(), ui.isEmpty(), ui.strokes()]));
    },
    onFiles: async (files) => ui.show(await call("%(files)s", [files])),
  });
  ui.say("Draw a digit in the box, or choose photos. (While the notebook runs, the answer waits for it.)");
  google.colab.output.setIframeHeight(document.documentElement.scrollHeight, true);
})();
"""

_WIDGET_GLUE = """
export default {
  render({ model, el }) {
    const ui = DigitUI.build(el, {
      onChange: (ui, done) => {
        if (!done) return;
        model.set("strokes", ui.strokes());  // set with the drawing: Python reads both at once
        model.set("drawing", ui.isEmpty() ? "" : ui.dataURL());
        model.save_changes();
      },
      onFiles: (files) => { model.set("files", files); model.save_changes(); },
    });
    const show = () => ui.show(model.get("answer"));
    model.on("change:answer", show);
    show();
  },
};
"""


def _show_on_colab(pad: DrawPad) -> None:
    # heavy/optional: Colab's output bridge exists only on Colab; IPython is the notebook extra's
    from google.colab import output
    from IPython.display import JSON, Javascript, display

    output.register_callback(COLAB_DRAW, lambda url, empty, strokes=None: JSON(pad.receive_drawing(url, empty, strokes)))
    output.register_callback(COLAB_FILES, lambda files: JSON(pad.receive_files(files)))
    display(Javascript(_script() + _COLAB_GLUE % {"draw": COLAB_DRAW, "files": COLAB_FILES}))


_widget_class = None


def widget(pad: DrawPad):
    """The pad as a Jupyter widget (anywidget): its traits `drawing` and `files` come from the
    browser, `answer` goes back."""
    global _widget_class
    # heavy/optional: anywidget and traitlets, the notebook extra's, draw the pad in a local Jupyter only
    import anywidget
    import traitlets

    if _widget_class is None:
        class PadWidget(anywidget.AnyWidget):
            _esm = _script() + _WIDGET_GLUE
            drawing = traitlets.Unicode("").tag(sync=True)
            strokes = traitlets.List([]).tag(sync=True)
            files = traitlets.List([]).tag(sync=True)
            answer = traitlets.Dict({"message": "Draw a digit in the box, or choose photos."}).tag(sync=True)

            def __repr__(self):
                return "drawing pad (draw in a running notebook: JupyterLab, Notebook 7, VS Code or Colab)"
        _widget_class = PadWidget
    w = _widget_class()
    w.observe(lambda change: setattr(w, "answer", pad.receive_drawing(change.new, not change.new, w.strokes)),
              "drawing")
    w.observe(lambda change: setattr(w, "answer", pad.receive_files(change.new)), "files")
    return w


def show(model, default) -> DrawPad:
    """Show a drawing pad answered by `model` (see the module's docstring) and return at once.
    `default`: (name, image, label) that `images()` gives while nothing is drawn or uploaded."""
    # heavy/optional: IPython, the notebook extra's (a notebook has it)
    from IPython.display import display

    pad = DrawPad(model, default)
    try:
        # heavy/optional: google.colab exists only on Colab; this checks where the pad runs
        import google.colab  # noqa: F401
        on_colab = True
    except ImportError:
        on_colab = False
    if on_colab:
        _show_on_colab(pad)
        return pad
    try:
        display(widget(pad))
    except ImportError:
        print("No drawing pad here: it needs anywidget (pip install anywidget) in a local Jupyter; "
              "or draw in the web page (python -m effmnist_utils serve).")
    return pad
