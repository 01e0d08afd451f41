"""Use a trained model: load a recorded run, read your own digits, export to ONNX and to int8.

`onnx` and `onnxruntime` are an optional extra (`pip install -e ".[deploy]"`), imported only by
the functions that export, quantise or benchmark; loading a run and predicting need only torch.
The int8 model is statically quantised with onnxruntime's tools (QOperator format: QLinearConv
and friends, per-tensor scales, MinMax calibration on training images, never on test images),
and both ONNX files have their tensor names shortened and their annotations dropped, which for
a 7.6K-parameter model is a sizeable part of the file.
"""
from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import torch

from .verdict import PERCENTILE, limits, read_image, top_k  # noqa: F401 (top_k: deploy's name for it too)
from ..core.data import load_mnist
from ..core.loaders import normalise
from ..core.models import count_params
from ..core.record import RecordError, find_run, load_run

OPSET = 17
INT8_GOAL_BYTES = 12_000  # the goal for the int8 f8a file: "under 12 KB"
INT8_GOAL_POINTS = 0.10  # ... and at most this many accuracy points lost against fp32


class DeployError(RecordError):
    """A run, image or missing extra that the user can fix; the message says how."""


def _read(net, image, bounds):
    try:
        return read_image(net, image, bounds)
    except ValueError as exc:  # name the file, once
        raise DeployError(str(exc) if str(exc).startswith(str(image)) else f"{image}: {exc}") from None


def predict_files(images, model: str = "f8a", run: str | Path | None = None, why: str = "") -> str:
    """Prepare each image like MNIST (`digits.prepare_digit`), read it with the run at `run`
    (default: `model`'s recorded run with the lowest seed) and return one line per image: its
    digit and top 3, or why it is not read as a digit (`verdict`); after a line that names the
    model used and `why` (default: that it was the run or model asked for)."""
    why = why or ("the run given" if run is not None else "the model asked for")
    path = Path(run) if run is not None else find_run(model)
    net, record = load_run(path)
    bounds = limits(record["name"], net)
    answers = [_read(net, image, bounds) for image in images]  # any bad image fails before output
    lines = [f"model {record['name']} ({count_params(net):,} parameters, {path}; {why}); "
             f"a digit only at {bounds['confidence']:.1%} or more (percentile {PERCENTILE} on validation digits)"]
    lines += [f"{image}: {a.text()}" for image, a in zip(images, answers)]
    return "\n".join(lines)


def onnx_modules():
    """(onnx, onnxruntime), imported here (a heavy optional dependency: the deploy extra), or a
    DeployError that says how to install them."""
    try:
        # heavy/optional: onnx and onnxruntime are the deploy extra's; `predict` and the core run without them
        import onnx
        import onnxruntime
    except ImportError as exc:
        raise DeployError(f"{exc.name} is not installed; install the deploy extra: "
                          "pip install -e \".[deploy]\"") from None
    return onnx, onnxruntime


def _compact(path: Path) -> None:
    """Shorten every internal tensor name and drop names, docs and shape annotations that
    inference does not need; the graph's input `image` and output `log_probs` keep their names."""
    onnx = onnx_modules()[0]
    proto = onnx.load(path)
    graph, names = proto.graph, {}
    keep = {v.name for v in graph.input} | {v.name for v in graph.output}

    def short(name):
        return name if not name or name in keep else names.setdefault(name, format(len(names), "x"))
    for tensor in graph.initializer:
        tensor.name = short(tensor.name)
    for node in graph.node:
        node.input[:] = [short(n) for n in node.input]
        node.output[:] = [short(n) for n in node.output]
        node.name = node.doc_string = ""
    del graph.value_info[:], proto.metadata_props[:]
    used = {node.domain for node in graph.node} | {""}
    opsets = [o for o in proto.opset_import if o.domain in used]
    del proto.opset_import[:]
    proto.opset_import.extend(opsets)
    onnx.checker.check_model(proto)
    onnx.save(proto, path)


