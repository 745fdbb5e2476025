"""Heatmaps: Grad-CAM finds a forged region, dies when the weights are randomised, and `mesocli explain`.

The sanity checks follow Adebayo et al., *Sanity Checks for Saliency Maps* (NeurIPS 2018): a map that
still looks the same once the network's weights are random explains the image, not the network.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import RunCli, fresh_python
from media import MediaKit, face_crop
from PIL import Image

from mesocli.provenance import library_versions

# The forged region, in the 256x256 crop: the mouth and chin (rows, columns), 13.7 % of the pixels.
REGION = (112, 192, 72, 184)


def forged(rng: np.random.Generator, fake: bool) -> tuple[np.ndarray, np.ndarray]:
    """The face, lit a little differently and shifted by a few pixels; with ``fake``, the region carries a
    noise texture (a re-rendered mouth, as Face2Face makes). Returns the image and the region's mask."""
    y0, y1, x0, x1 = REGION
    image = np.asarray(face_crop(), np.float32) * rng.uniform(0.8, 1.2)
    if fake:
        image[y0:y1, x0:x1] += rng.normal(0.0, 24.0, (y1 - y0, x1 - x0, 3))
    mask = np.zeros((256, 256), bool)
    mask[y0:y1, x0:x1] = True
    shift = tuple(int(v) for v in rng.integers(-6, 7, 2))
    image, mask = np.roll(image, shift, (0, 1)), np.roll(mask, shift, (0, 1))
    return np.clip(image, 0, 255).astype(np.uint8), mask


@pytest.fixture(scope="module")
def forgery_net():
    """A real Meso4 trained here (a few seconds) to tell faces with a forged mouth from untouched ones."""
    from mesocli._tf import import_tensorflow
    from mesocli.models import build_model

    keras = import_tensorflow().keras
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    samples = [forged(rng, fake=i % 2 == 1)[0] for i in range(64)]
    p_real = np.array([0.0 if i % 2 else 1.0 for i in range(64)], np.float32)
    model = build_model("meso4")
    for layer in model.layers:  # batch-norm statistics that settle within 16 steps
        if type(layer).__name__ == "BatchNormalization":
            layer.momentum = 0.6
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    model.fit(np.stack(samples).astype(np.float32) / 255.0, p_real, batch_size=16, epochs=4, verbose=0)
    return model


def top_decile_inside(heat: np.ndarray, mask: np.ndarray) -> float:
    top = heat >= np.quantile(heat, 0.9)
    return float((top & mask).sum() / top.sum())


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if np.ptp(b) == 0 or np.ptp(a) == 0:  # an empty map has no ranks: nothing of the original is left
        return 0.0
    return float(spearmanr(a[::4, ::4].ravel(), b[::4, ::4].ravel()).statistic)


def randomise(layer, rng: np.random.Generator) -> None:
    """Re-draw a layer's kernel (Glorot-uniform, as Keras initialises it) and zero its bias."""
    kernel = layer.kernel
    receptive = int(np.prod(kernel.shape[:-2])) if len(kernel.shape) == 4 else 1
    fan_in, fan_out = kernel.shape[-2] * receptive, kernel.shape[-1] * receptive
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    kernel.assign(rng.uniform(-limit, limit, kernel.shape).astype(np.float32))
    layer.bias.assign(np.zeros(layer.bias.shape, np.float32))


def cascade(model, faces: np.ndarray, target: str) -> list[tuple[str, list[float]]]:
    """Adebayo's cascading randomisation: randomise the layers from the output down, one more at a time,
    and give each step's rank correlations with the original maps. The weights are restored afterwards."""
    from mesocli.explain import GradCam

    cam = GradCam(model)  # its graph reads the weight variables: it sees each change
    original = cam.explain(faces, target=target)
    saved = [[w.numpy() for w in layer.weights] for layer in model.layers]
    rng = np.random.default_rng(1)
    steps = []
    try:
        for layer in [la for la in model.layers if type(la).__name__ in ("Conv2D", "Dense")][::-1]:
            randomise(layer, rng)
            maps = cam.explain(faces, target=target)
            steps.append((layer.name, [rank_correlation(a.heat, b.heat) for a, b in zip(original, maps, strict=True)]))
    finally:
        for layer, weights in zip(model.layers, saved, strict=True):
            for variable, value in zip(layer.weights, weights, strict=True):
                variable.assign(value)
    return steps


@pytest.mark.slow
def test_the_heatmap_concentrates_on_the_forged_region(forgery_net) -> None:
    from mesocli.explain import GradCam

    rng = np.random.default_rng(7)
    fakes = [forged(rng, fake=True) for _ in range(6)]
    reals = [forged(rng, fake=False)[0] for _ in range(4)]
    cam = GradCam(forgery_net)
    assert cam.layer_name == "conv2d_4"
    maps = cam.explain(np.stack([f for f, _ in fakes]))
    assert all(m.target == "fake" and m.p_fake > 0.5 for m in maps), [m.p_fake for m in maps]
    assert all(m.p_fake < 0.5 for m in cam.explain(np.stack(reals)))
    inside = [top_decile_inside(m.heat, mask) for m, (_, mask) in zip(maps, fakes, strict=True)]
    # the region is 13.7 % of the face: a map blind to it would put about that share of its top decile there
    assert np.median(inside) >= 0.6 and min(inside) >= 0.4, inside


