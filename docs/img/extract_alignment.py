"""Draw docs/img/extract_alignment.png: a tilted face, its landmarks and aligned square, and the crop.

    .venv/bin/python docs/img/extract_alignment.py

The photo is scikit-image's ``astronaut`` (Eileen Collins, NASA; public domain), turned by 20° so
that the alignment has something to undo. The crop is what ``mesocli extract`` writes for it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from skimage import data

from mesocli.align import landmark_points
from mesocli.faces import faces_in_image

OUT = Path(__file__).with_name("extract_alignment.png")
TILT = 20.0


def main() -> None:
    photo = Image.fromarray(data.astronaut()).rotate(TILT, Image.Resampling.BILINEAR, center=(222, 127),
                                                     fillcolor=(200, 200, 200))
    frame = photo.crop((32, 0, 432, 300))
    face = faces_in_image(np.asarray(frame))[0]
    scale = 1.5  # draw on a larger frame for thinner lines
    canvas = frame.resize((round(frame.width * scale), round(frame.height * scale)), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(canvas)
    corners = [tuple(p * scale) for p in face.geometry.corners()]
    draw.line([*corners, corners[0]], fill=(255, 210, 0), width=2)
    draw.line([corners[0], corners[1]], fill=(255, 80, 40), width=4)  # the crop's top edge
    for x, y in face.landmarks * scale:
        draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=(80, 220, 255))
    points = {name: p * scale for name, p in landmark_points(face.landmarks).items()}
    draw.line([tuple(points["E"]), tuple(points["B"])], fill=(255, 255, 255), width=2)
    draw.line([tuple(points["E1"]), tuple(points["E2"])], fill=(255, 255, 255), width=2)
    for name, (x, y) in points.items():
        draw.ellipse((x - 5, y - 5, x + 5, y + 5), outline=(0, 0, 0), fill=(255, 255, 255))
        draw.text((x + 7, y - 14 if name != "B" else y + 2), name, fill=(255, 255, 255), stroke_width=2,
                  stroke_fill=(0, 0, 0))
    crop = Image.fromarray(face.crop).resize((canvas.height, canvas.height), Image.Resampling.BICUBIC)
    figure = Image.new("RGB", (canvas.width + 24 + crop.width, canvas.height + 40), (255, 255, 255))
    figure.paste(canvas, (0, 0))
    figure.paste(crop, (canvas.width + 24, 0))
    text = ImageDraw.Draw(figure)
    text.text((8, canvas.height + 12), f"frame: face turned {TILT:.0f}°, found angle {face.angle:.1f}° "
              f"(photo's own {face.angle - TILT:+.1f}°), side {face.size:.0f} px", fill=(0, 0, 0))
    text.text((canvas.width + 32, canvas.height + 12), "aligned crop, 256 x 256", fill=(0, 0, 0))
    figure.save(OUT, optimize=True)
    print(f"wrote {OUT} ({figure.width}x{figure.height})")


if __name__ == "__main__":
    main()
