"""Using a trained model: your own digit (`digits`), the `predict` and `export` commands, ONNX
and int8 (`deploy`, `deploy_bench`). The ONNX tests need the [deploy] extra and skip without it."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from effmnist_utils.core.data import MEAN, STD
from effmnist_utils.core.config import RUNS_DIR
from effmnist_utils.core.record import RecordError, find_run, load_run
from effmnist_utils.use.deploy import top_k
from effmnist_utils.use.digits import as_drawing, centre_of_mass, prepare_digit, prepare_steps
from effmnist_utils.use import digits, drawpad, redraw, verdict
from effmnist_utils.use.browser import DIGIT_STROKES, NOT_ONE_DIGIT, sized
from helpers import CHECKOUT_ENV, PAD, SIZES, on_pad, render

RUN = RUNS_DIR / "f8a_seed1.json"  # recorded: read only
DIGITS = [3, 2, 1, 18, 4, 8, 11, 0, 61, 7]  # the test set's first image of each class 0..9


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "effmnist_utils", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=CHECKOUT_ENV)


def normalised(images_u8):
    return ((images_u8.float() / 255 - MEAN) / STD).unsqueeze(1)


@pytest.fixture(scope="module")
def f8a():
    return load_run(RUN)[0]


def test_a_drawn_digit_comes_back_as_mnist_prepared_it(mnist, f8a):
    """Each class's first test digit, upscaled to 200x200, black on white and off-centre with a
    margin, comes back close to the original 28x28 (mean pixel difference < 0.1 of the range),
    gets the same prediction, fits a 20x20 box and has its centre of mass within 1 px of the centre."""
    _, (test_x, test_y), _ = mnist
    assert test_y[DIGITS].tolist() == list(range(10))
    originals = test_x[DIGITS]
    prepared = []
    for k, digit in enumerate(originals):
        page = as_drawing(digit, size=200, box=120, at=(10 + 7 * k, 70 - 6 * k))
        assert page[0, 0] == 255 and page.mean() > 200  # black ink on white paper
        field = prepare_steps(page)[-1][1]
        assert field.shape == (28, 28)
        assert np.abs(field - digit.numpy() / 255).mean() < 0.1, k
        rows, cols = np.nonzero(field)
        assert max(np.ptp(rows), np.ptp(cols)) + 1 == 20
        assert all(abs(c - 13.5) <= 1 for c in centre_of_mass(field)), centre_of_mass(field)
        prepared.append(prepare_digit(page))
    original = [d for d, _ in (best[0] for best in top_k(f8a, normalised(originals)))]
    drawn = [d for d, _ in (best[0] for best in top_k(f8a, torch.cat(prepared)))]
    assert drawn == original == list(range(10))


def test_every_kind_of_input_gives_the_same_digit(mnist, tmp_path):
    """A path, a PIL image (RGB or transparent RGBA), a numpy array and a torch tensor of one
    drawing are prepared identically."""
    page = as_drawing(mnist[1][0][DIGITS[7]])
    path = tmp_path / "seven.png"
    Image.fromarray(page).save(path)
    rgba = np.zeros((*page.shape, 4), dtype=np.uint8)  # black ink on a transparent sheet
    rgba[..., 3] = 255 - page
    expected = prepare_digit(page)
    for source in (path, str(path), Image.open(path).convert("RGB"), Image.fromarray(rgba, "RGBA"),
                   torch.from_numpy(page), page.astype(np.float32) / 255):
        assert torch.allclose(prepare_digit(source), expected, atol=1e-6), type(source)


@pytest.mark.parametrize("image, says", [
    (np.full((50, 50), 255, np.uint8), "blank"),
    (np.zeros((50, 50), np.uint8), "blank"),
    (np.zeros((1, 1), np.uint8), "empty"),
    (np.zeros((4, 5, 6), np.uint8), "not a 2-D image"),
    ("no/such/file.png", "no such file"),
    (42, "not an image"),
])
def test_unusable_images_raise_a_clear_value_error(image, says):
    """Blank (white or black), empty, wrongly shaped, missing or non-image input: a ValueError."""
    with pytest.raises(ValueError, match=says):
        prepare_digit(image)


def test_the_default_run_is_the_lowest_seed_not_the_best(tmp_path):
    """`find_run` picks the lowest recorded seed even when another seed scored higher on the test
    set, and with no run it says how to get one."""
    for seed, acc in ((3, 0.999), (2, 0.990)):
        record = json.loads(RUN.read_text()) | {"name": f"f8a_seed{seed}", "seed": seed,
                                                 "final_test_acc": acc}
        (tmp_path / f"f8a_seed{seed}.json").write_text(json.dumps(record))
        shutil.copy(RUN.with_suffix(".pt"), tmp_path / f"f8a_seed{seed}.pt")
    assert find_run("f8a", tmp_path).name == "f8a_seed2.json"
    with pytest.raises(RecordError, match="no recorded run of f5s.*train f5s"):
        find_run("f5s", tmp_path)


@pytest.mark.slow
def test_predict_prints_the_digit_of_a_png(mnist, tmp_path):
    """`predict` on PNGs the test writes prints each one's expected digit with its top 3."""
    _, (test_x, _), _ = mnist
    paths = []
    for label in (4, 7):
        paths.append(tmp_path / f"my_{label}.png")
        Image.fromarray(as_drawing(test_x[DIGITS[label]], size=240, at=(90, 30))).save(paths[-1])
    result = cli("predict", *map(str, paths), "--run", str(RUN), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert "f8a_seed1" in lines[0]
    for line, label in zip(lines[1:], (4, 7)):
        assert line.startswith(f"{tmp_path / f'my_{label}.png'}: {label} ") and line.count("%") == 3, line


@pytest.mark.slow
@pytest.mark.parametrize("name, content, named", [
    ("missing.png", None, "no such file"),
    ("notes.png", b"not a picture", "not an image"),
    ("empty.png", b"", "not an image"),
    ("white.png", "white", "blank"),
])
def test_predict_bad_input_exits_non_zero_with_one_line(name, content, named, tmp_path):
    """A missing file, a file that is not an image, an empty file and a blank image each end
    `predict` with status 1 and one line naming the file and the problem."""
    path = tmp_path / name
    if content == "white":
        Image.new("L", (64, 64), 255).save(path)
    elif content is not None:
        path.write_bytes(content)
    result = cli("predict", str(path), cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert lines[0].startswith("error:") and named in lines[0] and name in lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("args, named", [
    (["--model", "f99"], "f99"),
    (["--run", "no/such/run.json"], "no/such/run.json"),
])
def test_predict_bad_run_exits_non_zero_with_one_line(args, named, mnist, tmp_path):
    """An unknown model or a missing run file: a non-zero exit and one line naming it."""
    Image.fromarray(as_drawing(mnist[1][0][0])).save(tmp_path / "d.png")
    result = cli("predict", "d.png", *args, cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1 and named in lines[0], result.stderr


@pytest.mark.slow
def test_onnx_fp32_equals_pytorch_and_int8_is_small(mnist, f8a, tmp_path):
    """The recorded f8a run exported to ONNX gives PyTorch's log-probabilities within 1e-4 on a
    batch; the int8 model is under 12,000 bytes and agrees with fp32 on almost every digit."""
    ort = pytest.importorskip("onnxruntime")
    from effmnist_utils.use.deploy import export_run

    paths = export_run(RUN, tmp_path, int8=True, calibration=500)
    x = normalised(mnist[1][0][:1000])
    with torch.inference_mode():
        expected = f8a(x)
    outputs = {k: ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
               .run(None, {"image": x.numpy()})[0] for k, p in paths.items()}
    assert np.abs(outputs["fp32"] - expected.numpy()).max() < 1e-4
    assert paths["int8"].stat().st_size < 12_000
    assert (outputs["int8"].argmax(1) == expected.argmax(1).numpy()).mean() >= 0.99


@pytest.mark.slow
def test_export_cli_prints_each_file_and_its_size(tmp_path):
    """`export --int8` writes both files to --out-dir and prints each path with its size in bytes."""
    pytest.importorskip("onnxruntime")
    result = cli("export", str(RUN), "--format", "onnx", "--int8", "--calibration", "200",
                 "--out-dir", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for line, name in zip(result.stdout.strip().splitlines(), ("f8a_seed1.onnx", "f8a_seed1.int8.onnx")):
        assert line.split()[1] == f"out/{name}"
        assert f"{(tmp_path / 'out' / name).stat().st_size:,} bytes" in line


@pytest.mark.slow
def test_benchmark_records_only_where_asked(tmp_path):
    """A small benchmark fills the three rows and the goals, and writes its JSON only to out_dir."""
    pytest.importorskip("onnxruntime")
    from effmnist_utils.use.deploy_bench import benchmark, load_benchmarks, render_deploy_table

    result = benchmark(RUN, tmp_path, images=500, latency_images=10, calibration=200)
    assert [r["runtime"] for r in result["rows"]] == ["PyTorch fp32", "ONNX Runtime fp32", "ONNX Runtime int8"]
    assert result["rows"][1]["same_digit_as_pytorch"] == 500 and result["goals"]["onnx_fp32_same_digit_everywhere"]
    assert load_benchmarks(tmp_path) == [json.loads(json.dumps(result))]
    table = render_deploy_table(result)
    assert table.count("| f8a_seed1 |") == 3 and "int8 file" in table


@pytest.mark.slow
def test_the_core_package_does_not_need_onnx(tmp_path):
    """Importing the package, `digits` and `deploy` loads neither onnx nor onnxruntime, and an
    export without them says which extra to install."""
    code = ("import sys; sys.modules['onnx'] = sys.modules['onnxruntime'] = None\n"
            "import effmnist_utils, effmnist_utils.use.digits, effmnist_utils.use.deploy as d\n"
            "try:\n    d.export_run(effmnist_utils.RUNS_DIR / 'f8a_seed1.json', sys.argv[1])\n"
            "except d.DeployError as e:\n    print(e)\n")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                            text=True, timeout=120, env=CHECKOUT_ENV)
    assert result.returncode == 0, result.stderr
    assert 'pip install -e ".[deploy]"' in result.stdout


def test_a_photos_exif_orientation_is_applied(tmp_path):
    """A phone stores an upright photo sideways with an EXIF orientation tag; the digit read from
    it must be the upright one, not the stored pixels turned by 90 degrees."""
    upright = np.full((60, 40), 255, np.uint8)
    upright[10:50, 8:14] = 0  # a stroke down the left and one across the top: not symmetric
    upright[10:16, 8:32] = 0
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 270 degrees (clockwise 90) to display
    stored.save(tmp_path / "photo.png", exif=exif)
    from_photo, expected = prepare_digit(tmp_path / "photo.png"), prepare_digit(upright)
    assert torch.allclose(from_photo, expected)
    assert not torch.allclose(prepare_digit(np.asarray(stored)), expected)  # the tag matters


def test_load_run_takes_the_weights_file_too():
    """Naming the run's .pt gives the same run as its .json (it used to fail with a UnicodeDecodeError)."""
    by_json, record = load_run(RUN)
    by_pt, again = load_run(RUN.with_suffix(".pt"))
    assert again == record
    assert all(torch.equal(a, b) for a, b in zip(by_json.state_dict().values(), by_pt.state_dict().values()))


def _scores(folder, variant, seeds, clean, chosen, held_out):
    from effmnist_utils.studies import robustness

    (folder / "robustness").mkdir(parents=True, exist_ok=True)
    fam = {f: (chosen if f in robustness.CHOSEN else held_out) for f in robustness.FAMILIES}
    for s in seeds:
        score = {"name": f"{variant}_seed{s}", "model": "f8a", "params": 7598, "seed": s, "split": "test",
                 "suite": robustness.SUITE, "clean": clean, "families": fam, **robustness.means(fam)}
        (folder / "robustness" / f"{variant}_seed{s}.json").write_text(json.dumps(score))


def test_predict_defaults_to_the_robust_model_only_when_it_meets_its_goal(tmp_path):
    from effmnist_utils.studies import robustness

    """The default model is f8a-robust when its scores meet the robustness goal, else f8a, and
    the reason is given; `find_run` finds a variant by its name."""
    _scores(tmp_path, "f8a", (1, 2, 3), 0.9956, 0.80, 0.60)
    _scores(tmp_path, "f8a-robust", (1, 2), 0.9955, 0.95, 0.90)
    name, why = robustness.predict_default(tmp_path)
    assert name == "f8a" and "seeds" in why  # two seeds are not enough
    _scores(tmp_path, "f8a-robust", (3,), 0.9955, 0.95, 0.90)
    name, why = robustness.predict_default(tmp_path)
    assert name == "f8a-robust" and "meets the robustness goal" in why
    for s in (2, 1):
        (tmp_path / f"f8a-robust_seed{s}.json").write_text(json.dumps({"name": f"f8a-robust_seed{s}", "seed": s}))
        (tmp_path / f"f8a-robust_seed{s}.pt").write_bytes(b"")
    (tmp_path / "f8a_seed1.json").write_text(json.dumps({"name": "f8a_seed1", "seed": 1}))
    (tmp_path / "f8a_seed1.pt").write_bytes(b"")
    assert find_run("f8a-robust", tmp_path).name == "f8a-robust_seed1.json"
    assert find_run("f8a", tmp_path).name == "f8a_seed1.json"


# --- any size of handwriting, and an honest answer (redraw, verdict) ---------------------------

@pytest.fixture(scope="module")
def limits():
    return verdict.limits("f8a_seed1")


def test_redrawn_paths_have_mnists_stroke_width(mnist):
    """The test's pen paths redrawn at PEN have the median stroke width (ink over skeleton length)
    of the validation digits, within 0.05 px, and none is thinner or thicker than 90 % of them."""
    from effmnist_utils.core.loaders import validation_split

    (images, _), _ = validation_split(*mnist[0], verdict.VALIDATION)
    mnist_widths = [redraw.stroke_width(f) for f in images.numpy().astype(np.float32) / 255]
    widths = [redraw.stroke_width(redraw.redraw_strokes(on_pad(DIGIT_STROKES[d]))) for d in range(10)]
    assert abs(np.median(widths) - np.median(mnist_widths)) <= 0.05, (np.median(widths), np.median(mnist_widths))
    low, high = np.quantile(mnist_widths, [0.05, 0.95])
    assert all(low <= w <= high for w in widths), (low, widths, high)


def test_redrawing_does_not_depend_on_the_size_drawn(f8a):
    """A path drawn from a quarter of the pad's height to all of it, anywhere: the same field
    (to float rounding), 20 px on its longer side, read as the digit drawn."""
    for digit in range(10):
        fields = [redraw.redraw_strokes(on_pad(sized(DIGIT_STROKES[digit], size), PAD)) for size in SIZES]
        fields.append(redraw.redraw_strokes(on_pad(DIGIT_STROKES[digit], (3, 150, 70, 70))))
        assert max(np.abs(f - fields[0]).max() for f in fields) < 1e-5, digit
        rows, cols = np.nonzero(fields[0])
        assert max(np.ptp(rows), np.ptp(cols)) + 1 == 20
        assert top_k(f8a, digits.as_input(fields[0]))[0][0][0] == digit


def test_predict_reads_pad_drawings_of_every_size_alike(f8a, limits, tmp_path):
    """The pad's pen (12 px) drawing each digit from a quarter of the pad's height to all of it,
    as pixels: `predict`'s preparation reads every one as the digit drawn."""
    for size in SIZES:
        read = [verdict.read_image(f8a, render(sized(DIGIT_STROKES[d], size), box=PAD), limits).digit
                for d in range(10)]
        assert read == list(range(10)), (size, read)


def test_what_is_not_one_digit_gets_a_message(f8a, limits, tmp_path):
    """A tap, a scribble, a box covered in ink and two digits side by side, as pixels (`predict`)
    or as the notebook pad's paths: a reason and its message, never a digit; `predict` says so
    on the file's line and exits 0."""
    for name, strokes in NOT_ONE_DIGIT.items():
        image = render(strokes, box=PAD)
        assert verdict.read_image(f8a, image, limits).reason in verdict.MESSAGES, name
        answer = drawpad.DrawPad(f8a, None).answer(image, on_pad(strokes, PAD))
        assert answer["reason"] in verdict.MESSAGES and answer["top3"] is None, name
        assert answer["message"] == verdict.MESSAGES[answer["reason"]]
        Image.fromarray(image).save(tmp_path / f"{name}.png")
    result = cli("predict", *(f"{name}.png" for name in NOT_ONE_DIGIT), "--run", str(RUN), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()[1:]
    assert [line.split(": ", 1)[1].startswith("no digit: ") for line in lines] == [True] * len(NOT_ONE_DIGIT), lines


def test_a_digit_the_model_is_not_sure_of_is_not_named(f8a, limits):
    """Half a 4 and half a 9, one over the other: the model's top probability is below the
    recorded threshold, and the answer is "unsure", with no digit; each alone is read."""
    four, nine = (redraw.redraw_strokes(on_pad(DIGIT_STROKES[d])) for d in (4, 9))
    both = verdict.answer(f8a, (four + nine) / 2, None, 0.0, limits)
    assert both.reason == "unsure" and both.digit is None and both.top3[0][1] < limits["confidence"]
    assert "no digit: Not sure" in both.text()
    assert [verdict.answer(f8a, f, None, 0.0, limits).digit for f in (four, nine)] == [4, 9]


def test_the_rules_refuse_almost_no_validation_digit():
    """Recorded: of the 5,000 validation digits the rules before the model refuse at most 0.1 %,
    and the 1st percentile's threshold is a probability a sure model reaches (above 50 %)."""
    recorded = json.loads(verdict.THRESHOLDS.read_text())
    assert sum(recorded["refused"].values()) <= 0.001 * verdict.VALIDATION
    assert 0.5 < recorded["confidence"]["f8a_seed1"]["threshold"] < 1 and recorded["pen"] == redraw.PEN


@pytest.mark.slow
def test_the_recorded_thresholds_are_what_derive_gives():
    """results/deploy/thresholds/validation.json is what `verdict.derive` computes today from the
    validation split: regenerating it gives the same numbers."""
    recorded = json.loads(verdict.THRESHOLDS.read_text())
    fresh = json.loads(json.dumps(verdict.derive()))
    assert fresh.keys() == recorded.keys() and fresh["refused"] == recorded["refused"]
    assert fresh["max_ink"] == pytest.approx(recorded["max_ink"], rel=1e-6)
    for name, entry in recorded["confidence"].items():
        assert fresh["confidence"][name]["threshold"] == pytest.approx(entry["threshold"], rel=1e-6)
        assert fresh["confidence"][name]["threshold"] == pytest.approx(entry["threshold"], rel=1e-6)
        assert {k: v for k, v in fresh["confidence"][name].items() if k != "threshold"} == \
            {k: v for k, v in entry.items() if k != "threshold"}
    assert recorded["confidence"]["f8a_seed1"]["from"] == "levers/f8a-v10k_seed1"  # never the run's own seen digits
    assert recorded["confidence"]["f8a_seed1"]["seen_in_training"] is False


def test_a_run_without_recorded_limits_gets_them_derived_from_the_validation_digits(f8a, mnist):
    """`limits` for a run not in the record: the 1st percentile of its model's top probability on
    the 5,000 validation digits (computed here independently); without a model it says so."""
    from effmnist_utils.core.loaders import normalise, validation_split

    (images, _), _ = validation_split(*mnist[0], verdict.VALIDATION)
    with torch.inference_mode():
        top = f8a.eval()(normalise(images)).exp().max(dim=1).values.double().numpy()
    derived = verdict.limits("f8a_elsewhere", f8a)
    assert derived["confidence"] == pytest.approx(float(np.percentile(top, 1)), rel=1e-9)
    assert derived["max_ink"] == verdict.limits("f8a_seed1")["max_ink"]
    with pytest.raises(ValueError, match="no confidence threshold recorded for f8a_elsewhere"):
        verdict.limits("f8a_elsewhere")