@pytest.mark.slow
def test_randomising_the_weights_destroys_the_map(forgery_net) -> None:
    from mesocli.explain import GradCam

    rng = np.random.default_rng(11)
    faces = [forged(rng, fake=True)[0] for _ in range(4)]
    # control: with the trained weights, maps of two different forged faces agree: the measure can be high
    first = GradCam(forgery_net).explain(np.stack(faces))
    again = GradCam(forgery_net).explain(np.stack([forged(rng, fake=True)[0] for _ in range(4)]))
    control = float(np.mean([rank_correlation(a.heat, b.heat) for a, b in zip(first, again, strict=True)]))
    assert control > 0.55, control
    steps = cascade(forgery_net, np.stack(faces), "fake")
    assert [name for name, _ in steps][:3] == ["dense_2", "dense_1", "conv2d_4"]
    # from the first randomised layer on, the maps no longer resemble the trained network's (a negative
    # correlation is a map turned around: no resemblance either) ...
    for name, correlations in steps:
        assert np.mean(correlations) < min(0.45, control - 0.25), (name, correlations, control)
    # ... and once every layer is random, nothing of them is left
    assert np.mean(np.abs(steps[-1][1])) < 0.45, steps[-1]


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["meso4", "mesoinception4"])
def test_bundled_networks_fail_their_randomised_selves(arch: str) -> None:
    from mesocli.explain import GradCam
    from mesocli.predictor import Predictor
    from mesocli.weights import resolve_model

    model = resolve_model(arch, "df", None).model
    face = np.asarray(face_crop())[None]
    (explanation,) = GradCam(model).explain(face)
    assert explanation.heat.shape == (256, 256) and explanation.heat.max() == pytest.approx(1.0)
    assert explanation.p_fake == pytest.approx(Predictor(model, 1, jit_compile=False).p_fake(face)[0], abs=1e-4)
    steps = cascade(model, face, explanation.target)
    # randomising the dense head alone may leave the map's layout (it comes from the last convolution's
    # activations; measured: 0.94 for the bundled Meso4 df); from the first random convolution on, it is gone
    conv_steps = [(name, correlation) for name, (correlation,) in steps if not name.startswith("dense")]
    assert conv_steps and conv_steps[0][0] == steps[len(steps) - len(conv_steps)][0]
    for name, correlation in conv_steps:
        assert correlation < 0.45, (arch, name, correlation)
    assert abs(steps[-1][1][0]) < 0.3, steps[-1]