def export_onnx(model: torch.nn.Module, path: str | Path) -> Path:
    """Write `model` as float32 ONNX (opset 17, input `image` N x 1 x 28 x 28 with a dynamic batch,
    output `log_probs` N x 10); BatchNorm is folded into the convolutions."""
    onnx_modules()
    path = Path(path)
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated, not broken
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), torch.zeros(1, 1, 28, 28), path, dynamo=False,
                          opset_version=OPSET, input_names=["image"], output_names=["log_probs"],
                          dynamic_axes={"image": {0: "batch"}, "log_probs": {0: "batch"}})
    _compact(path)
    return path


def calibration_images(n: int = 1000, data_dir=None) -> torch.Tensor:
    """`n` training images (normalised, N x 1 x 28 x 28), a fixed random draw from the 60,000."""
    (train_x, _), _, _ = load_mnist(data_dir)
    pick = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(0))[:n]
    return normalise(train_x[pick])


def quantize_int8(fp32_path: str | Path, path: str | Path, calibration: torch.Tensor) -> Path:
    """Statically quantise an fp32 ONNX model to int8 (QOperator, per-tensor, uint8 activations,
    int8 weights), with activation ranges from the `calibration` images (MinMax)."""
    onnx_modules()
    # heavy/optional: onnxruntime, the deploy extra's (onnx_modules above says how to install it)
    from onnxruntime import quantization as q

    batches = iter([{"image": b.numpy()} for b in calibration.split(250)])

    class Reader(q.CalibrationDataReader):
        def get_next(self):
            return next(batches, None)
    with tempfile.TemporaryDirectory() as tmp:  # shape inference first, as onnxruntime advises
        prepared = Path(tmp) / "prepared.onnx"
        q.quant_pre_process(str(fp32_path), str(prepared))
        q.quantize_static(str(prepared), str(path), Reader(), quant_format=q.QuantFormat.QOperator,
                          per_channel=False, activation_type=q.QuantType.QUInt8,
                          weight_type=q.QuantType.QInt8, calibrate_method=q.CalibrationMethod.MinMax)
    _compact(Path(path))
    return Path(path)


def quantised_conv(fp32_path: str | Path, int8_path: str | Path, index: int = 0) -> dict:
    """One convolution's weights in both files, the `index`-th in the graph: {"weights": the
    fp32 file's (BatchNorm folded in), "int8": the int8 file's integers, "scale", "zero_point"
    (weight ~ scale * (int8 - zero_point)); numpy arrays and floats."""
    onnx = onnx_modules()[0]
    # heavy/optional: onnx, the deploy extra's (onnx_modules above says how to install it)
    from onnx import numpy_helper

    def convs(path, op):
        graph = onnx.load(path).graph
        values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        found = [[values.get(name) for name in node.input] for node in graph.node if node.op_type == op]
        if not -len(found) <= index < len(found):
            raise ValueError(f"{path}: {len(found)} {op} nodes, no convolution number {index}")
        return found[index]
    fp32, int8 = convs(fp32_path, "Conv"), convs(int8_path, "QLinearConv")
    # QLinearConv's inputs: x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, ...
    return {"weights": fp32[1], "int8": int8[3], "scale": float(int8[4]), "zero_point": int(int8[5])}


def export_run(run: str | Path, out_dir: str | Path = "exports", int8: bool = False,
               calibration: int = 1000, data_dir=None) -> dict[str, Path]:
    """Export a recorded run to `<out_dir>/<name>.onnx` and, with `int8`, `<name>.int8.onnx`
    (calibrated on `calibration` training images); returns {"fp32": path, ["int8": path]}."""
    model, record = load_run(run)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"fp32": export_onnx(model, out_dir / f"{record['name']}.onnx")}
    if int8:
        paths["int8"] = quantize_int8(paths["fp32"], out_dir / f"{record['name']}.int8.onnx",
                                      calibration_images(calibration, data_dir))
    return paths
