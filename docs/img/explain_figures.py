"""Draw the pictures of docs/explain.md from the astronaut sample video only (no third-party clip).

    .venv/bin/python docs/img/explain_figures.py        # needs the test extras (scikit-image) and,
                                                        # for the screenshot, Chromium on the PATH

Writes, next to this file:

- ``explain_faces.jpg``: the most-fake and the most-real face of ``examples/astronaut.mp4`` with their
  Grad-CAM maps, as ``mesocli scan --explain`` writes them (bundled Meso4 df);
- ``explain_sanity.jpg``: the sanity checks of tests/test_explain.py made visible: a face whose mouth
  carries a forged texture, the map of a Meso4 trained to find it, and the map once the weights are
  randomised;
- ``report.jpg``: a headless-Chromium screenshot of the report of a mixed run (the sample video, a
  video without a face, a truncated file), reduced to a few hundred pixels wide.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests"))


def save_small(image: Image.Image, path: Path, width: int | None = None) -> None:
    """Save ``image`` reduced to ``width`` (PNG, or JPEG by the suffix): small enough for the repository.
    No palette reduction: it would band the colour scales."""
    if width and image.width > width:
        image = image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)
    image = image.convert("RGB")
    if path.suffix == ".jpg":
        image.save(path, quality=82, optimize=True, progressive=True)
    else:
        image.save(path, optimize=True)
    print(f"{path.relative_to(REPO)}: {path.stat().st_size // 1024} KB")


def faces_figure(work: Path) -> None:
    out = work / "faces"
    subprocess.run([sys.executable, "-m", "mesocli", "scan", REPO / "examples" / "astronaut.mp4", "--explain", out,
                    "--explain-top", "1", "-q", "--format", "json"], check=True, capture_output=True)
    panels = [Image.open(p) for p in sorted(out.rglob("*.png"))]
    sheet = Image.new("RGB", (panels[0].width, sum(p.height for p in panels) + 10 * (len(panels) - 1)), "white")
    y = 0
    for panel in panels:
        sheet.paste(panel, (0, y))
        y += panel.height + 10
    save_small(sheet, HERE / "explain_faces.jpg", width=480)


def sanity_figure() -> None:
    import test_explain as sanity

    from mesocli.explain import GradCam, overlay

    model = sanity.forgery_net.__wrapped__()
    face, _ = sanity.forged(np.random.default_rng(3), fake=True)
    trained = GradCam(model).explain(face[None], target="fake")[0]
    rng = np.random.default_rng(1)
    for layer in [la for la in model.layers if type(la).__name__ in ("Conv2D", "Dense")]:
        sanity.randomise(layer, rng)
    random = GradCam(model).explain(face[None], target="fake")[0]
    from PIL import ImageDraw

    from mesocli.explain import _font

    tiles = [(face, "forged texture on the mouth"),
             (overlay(face, trained.heat), f"trained: p_fake {trained.p_fake:.2f}"),
             (overlay(face, random.heat), "all weights randomised")]
    sheet = Image.new("RGB", (256 * 3 + 16, 256 + 24), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (tile, label) in enumerate(tiles):
        sheet.paste(Image.fromarray(tile), (i * 264, 0))
        draw.text((i * 264 + 4, 260), label, fill="black", font=_font(15))
    save_small(sheet, HERE / "explain_sanity.jpg", width=600)


def report_figure(work: Path) -> None:
    from media import MediaKit

    kit = MediaKit(work / "media")
    shutil.copy(REPO / "examples" / "astronaut.mp4", work / "astronaut.mp4")
    shutil.copy(kit.noface_video, work / "test_pattern.mp4")
    shutil.copy(kit.truncated, work / "truncated.mp4")
    report = work / "report.html"
    subprocess.run([sys.executable, "-m", "mesocli", "scan", "astronaut.mp4", "test_pattern.mp4", "truncated.mp4",
                    "--report", report.name, "--explain-top", "2", "-q", "--format", "json"],
                   capture_output=True, cwd=work)
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("no chromium on the PATH: report.png not redrawn")
        return
    shot = work / "shot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={work / 'profile'}", f"--screenshot={shot}", "--window-size=1280,2300",
                    report.as_uri()], check=True, capture_output=True)
    save_small(Image.open(shot), HERE / "report.jpg", width=760)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        faces_figure(work)
        sanity_figure()
        report_figure(work)


if __name__ == "__main__":
    main()