def test_explain_command_writes_heatmaps_and_reports_bad_faces(
    run_cli: RunCli, tmp_path: Path, own_weights: Path
) -> None:
    faces = tmp_path / "faces"
    faces.mkdir()
    face_crop().save(faces / "a.png")
    face_crop().resize((180, 200)).save(faces / "b.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    out = tmp_path / "maps"
    code, stdout, stderr = run_cli("explain", faces, tmp_path / "broken.jpg", "--out", out, "--weights", own_weights)
    assert code == 3, stderr
    lines = [json.loads(line) for line in stdout.splitlines()]
    assert [line["status"] for line in lines] == ["ok", "ok", "error"]
    assert "not a readable image" in lines[2]["error"] and lines[2]["p_fake"] is None
    # each line names the bytes of the crop it explains (as scan's rows and extract's manifest do): a heatmap is
    # tied to its crop by content, not only by a path that a later run may fill with another crop
    assert [line["sha256"] for line in lines] == [hashlib.sha256(Path(line["path"]).read_bytes()).hexdigest()
                                                  for line in lines[:2]] + [None]
    for line in lines[:2]:
        with Image.open(line["heatmap"]) as image:
            assert image.format == "PNG" and image.height >= 256
        assert line["verdict"] == ("fake" if line["p_fake"] >= 0.5 else "real")
    code, _, stderr = run_cli("explain", faces, "--out", out, "--weights", own_weights)
    assert code == 2 and "exists; pass --force" in stderr
    code, _, _ = run_cli("explain", faces, "--out", out, "--weights", own_weights, "--force")
    assert code == 0
    code, stdout, stderr = run_cli("explain", faces, "--out", out, "--weights", own_weights, "--force", "--model", "df")
    assert (code, stdout, stderr) == (2, "", "mesocli: error: give --model or --weights, not both\n")
    crop = faces / "a.png"
    before = crop.read_bytes()  # its heatmap would be faces/a.png: the crop itself (it was overwritten)
    code, _, stderr = run_cli("explain", crop, "--out", faces, "--weights", own_weights, "--force")
    assert code == 2 and stderr == f"mesocli: error: {crop}: an output cannot be one of the inputs\n"
    assert crop.read_bytes() == before


def test_a_heatmap_panel_given_to_explain_is_explained_as_the_face_it_shows(run_cli: RunCli, tmp_path: Path,
                                                                            kit: MediaKit) -> None:
    """An analyst runs ``explain`` on the flagged face that ``scan --explain`` wrote: that file is a panel (crop,
    map, colour scale, caption), and the whole panel was squeezed to 256×256 and scored as a face (another p_fake,
    a map of the panel). Its crop is explained, with a note; a JPEG copy of the panel too; other images as before."""
    code, _, stderr = run_cli("scan", kit.face_jpeg, "--explain", tmp_path / "ex", "-q")
    assert code == 0, stderr
    (panel,) = sorted((tmp_path / "ex").glob("*/*.png"))
    with Image.open(panel) as image:
        image.convert("RGB").save(tmp_path / "copy.jpg", quality=85)  # the panel mailed on as a JPEG
        image.crop((0, 0, 256, 256)).save(tmp_path / "crop.png")  # the very crop the scan scored
    code, stdout, stderr = run_cli("explain", panel, tmp_path / "copy.jpg", tmp_path / "crop.png",
                                   "--out", tmp_path / "maps")
    assert code == 0, stderr
    from_panel, from_copy, from_crop = (json.loads(line) for line in stdout.splitlines())
    named = float(re.search(r"_pfake(\d\.\d{3})", panel.name).group(1))  # the score the scan gave this face
    assert abs(from_panel["p_fake"] - from_crop["p_fake"]) < 1e-5 and abs(from_panel["p_fake"] - named) <= 5e-4
    assert abs(from_copy["p_fake"] - from_crop["p_fake"]) < 0.05
    assert from_panel["sha256"] == hashlib.sha256(panel.read_bytes()).hexdigest()  # the file given, as ever
    # what was scored: the panel's crop (scan --detector none would score the whole panel), the crop file as given
    assert from_panel["scored_as"] == from_copy["scored_as"] != from_crop["scored_as"]
    assert from_panel["scored_as"].startswith("the face crop the heatmap panel shows (its left 256×256)")
    assert f"{panel}: a heatmap panel" in stderr and "copy.jpg: a heatmap panel" in stderr
    assert "crop.png" not in stderr
    with Image.open(from_panel["heatmap"]) as drawn, Image.open(from_crop["heatmap"]) as direct:
        assert np.array_equal(np.asarray(drawn)[:256, :256], np.asarray(direct)[:256, :256])


def test_a_heatmap_panel_resized_by_a_messenger_is_still_a_panel(run_cli: RunCli, tmp_path: Path,
                                                                 kit: MediaKit) -> None:
    """A panel that a messenger scaled to 0.5–0.8× (and re-encoded) was no longer told for one: the whole panel was
    squeezed into 256×256 and scored as a face. It is brought back to its size and its crop explained, with a note
    that says it was resized; an image of the same shape that is no panel is not taken for one."""
    from skimage import data

    code, _, stderr = run_cli("scan", kit.face_jpeg, "--explain", tmp_path / "ex", "-q")
    assert code == 0, stderr
    (panel,) = sorted((tmp_path / "ex").glob("*/*.png"))
    given = []
    with Image.open(panel) as image:
        image.crop((0, 0, 256, 256)).save(tmp_path / "crop.png")
        for scale, suffix in ((0.5, "jpg"), (0.62, "jpg"), (0.8, "png")):
            size = (round(image.width * scale), round(image.height * scale))
            given.append(tmp_path / f"sent{scale}.{suffix}")
            image.convert("RGB").resize(size, Image.Resampling.LANCZOS).save(given[-1], quality=85)
    Image.fromarray(data.coffee()).resize((346, 180)).save(tmp_path / "wide.png")  # a panel's shape, no panel
    code, stdout, stderr = run_cli("explain", tmp_path / "crop.png", *given, tmp_path / "wide.png",
                                   "--out", tmp_path / "maps")
    assert code == 0, stderr
    crop, *sent, wide = (json.loads(line) for line in stdout.splitlines())
    assert all(abs(line["p_fake"] - crop["p_fake"]) < 0.1 for line in sent), [line["p_fake"] for line in sent]
    for path, scale in zip(given, ("0.50", "0.62", "0.80"), strict=True):
        assert f"{path}: a heatmap panel (scan --explain, explain) resized to {scale}×: its face crop" in stderr
    assert "wide.png: a heatmap panel" not in stderr and wide["warnings"]  # scored as it is, with no face found


def test_an_image_without_a_face_is_explained_with_a_warning(run_cli: RunCli, tmp_path: Path,
                                                             own_weights: Path) -> None:
    """``explain`` on a photo of a cup of coffee drew a heatmap as if it were a face, and said nothing: a map of no
    face, read as evidence. It is still explained (a tight crop HOG misses is still a face), but its line's
    ``warnings``, its panel (in red, beside the map's note) and stderr say that no face was found in it; a face crop
    has none. The API's ``log`` hears the note too."""
    from skimage import data

    from mesocli import api

    Image.fromarray(data.coffee()).save(tmp_path / "coffee.jpg", quality=90)
    face_crop().save(tmp_path / "face.png")
    out = tmp_path / "maps"
    code, stdout, stderr = run_cli("explain", tmp_path / "face.png", tmp_path / "coffee.jpg", "--out", out,
                                   "--weights", own_weights)
    assert code == 0, stderr
    face, coffee = (json.loads(line) for line in stdout.splitlines())
    assert face["warnings"] == [] and face["status"] == coffee["status"] == "ok"
    assert coffee["warnings"] == ["no face found in it: the map may show nothing of a face"]
    assert stderr.splitlines() == [f"mesocli: {tmp_path / 'coffee.jpg'}: no face found in it: the map may show "
                                   "nothing of a face (explain takes face crops: extract's, or scan --explain's "
                                   "panels)"]
    with Image.open(coffee["heatmap"]) as warned, Image.open(face["heatmap"]) as plain:
        red = [np.asarray(image.convert("RGB"))[256:, :].astype(int) for image in (warned, plain)]
    reds = [int(((part[..., 0] > 150) & (part[..., 1] < 60) & (part[..., 2] < 60)).sum()) for part in red]
    assert reds[0] > 50 and reds[1] == 0  # the warning's red letters under the coffee's map only
    heard: list[str] = []
    lines = list(api.explain(tmp_path / "coffee.jpg", tmp_path / "api", weights=own_weights, log=heard.append))
    assert lines[0]["warnings"] and heard == [stderr.splitlines()[0]]


def test_the_no_face_mark_is_never_cut_short_beside_an_empty_map() -> None:
    """An image with no face whose map is empty (the note says ``(none found: the map is empty)``) had its red mark
    shortened in the middle, ``NO FACE …UND IN THIS IMAGE``, to fit beside that longer note. The mark is whole
    words: in full where it fits, else ``NO FACE FOUND``."""
    from PIL import ImageDraw

    from mesocli.explain import CAPTION_SIZE, Explanation, _font, face_panel

    face = np.asarray(face_crop())
    font, draw = _font(CAPTION_SIZE), ImageDraw.Draw(Image.new("RGB", (1, 1)))
    whole = {round(draw.textlength(text, font=font)) for text in ("NO FACE FOUND IN THIS IMAGE", "NO FACE FOUND")}
    for peak in (1.0, 0.0):  # a map, then an empty one (its note is longer)
        heat = np.full((256, 256), peak, dtype=np.float32)
        panel = face_panel(face, Explanation(0.0004, "real", heat, peak), "real · p_fake <0.001 · coffee.jpg",
                           no_face=True)
        below = np.asarray(panel)[256:].astype(int)
        red = np.flatnonzero(((below[..., 0] > 150) & (below[..., 1] < 60) & (below[..., 2] < 60)).any(axis=0))
        assert red.size and min(abs(red[-1] - red[0] + 1 - width) for width in whole) <= 5, (peak, red[[0, -1]])


def test_explain_lines_stay_one_line_whatever_the_names(run_cli: RunCli, tmp_path: Path, own_weights: Path) -> None:
    """As scan's JSON Lines: a crop named with a line separator (U+2028) or a right-to-left override split its
    line for ``str.splitlines()`` and read otherwise on a terminal; they are \\u escapes (the same JSON value)."""
    faces = tmp_path / "faces"
    faces.mkdir()
    name = "a\u2028b\u202egnp.png"
    face_crop().save(faces / name)
    code, stdout, stderr = run_cli("explain", faces, "--out", tmp_path / "maps", "--weights", own_weights)
    assert code == 0, stderr
    assert len(stdout.splitlines()) == 1 and "\\u2028" in stdout and "\\u202e" in stdout
    assert json.loads(stdout)["path"] == str(faces / name)


def test_importing_the_explain_modules_loads_no_tensorflow() -> None:
    _, modules = fresh_python("import mesocli.explain, mesocli.report, mesocli.evidence")
    assert not modules & {"tensorflow", "keras", "matplotlib"}


# dlib is loaded: explain asks HOG whether each crop shows a face (about 0.06 s of CPU for a one-face run)
NOT_FOR_EXPLAIN = {"matplotlib", "mesocli.api", "mesocli.scan", "mesocli.extract", "mesocli.evaluate", "sklearn",
                   "tensorflow"}


def test_explain_and_a_report_import_no_onnx_and_open_one_session(kit: MediaKit, tmp_path: Path) -> None:
    """``explain`` and ``scan --report`` imported the ``onnx`` package to read the graph's head (about 1-2 s a run,
    most of it its ml_dtypes) and opened a second ONNX Runtime session for the heatmaps' activations. The graph is
    read without it now, and the model's one session both scores and gives the activations."""
    code = f"""
import sys
import mesocli.runtime as runtime
from mesocli.cli import main
opened = []
session = runtime._session
runtime._session = lambda *args, **kwargs: opened.append(1) or session(*args, **kwargs)
for argv in (["explain", {str(kit.face_jpeg)!r}, "--out", {str(tmp_path / "maps")!r}],
             ["scan", {str(kit.face_jpeg)!r}, "--detector", "none", "--report", {str(tmp_path / "r.html")!r}, "-q"]):
    sys.argv = ["mesocli", *argv]
    try:
        main()
    except SystemExit as exc:
        print("exit", exc.code, "sessions", len(opened))
    print("loaded", *sorted(name for name in {sorted(NOT_FOR_EXPLAIN)!r} if name in sys.modules))
    opened.clear()
"""
    out, modules = fresh_python(code)
    assert [line for line in out.splitlines() if line.startswith("exit")] == ["exit 0 sessions 1"] * 2, out
    # explain's start-up: neither matplotlib (its colour table is read from its data) nor the API module with the
    # scan, extract and evaluate modules it imports (half a second to a second and a half of a one-face run)
    assert [line for line in out.splitlines() if line.startswith("loaded")][0] == "loaded", out
    assert (tmp_path / "maps" / "face.png").is_file() and (tmp_path / "r.html").is_file()
    assert "onnx" not in modules and "ml_dtypes" not in modules


def test_heatmap_colours_are_matplotlib_s_without_importing_it() -> None:
    """The viridis table was taken from ``matplotlib.colormaps``, whose import (rcParams, fonts, pyparsing) was a
    third of a one-face ``mesocli explain``. It is read from matplotlib's own listed table now, as data: the colours
    are those matplotlib's colour maps give, and a map that is not a listed one still comes from matplotlib."""
    from matplotlib import colormaps

    from mesocli import explain

    for name in ("viridis", "magma", "cividis", "jet"):
        table = colormaps[name]
        expected = np.rint(table(np.arange(table.N))[:, :3] * 255).astype(np.uint8)
        assert np.array_equal(explain._colours(name), expected), name
        assert (explain._listed_table(name) is None) == (name == "jet")


def test_a_colour_table_file_not_as_expected_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The listed table is read from matplotlib's ``_cm_listed.py`` as data; a file laid out otherwise must give None
    (the colours then come from ``matplotlib.colormaps``), not another map's table or wrong colours. A name bound to
    an expression took the next table in the file (``_viridis_data = _magma_data`` read the table after it), and
    0-255 values were taken as 0-1 ones (wrapped to other colours). A missing file, a zip and an unreadable file
    give None too."""
    import importlib.machinery
    import importlib.util

    from mesocli import explain

    package = tmp_path / "matplotlib"
    package.mkdir()
    spec = importlib.machinery.ModuleSpec("matplotlib", None, is_package=True)
    spec.submodule_search_locations = [str(package)]
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *_: spec)
    table = "[[0.1, 0.2, 0.3],\n [0.4, 0.5, 0.6]]"
    listed = package / "_cm_listed.py"
    assert explain._listed_table("viridis") is None  # no file
    listed.write_text(f"_magma_data = {table}\n_viridis_data = {table}\n", encoding="utf-8")
    assert explain._listed_table("viridis").tolist() == [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]  # the layout read
    for layout in (f"_magma_data = {table}\n_viridis_data = _magma_data\n_plasma_data = {table}\n",
                   "_viridis_data = np.array([[0.1, 0.2, 0.3],\n [0.4, 0.5, 0.6]])\n",
                   "_viridis_data = [[68, 1, 84],\n [253, 231, 37]]\n",
                   "_viridis_data = [[0.1, 0.2, 1e999],\n [0.4, 0.5, 0.6]]\n",
                   "_viridis_data = [[0.1, 0.2],\n [0.4, 0.5]]\n",
                   "_viridis_data = [[0.1, 0.2, 0.3],\n [0.4, 0.5]]\n",
                   b"\n_viridis_data = [[0.1, 0.2, 0.3],\n [0.4, 0.5, 0.\xff]]\n"):
        if isinstance(layout, bytes):
            listed.write_bytes(layout)
        else:
            listed.write_text("\n" + layout, encoding="utf-8")
        assert explain._listed_table("viridis") is None, layout
    listed.unlink()
    spec.submodule_search_locations = [str(tmp_path / "matplotlib.zip" / "matplotlib")]  # a zip-installed package
    (tmp_path / "matplotlib.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    assert explain._listed_table("viridis") is None


def test_the_graph_reader_reads_what_the_onnx_package_reads() -> None:
    """mesocli.onnx_proto reads a graph's nodes, constants and outputs as the ``onnx`` package does, and adds an
    output that ``onnx`` sees too; bytes that are not a model are a ValueError."""
    import onnx
    from onnx import helper, numpy_helper

    from mesocli.export import default_output
    from mesocli.onnx_proto import read_graph, with_output
    from mesocli.weights import bundled_weights_path

    data = default_output(bundled_weights_path("mesoinception4", "df"), "onnx").read_bytes()
    theirs, ours = onnx.load_from_string(data).graph, read_graph(data)
    assert [(n.op_type, list(n.input), list(n.output)) for n in theirs.node] == [
        (n.op_type, n.input, n.output) for n in ours.nodes]
    for node, mine in zip(theirs.node, ours.nodes, strict=True):
        expected = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        assert mine.attribute.keys() == expected.keys()
        for name, value in expected.items():
            assert mine.attribute[name] == pytest.approx(value), (node.name, name)
    assert ours.initializers.keys() == {t.name for t in theirs.initializer}
    for t in theirs.initializer:
        expected = numpy_helper.to_array(t)
        assert ours.initializers[t.name].dtype == expected.dtype and np.array_equal(ours.initializers[t.name], expected)
    assert ours.outputs == [o.name for o in theirs.output] == ["p_real", "p_fake"]
    extended = with_output(data, "conv2d_16_relu_43")
    assert [o.name for o in onnx.load_from_string(extended).graph.output] == ["p_real", "p_fake", "conv2d_16_relu_43"]
    assert read_graph(extended).outputs[-1] == "conv2d_16_relu_43"
    for junk in (b"", b"not an onnx model", data[: len(data) // 2]):
        with pytest.raises(ValueError):
            read_graph(junk)


@pytest.mark.parametrize("kind", ["text", "onnx", "other-arch"])
def test_explain_refuses_unusable_weights_before_any_face(kind: str, run_cli: RunCli, tmp_path: Path,
                                                          own_weights: Path) -> None:
    """The weights were loaded at the first face explained: an unreadable crop before it had its JSON line
    printed, then the weights error, exit 2: a half output. Now checked before any face, as scan does."""
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    face_crop().save(tmp_path / "a.png")
    weights, options, message = {
        "text": (tmp_path / "notes.h5", [], "not an HDF5 weights file"),
        "onnx": (tmp_path / "m.onnx", ["--runtime", "tensorflow"], "an exported ONNX model holds no Keras weights"),
        "other-arch": (own_weights, ["--arch", "mesoinception4"], "holds Meso4 weights, not MesoInception4"),
    }[kind]
    if kind == "text":
        weights.write_text("these are not weights\n")
    elif kind == "onnx":
        assert run_cli("export", own_weights, "--out", weights).code == 0
    out = tmp_path / "maps"
    result = run_cli("explain", tmp_path / "broken.jpg", tmp_path / "a.png", "--out", out, "--weights", weights,
                     *options)
    assert (result.code, result.out) == (2, "")
    assert result.error_line().startswith(f"{weights}: {message}")
    assert not out.exists()


def test_a_long_file_name_in_a_heatmap_caption_is_shortened_in_the_middle_not_cut_off() -> None:
    """``mesocli explain crops/`` with a long crop name: the caption was drawn past the panel's right edge,
    ``p_fake 0.123 · case_2024-11-03_evidence_item_17_camera_03_lobby_entrance_frame_00`` (the end, which tells
    the frame and face, lost). It is now shortened in the middle of the name with an ellipsis, inside the panel."""
    from mesocli.explain import Explanation, face_panel, fit_caption

    name = "case_2024-11-03_evidence_item_17_camera_03_lobby_entrance_frame_000235_face_0.jpg"
    caption = f"p_fake 0.123 · {name}"
    explanation = Explanation(0.123, "real", np.zeros((256, 256), np.float32), 0.0)
    panel = np.asarray(face_panel(np.asarray(face_crop()), explanation, caption))
    caption_row = panel[256 + 4:256 + 24]
    assert (caption_row[:, -6:] == 255).all()  # nothing drawn in the right margin: the text ends inside
    short = fit_caption(caption, panel.shape[1] - 12)
    assert short.startswith("p_fake 0.123 · case_2024") and short.endswith("frame_000235_face_0.jpg")
    assert "…" in short and len(short) < len(caption)
    fits = "p_fake 0.918 · frame 235 · 7.83 s · track 0"  # the report's captions: as they are
    assert fit_caption(fits, 564) == fits


def test_a_caption_shows_a_name_s_invisible_characters_as_escapes(run_cli: RunCli, tmp_path: Path,
                                                                  own_weights: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The report and the table write a right-to-left override as ``\\u202e`` (``evil\\u202egnp.jpg`` reads
    ``evilgpj.png`` otherwise); ``mesocli explain`` drew the raw name into the heatmap's caption."""
    import mesocli.explain as explain_module

    captions: list[str] = []
    real_panel = explain_module.face_panel
    monkeypatch.setattr(explain_module, "face_panel",
                        lambda face, explanation, caption, **kw: (captions.append(caption),
                                                                  real_panel(face, explanation, caption, **kw))[1])
    crop = tmp_path / "evil\u202egnp.jpg"
    face_crop().save(crop)
    code, _, stderr = run_cli("explain", crop, "--out", tmp_path / "maps", "--weights", own_weights)
    assert code == 0, stderr
    assert len(captions) == 1 and captions[0].endswith(" · evil\\u202egnp.jpg") and "\u202e" not in captions[0]


def test_explain_lines_name_the_detector(run_cli: RunCli, tmp_path: Path, own_weights: Path) -> None:
    """A heatmap and its score are evidence only with the detector that made them: every line (an error line
    before the first face too, when no model is loaded yet) has scan's ``model`` object, the weights' sha256 in
    full, and the ``threshold`` its verdict was taken at. Before, no line named the weights used."""
    from mesocli.digest import sha256_file
    from mesocli.weights import bundled_weights_path

    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    face_crop().save(tmp_path / "a.png")
    out = tmp_path / "maps"
    code, stdout, stderr = run_cli("explain", tmp_path / "broken.jpg", tmp_path / "a.png", "--out", out,
                                   "--weights", own_weights)
    assert code == 3, stderr
    lines = [json.loads(line) for line in stdout.splitlines()]
    assert [line["status"] for line in lines] == ["error", "ok"]
    wanted = {"arch": "meso4", "name": "meso4_test", "weights_sha256": sha256_file(own_weights)}
    assert [line["model"] for line in lines] == [wanted, wanted]
    assert [line["threshold"] for line in lines] == [0.5, 0.5]  # the verdict's, as in scan's rows
    # when each line was made, and with which runtime and libraries the map was drawn (not known before the network
    # is loaded: null on an error line that comes first)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", line["explained_at"]) for line in lines)
    assert [(line["runtime"], line["libraries"]) for line in lines] == [
        (None, None), ("onnx", library_versions("onnx", ("numpy", "Pillow", "dlib")))]
    # the no-face warning rests on dlib's detector: named as scan's rows name it (dlib-bin by its name)
    assert lines[1]["libraries"]["dlib"] == library_versions(None)["dlib"] is not None
    code, stdout, stderr = run_cli("explain", tmp_path / "a.png", "--out", tmp_path / "bundled", "--model", "f2f",
                                   "--threshold", "0.25")
    assert code == 0, stderr
    bundled = bundled_weights_path("meso4", "f2f")
    line = json.loads(stdout)
    assert line["model"] == {"arch": "meso4", "name": "meso4_f2f", "weights_sha256": sha256_file(bundled)}
    assert line["threshold"] == 0.25 and line["verdict"] == ("fake" if line["p_fake"] >= 0.25 else "real")


def test_explain_lines_name_the_mesocli_version(run_cli: RunCli, tmp_path: Path, own_weights: Path) -> None:
    """A heatmap cited as evidence names the software that drew it: scan's rows (``settings.mesocli``), a report's
    header and a ``--explain`` folder's ``input.json`` give mesocli's version, explain's lines gave the libraries'
    alone. Every line has it, an error line printed before the network was loaded too."""
    from mesocli import __version__

    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    face_crop().save(tmp_path / "a.png")
    code, stdout, stderr = run_cli("explain", tmp_path / "broken.jpg", tmp_path / "a.png", "--out", tmp_path / "maps",
                                   "--weights", own_weights)
    assert code == 3, stderr
    lines = [json.loads(line) for line in stdout.splitlines()]
    assert [(line["status"], line["mesocli"]) for line in lines] == [("error", __version__), ("ok", __version__)]
    from mesocli.provenance import code_digest

    assert [line["mesocli_code"] for line in lines] == [code_digest()] * 2  # which build of the version drew them


def _no_tensorflow(monkeypatch: pytest.MonkeyPatch) -> None:
    import mesocli._tf

    def refused() -> None:
        raise AssertionError("TensorFlow was imported by explain")

    monkeypatch.setattr(mesocli._tf, "import_tensorflow", refused)


def _pixels(path: str) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), np.int16)


