// The drawing pad and the answer beside it: one look and one pen for the web page (app.js) and
// for notebook 09's pad (effmnist_utils/drawpad.py inlines this file). A classic script, not a
// module, so that Colab's output frame can run it as it is; it defines globalThis.DigitUI.
(function () {
  const SIZE = 280;  // the pad's pixels (shown at 280 CSS pixels, or as wide as a phone allows)
  // The pen, for the eye: the page reads the paths, redrawn at MNIST's stroke width whatever size
  // they were drawn. Thin enough that a digit drawn a quarter of the pad's height keeps its holes
  // open, so that its pixels (notebook 09's uploads, `predict`) read as the paths do.
  const PEN = 12;

  const STYLE = `
.digit-ui { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start;
  font: 15px/1.4 system-ui, sans-serif; color: #222; }
.digit-ui .pad { width: ${SIZE}px; max-width: 80vw; aspect-ratio: 1; touch-action: none; box-sizing: border-box;
  border: 2px solid #444; border-radius: 4px; cursor: crosshair; background: #fff; display: block; }
.digit-ui .row { margin-top: 8px; display: flex; gap: 12px; align-items: center; flex-wrap: wrap; }
.digit-ui button { font: inherit; padding: 4px 14px; }
.digit-ui .field { width: 112px; height: 112px; image-rendering: pixelated; background: #000;
  border: 2px solid #444; display: block; }
.digit-ui .top3 { margin: 12px 0 0; padding: 0; list-style: none; font-variant-numeric: tabular-nums; }
.digit-ui .top3 li:first-child { font-size: 28px; font-weight: 600; }
.digit-ui .message { margin: 12px 0 0; max-width: 320px; white-space: pre-line; }
.digit-ui .took { margin: 4px 0 0; font-size: 12px; color: #777; }
.digit-ui .files { margin-top: 8px; font-size: 13px; }
/* A phone (the page, not a notebook): the answer above the pad, in a block of fixed height so
   that the pad never moves under the finger, and the pad as wide as the screen. */
@media (max-width: 600px) {
  .digit-ui.page { flex-direction: column; flex-wrap: nowrap; gap: 8px; align-items: stretch; }
  .digit-ui.page > .answer { order: -1; height: 128px; overflow: hidden; display: grid;
    grid-template-columns: 84px 1fr; grid-auto-rows: min-content; column-gap: 12px; }
  .digit-ui.page .answer .caption { display: none; }
  .digit-ui.page .answer > :not(.field) { grid-column: 2; }
  .digit-ui.page .field { width: 80px; height: 80px; grid-column: 1; grid-row: 1 / 4; }
  .digit-ui.page .top3, .digit-ui.page .message { margin: 0; }
  .digit-ui.page .top3 li:first-child { font-size: 26px; line-height: 1.15; }
  .digit-ui.page .pad { width: 100%; max-width: none; }
}`;

  function addStyle(doc) {
    if (doc.getElementById("digit-ui-style")) return;
    const style = doc.createElement("style");
    style.id = "digit-ui-style";
    style.textContent = STYLE;
    doc.head.appendChild(style);
  }

  function el(doc, tag, cls, text) {
    const node = doc.createElement(tag);
    if (cls) node.className = cls;
    if (text) node.textContent = text;
    return node;
  }

  /** Build the pad and the answer inside `root`. options.onChange(ui, done) is called when the
   * drawing changes: at most once per animation frame while a stroke is drawn (done = false) and
   * once when it ends or the pad is cleared (done = true). options.onFiles(files), if given, adds
   * a file input (several photos) and receives [{name, dataURL}]; options.page lays it out for
   * the web page (on a phone: the answer above a pad as wide as the screen). Returns the ui. */
  function build(root, options) {
    const doc = root.ownerDocument;
    addStyle(doc);
    const box = el(doc, "div", options.page ? "digit-ui page" : "digit-ui");
    const left = el(doc, "div", "drawing"), right = el(doc, "div", "answer");
    const pad = el(doc, "canvas", "pad");
    pad.width = pad.height = SIZE;
    pad.setAttribute("aria-label", "drawing pad: draw one digit");
    const row = el(doc, "div", "row");
    const clear = el(doc, "button", "clear", "Clear");
    row.appendChild(clear);
    left.append(pad, row);
    if (options.onFiles) {
      const label = el(doc, "label", "files", "or photos of digits: ");
      const input = el(doc, "input");
      input.type = "file";
      input.accept = "image/*";
      input.multiple = true;
      input.addEventListener("change", () => readFiles(input.files).then(options.onFiles));
      label.appendChild(input);
      left.appendChild(label);
    }
    right.appendChild(el(doc, "div", "caption", "What the model sees (28×28):"));
    const field = el(doc, "canvas", "field");
    field.width = field.height = 28;
    const top3 = el(doc, "ol", "top3");
    const message = el(doc, "p", "message");
    message.setAttribute("role", "status");
    const took = el(doc, "p", "took");
    right.append(field, top3, message, took);
    box.append(left, right);
    root.appendChild(box);

    const ctx = pad.getContext("2d", { willReadFrequently: true });
    let strokes = [], last = null, frame = 0;
    const ui = {
      pad, field, top3, message,
      isEmpty: () => strokes.length === 0,
      strokes: () => strokes.map((stroke) => stroke.map((point) => [...point])),  // pad pixels
      pixels: () => ctx.getImageData(0, 0, SIZE, SIZE),
      dataURL: () => pad.toDataURL("image/png"),
      clear() { blank(); notify(true); },
      show, say,
    };

    function blank() {
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, SIZE, SIZE);
      strokes = [];
    }
    function notify(done) {
      if (done) {
        cancelAnimationFrame(frame);
        frame = 0;
        options.onChange(ui, true);
      } else if (!frame) {
        frame = requestAnimationFrame(() => { frame = 0; options.onChange(ui, false); });
      }
    }
    function at(event) {  // pointer position in the pad's pixels, whatever size it is shown at
      const rect = pad.getBoundingClientRect();
      return [(event.clientX - rect.left) * SIZE / rect.width, (event.clientY - rect.top) * SIZE / rect.height];
    }
    function segment(a, b) {
      ctx.beginPath();
      ctx.moveTo(a[0], a[1]);
      ctx.lineTo(b[0], b[1]);
      ctx.stroke();
    }
    pad.addEventListener("pointerdown", (event) => {
      if (event.pointerType === "mouse" && event.button !== 0) return;
      event.preventDefault();
      pad.setPointerCapture(event.pointerId);
      ctx.lineWidth = PEN;
      ctx.lineCap = ctx.lineJoin = "round";
      ctx.strokeStyle = "#000";
      last = at(event);
      ctx.fillStyle = "#000";
      ctx.beginPath();  // a tap is a dot
      ctx.arc(last[0], last[1], PEN / 2, 0, 2 * Math.PI);
      ctx.fill();
      strokes.push([last]);
      notify(false);
    });
    pad.addEventListener("pointermove", (event) => {
      if (!last) return;
      const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
      for (const e of events.length ? events : [event]) {
        const p = at(e);
        segment(last, p);
        strokes[strokes.length - 1].push(p);
        last = p;
      }
      notify(false);
    });
    const end = () => {
      if (!last) return;
      last = null;
      notify(true);
    };
    pad.addEventListener("pointerup", end);
    pad.addEventListener("pointercancel", end);
    clear.addEventListener("click", () => ui.clear());
    blank();
    return ui;

    /** answer: {top3: [[digit, probability], ...], field: 784 values in [0, 1], ms} and/or
     * {message}, {reason}: the digits and the image the model saw, or a message instead of the
     * digits when there is a reason (the drawing is not one digit, or the model is not sure). */
    function show(answer) {
      top3.replaceChildren();
      const fctx = field.getContext("2d");
      fctx.clearRect(0, 0, 28, 28);
      say((answer && answer.message) || "");
      took.textContent = answer && answer.ms != null ? `read in ${answer.ms.toFixed(1)} ms` : "";
      if (!answer || !answer.field) return;
      for (const [digit, p] of answer.reason ? [] : answer.top3 || []) {
        const item = el(doc, "li", "", `${digit}  ${percent(p)}`);
        item.dataset.digit = digit;
        item.dataset.probability = p;
        top3.appendChild(item);
      }
      const image = fctx.createImageData(28, 28);
      answer.field.forEach((v, i) => {
        const g = Math.round(255 * v);
        image.data.set([g, g, g, 255], 4 * i);
      });
      fctx.putImageData(image, 0, 0);
    }
    function say(text) {
      message.textContent = text;
    }
  }

  /** A probability as a percentage to 0.1, never rounded to a certainty (prep.js's `percent`). */
  function percent(p) {
    const text = (100 * p).toFixed(1);
    return text === "100.0" ? "> 99.9 %" : text === "0.0" ? "< 0.1 %" : `${text} %`;
  }

  function readFiles(files) {
    return Promise.all(Array.from(files).map((file) => new Promise((resolve) => {
      const reader = new FileReader();
      reader.onload = () => resolve({ name: file.name, dataURL: reader.result });
      reader.onerror = () => resolve({ name: file.name, dataURL: "" });
      reader.readAsDataURL(file);
    })));
  }

  globalThis.DigitUI = { SIZE, PEN, build, percent };
})();