def test_explain_needs_no_tensorflow_and_draws_what_keras_draws(run_cli: RunCli, tmp_path: Path, own_weights: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """``mesocli explain`` loaded TensorFlow and the Keras network (seconds, hundreds of MB) where scan's report
    no longer does: with the default runtime (onnx) it draws its maps from ONNX Runtime and NumPy; ``--runtime
    tensorflow`` keeps Keras. Both give the same lines and, to float32 rounding, the same heatmap files."""
    faces = tmp_path / "faces"
    faces.mkdir()
    face_crop().save(faces / "a.png")
    Image.fromarray(np.asarray(face_crop())[:, ::-1]).save(faces / "b.png")
    with monkeypatch.context() as patch:
        _no_tensorflow(patch)
        code, stdout, stderr = run_cli("explain", faces, "--out", tmp_path / "onnx", "--weights", own_weights)
    assert code == 0, stderr
    ours = [json.loads(line) for line in stdout.splitlines()]
    code, stdout, stderr = run_cli("explain", faces, "--out", tmp_path / "keras", "--weights", own_weights,
                                   "--runtime", "tensorflow")
    assert code == 0, stderr
    theirs = [json.loads(line) for line in stdout.splitlines()]
    assert len(ours) == len(theirs) == 2
    assert {(line["runtime"], tuple(line["libraries"])) for line in ours + theirs} == {
        ("onnx", ("onnxruntime", "numpy", "Pillow", "dlib")),
        ("tensorflow", ("tensorflow", "keras", "numpy", "Pillow", "dlib"))}
    for a, b in zip(ours, theirs, strict=True):
        assert a["p_fake"] == pytest.approx(b["p_fake"], abs=1e-5)
        assert {k: a[k] for k in ("path", "status", "verdict", "target", "model", "threshold")} == {
            k: b[k] for k in ("path", "status", "verdict", "target", "model", "threshold")}
        mine, keras = _pixels(a["heatmap"]), _pixels(b["heatmap"])
        assert mine.shape == keras.shape and np.abs(mine - keras).max() <= 2, np.abs(mine - keras).max()


def test_an_exported_onnx_file_is_explained_and_a_graph_mesocli_did_not_build_is_refused(
    run_cli: RunCli, tmp_path: Path, own_weights: Path, kit: MediaKit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ``.onnx`` written by ``mesocli export`` was refused by ``explain`` and by ``scan --report``/``--explain``
    (no Keras weights to draw with). Its own graph now draws the maps, without TensorFlow: the lines and scores of
    the weights it was exported from. A graph mesocli did not build (here: a node put between its Flatten and its
    dense layer, its model card kept) is still refused, in one line, before any face or scan, with nothing written."""
    import onnx
    from onnx import helper

    from mesocli.runtime import load_onnx

    exported = tmp_path / "mine.onnx"
    assert run_cli("export", own_weights, "--out", exported).code == 0
    face = tmp_path / "a.png"
    face_crop().save(face)
    _no_tensorflow(monkeypatch)
    code, stdout, stderr = run_cli("explain", face, "--out", tmp_path / "maps", "--weights", exported)
    assert code == 0, stderr
    line = json.loads(stdout)
    assert line["status"] == "ok" and line["model"] == load_onnx(exported).describe()
    code, stdout, _ = run_cli("explain", face, "--out", tmp_path / "maps2", "--weights", own_weights)
    assert line["p_fake"] == pytest.approx(json.loads(stdout)["p_fake"], abs=1e-5)
    assert np.abs(_pixels(line["heatmap"]) - _pixels(json.loads(stdout)["heatmap"])).max() <= 2
    report, folder = tmp_path / "r.html", tmp_path / "explained"
    code, stdout, stderr = run_cli("scan", kit.face_jpeg, "--weights", exported, "--report", report, "--explain",
                                   folder, "-q", "--format", "json")
    assert code == 0, stderr + stdout
    assert "The face" in report.read_text(encoding="utf-8") and list(folder.rglob("*.png"))

    graph = onnx.load(str(exported))
    (flatten,) = [node for node in graph.graph.node if node.op_type == "Flatten"]
    for node in graph.graph.node:
        node.input[:] = ["flat_copy" if name == flatten.output[0] else name for name in node.input]
    at = list(graph.graph.node).index(flatten) + 1  # kept in topological order
    graph.graph.node.insert(at, helper.make_node("Identity", [flatten.output[0]], ["flat_copy"]))
    foreign = tmp_path / "edited.onnx"
    onnx.save(graph, str(foreign))
    assert load_onnx(foreign).predictor().p_fake(np.asarray(face_crop())[None]).shape == (1,)  # it runs
    message = f"{foreign}: its graph is not one mesocli builds (no Gemm after Flatten)"
    result = run_cli("explain", face, "--out", tmp_path / "no", "--weights", foreign)
    assert (result.code, result.out) == (2, "") and result.error_line().startswith(message)
    assert not (tmp_path / "no").exists()
    result = run_cli("scan", kit.face_jpeg, "--weights", foreign, "--report", tmp_path / "no.html", "-q")
    assert (result.code, result.out) == (2, "") and result.error_line().startswith(message)
    assert not (tmp_path / "no.html").exists()


def test_an_explain_line_s_sha256_names_the_bytes_explained_even_if_the_crop_is_replaced(
        run_cli: RunCli, tmp_path: Path, own_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The crop was decoded, then hashed by reading its file again: a crop replaced between the two (another
    crop written over it by a pipeline) got the new bytes' sha256 on the line of the face explained. Now the
    bytes are read once, and hashed and decoded from that one read."""
    import mesocli.preprocess

    crop = tmp_path / "a.png"
    face_crop().save(crop)
    explained = crop.read_bytes()
    decode = mesocli.preprocess.face_to_uint8

    def decoded_then_replaced(image: Any, *args: Any) -> np.ndarray:
        face = decode(image, *args)
        Image.fromarray(np.asarray(face_crop())[:, ::-1]).save(crop)  # another crop, once these bytes are decoded
        return face

    monkeypatch.setattr(mesocli.preprocess, "face_to_uint8", decoded_then_replaced)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    code, stdout, stderr = run_cli("explain", crop, broken, "--out", tmp_path / "maps", "--weights", own_weights)
    assert code == 3, stderr
    assert crop.read_bytes() != explained
    line, bad = map(json.loads, stdout.splitlines())
    assert line["sha256"] == hashlib.sha256(explained).hexdigest()
    # decoded from the bytes read, a file Pillow cannot identify is still named by its path, not by a buffer
    assert bad["error"] == f"{broken}: not a readable image (cannot identify image file {str(broken)!r})"


def _field(number: int, wire: int, payload: bytes | int) -> bytes:
    """One protobuf field: a varint (``wire`` 0) or length-delimited bytes (``wire`` 2)."""

    def varint(value: int) -> bytes:
        out = bytearray()
        while value >= 0x80:
            out.append(value & 0x7F | 0x80)
            value >>= 7
        return bytes([*out, value])

    body = varint(payload) if isinstance(payload, int) else varint(len(payload)) + payload
    return varint(number << 3 | wire) + body


def _initializer(*fields: bytes) -> bytes:
    """A ModelProto whose graph holds one initializer of these fields."""
    return _field(7, 2, _field(5, 2, b"".join(fields)))


@pytest.mark.parametrize("model", [
    _initializer(_field(1, 0, 1), _field(2, 0, 10), _field(5, 0, 70000)),  # float16 bits over 16: OverflowError
    _initializer(_field(1, 0, 1), _field(2, 0, 6), _field(5, 0, 1 << 40)),  # int32 out of range
    _initializer(_field(8, 0, 5)),  # a name that is a number: AttributeError
    _field(7, 2, _field(1, 2, _field(5, 2, _field(1, 2, b"alpha") + _field(2, 2, b"")))),  # no float: IndexError
    _field(7, 2, _field(1, 2, _field(5, 2, _field(3, 2, b"\x01")))),  # an int that is bytes: TypeError
    _field(7, 2, _field(1, 2, _field(1, 0, 3))),  # a node's input that is a number
], ids=["float16-range", "int32-range", "name-number", "float-empty", "int-bytes", "input-number"])
def test_a_malformed_graph_is_a_value_error(model: bytes) -> None:
    """Found in review: fields of another wire type than their own, and numbers out of their type's range, raised
    AttributeError, TypeError, IndexError or OverflowError from the graph reader (a traceback), not ValueError."""
    from mesocli.onnx_graph import read_head

    with pytest.raises(ValueError, match="not a MesoNet graph"):
        read_head(model, "m.onnx")


def test_bundled_graphs_cut_or_with_bits_flipped_are_a_value_error() -> None:
    """The graph reader given a bundled graph cut short or with a few bits flipped (seeded) raises ValueError or
    reads it, nothing else (its first 4 KB, where the nodes are, flipped most)."""
    import random

    from mesocli.onnx_graph import read_head
    from mesocli.weights import bundled_dir

    rng = random.Random(40)
    for path in sorted(bundled_dir().glob("*.onnx")):
        data = path.read_bytes()
        for _ in range(150):
            changed = bytearray(data[: rng.randrange(1, len(data))] if rng.random() < 0.2 else data)
            for _ in range(rng.randrange(1, 4)):
                changed[rng.randrange(min(len(changed), 4096))] ^= 1 << rng.randrange(8)
            with contextlib.suppress(ValueError):
                read_head(bytes(changed), path.name)


def test_explain_resizes_a_crop_as_the_authors_loader_for_their_weights(tmp_path: Path, authors_weights: Path) -> None:
    """A crop not 256×256 reaches the authors' Meso4_DF.h5 nearest-resized, as their Keras loader did, and the line
    says so; bundled weights whose card says bilinear (meso4_f2f) read it bilinear."""
    from mesocli.explain import explain_inputs
    from mesocli.runtime import make_predictor, resolve

    crop = Image.fromarray(np.random.default_rng(3).integers(0, 256, (47, 61, 3), dtype=np.uint8))
    crop.save(tmp_path / "crop.png")
    for weights, model, resample in ((authors_weights / "Meso4_DF.h5", "df", Image.Resampling.NEAREST),
                                     (None, "f2f", Image.Resampling.BILINEAR)):
        out = tmp_path / resample.name
        chosen = {"weights": weights} if weights else {"model": model}
        (line,) = explain_inputs([tmp_path / "crop.png"], out, **chosen)
        loaded = resolve("meso4", model, weights)
        scores = {way: float(make_predictor(loaded).p_fake(np.asarray(crop.resize((256, 256), way))[None])[0])
                  for way in (Image.Resampling.NEAREST, Image.Resampling.BILINEAR)}
        assert abs(scores[Image.Resampling.NEAREST] - scores[Image.Resampling.BILINEAR]) > 1e-3  # they tell apart
        assert line["p_fake"] == pytest.approx(scores[resample], abs=1e-5)
        assert line["resize"] == resample.name.lower()


def test_the_no_face_check_looks_at_the_crop_the_weights_see(tmp_path: Path, authors_weights: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """explain's no-face check (HOG on the 256×256 crop) looks at the crop as the weights resize it, the one scored
    and drawn in the panel: nearest for the authors' Meso4_DF.h5. It looked at the bilinear crop whatever the
    weights, so that a crop could be warned of (or not) on pixels the network never saw."""
    import mesocli.faces
    from mesocli.explain import explain_inputs

    checked: list[np.ndarray] = []
    real_check = mesocli.faces.face_in_crop

    def spy(crop: np.ndarray) -> bool:
        checked.append(np.array(crop))
        return real_check(crop)

    monkeypatch.setattr(mesocli.faces, "face_in_crop", spy)
    crop = face_crop(300).resize((170, 190))
    crop.save(tmp_path / "face.png")
    (line,) = explain_inputs([tmp_path / "face.png"], tmp_path / "out", weights=authors_weights / "Meso4_DF.h5")
    nearest = np.asarray(crop.resize((256, 256), Image.Resampling.NEAREST))
    assert np.abs(nearest.astype(int) - np.asarray(crop.resize((256, 256), Image.Resampling.BILINEAR))).max() > 0
    assert len(checked) == 1 and np.array_equal(checked[0], nearest)
    assert line["resize"] == "nearest" and line["warnings"] == []  # the face is found on it


@pytest.mark.parametrize("faces", ["missing", "empty"])
def test_the_explain_share_benchmark_refuses_a_faces_folder_without_faces_in_one_line(
        faces: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``benchmarks/explain_share.py --faces DIR`` with no ``<clip>_<frame>.jpg`` in DIR (a wrong or empty folder)
    ended in an IndexError traceback: it is refused in one line, before any model is loaded."""
    import runpy
    import sys

    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no faces")
    monkeypatch.setattr(sys, "argv", ["explain_share.py", "--faces", str(tmp_path / faces)])
    with pytest.raises(SystemExit) as stopped:
        runpy.run_path(str(Path(__file__).resolve().parents[1] / "benchmarks" / "explain_share.py"),
                       run_name="__main__")
    assert str(stopped.value.code) == f"error: no faces named <clip>_<frame>.jpg in {tmp_path / faces}"


def test_explain_says_it_scored_the_file_as_given_as_scan_does_with_no_detector(
        run_cli: RunCli, tmp_path: Path, own_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``explain`` scores the file itself as the face crop (no face detection, no alignment); ``scan`` finds the face
    and aligns it, so the two gave different p_fake for one image (0.759 against 0.612 for the authors' df00204.jpg)
    and nothing said why. Each line's ``scored_as`` and the panel's caption now say it; ``scan --detector none``
    scores a file as explain does, to the same p_fake."""
    import mesocli.explain as explain_module

    captions: list[str] = []
    real_panel = explain_module.face_panel
    monkeypatch.setattr(explain_module, "face_panel",
                        lambda face, explanation, caption, **kw: (captions.append(caption),
                                                                  real_panel(face, explanation, caption, **kw))[1])
    crop = tmp_path / "face.png"
    face_crop().save(crop)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    code, stdout, stderr = run_cli("explain", tmp_path / "broken.jpg", crop, "--out", tmp_path / "maps",
                                   "--weights", own_weights)
    assert code == 3, stderr
    error, line = (json.loads(text) for text in stdout.splitlines())
    assert error["status"] == "error" and error.get("scored_as", "missing") is None  # not scored at all
    assert line.get("scored_as") == ("the file as given (a face crop: no face detection or alignment, as scan "
                                     "--detector none)"), line
    assert captions == [f"p_fake {line['p_fake']:.3f} · scored as given, no face detection · face.png"], captions
    code, stdout, stderr = run_cli("scan", crop, "--detector", "none", "--weights", own_weights, "-q", "--format",
                                   "json")
    assert code == 0, stderr
    assert json.loads(stdout)[0]["p_fake"] == line["p_fake"]
