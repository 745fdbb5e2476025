"""Time, peak memory and p_fake of ``mesocli scan`` on very large photos (JPEGs, PNGs, TIFFs, WebPs).

    .venv/bin/python benchmarks/large_photos.py [--shared ../shared] [--work build/large_photos]
                                                [--sides 4000,8000,12000,14200]
                                                [--megapixels 24,64,150,400] [--formats png,tif,webp,webpl]

Upscales the first face image of ``reference/test_images/df`` and of ``.../real`` (342×342 face crops
from FaceForensics++) to each side² (bicubic, JPEG quality 90; 14200² is 202 megapixels, over Pillow's
decompression-bomb limit), and a 900-px face pasted on an 8000×6000 plain background, into ``--work``
(made once); then scans each with ``mesocli scan FILE --format json`` in a process of its own under
``/usr/bin/time`` and prints its wall time, peak RSS, status, faces found and p_fake. Run it with a
checkout before and after a change to compare (``PYTHONPATH`` picks the source). About 1 min on 2 busy
cores. Figures: the report of the change that decodes large JPEGs reduced (docs/scan.md, "Images").

``--megapixels`` and ``--formats`` add scenes of each size in each lossless-or-other format: a face (the
real test image, a sixth of the longest side) pasted on a plain background, saved as PNG (zlib level 1),
TIFF (LZW, in strips of about 64 kB, as Pillow writes it), WebP (quality 90) and lossless WebP (``webpl``;
WebP holds at most 16383 px a side, so a larger one is left out), and two small "bombs": PNGs of one colour,
300 and 1,000 megapixels, whose files are under 1 MB. Making the 400 MP inputs takes a few minutes and about
2.5 GB of memory; ``--megapixels ''`` leaves them out.

Peak memory is that of the largest process: the scan's, or the ffmpeg it starts to decode a large WebP
(``/usr/bin/time`` reports the largest of a process and the children it waited for, not their sum); CPU time
(user and system, the scan's and its children's) is the fairer figure of speed on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def make_inputs(shared: Path, work: Path, sides: list[int]) -> list[Path]:
    """The upscaled photos (and the small face on a large background), made once."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None  # the photos over the limit are made here on purpose
    work.mkdir(parents=True, exist_ok=True)
    made = []
    for kind in ("df", "real"):
        source = sorted((shared / "reference" / "test_images" / kind).glob("*.jpg"))[0]
        face = Image.open(source).convert("RGB")
        for side in sides:
            path = work / f"{kind}{side}.jpg"
            if not path.exists():
                face.resize((side, side), Image.Resampling.BICUBIC).save(path, quality=90)
            made.append(path)
    scene = work / "scene8000.jpg"
    if not scene.exists():
        background = Image.new("RGB", (8000, 6000), (90, 110, 130))
        background.paste(face.resize((900, 900), Image.Resampling.BICUBIC), (3000, 2000))
        background.save(scene, quality=90)
    return [*made, scene]


def make_scenes(shared: Path, work: Path, megapixels: list[int], formats: list[str]) -> list[Path]:
    """A face pasted on a plain background, ``megapixels`` large, in each of ``formats``; and two PNG bombs."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None
    work.mkdir(parents=True, exist_ok=True)  # --sides '' makes no photos, nor the folder
    face = Image.open(sorted((shared / "reference" / "test_images" / "real").glob("*.jpg"))[0]).convert("RGB")
    options = {"png": {"compress_level": 1}, "tif": {"compression": "tiff_lzw"}, "webp": {"quality": 90},
               "webpl": {"lossless": True, "method": 0}}
    made = []
    for size in megapixels:
        width = round((size * 1e6 * 4 / 3) ** 0.5)  # 4:3
        height = round(width * 3 / 4)
        wanted = [work / (f"scene{size}mp-lossless.webp" if fmt == "webpl" else f"scene{size}mp.{fmt}")
                  for fmt in formats if not (fmt.startswith("webp") and width > 16383)]
        if not all(path.exists() for path in wanted):
            side = width // 6
            background = Image.new("RGB", (width, height), (90, 110, 130))
            background.paste(face.resize((side, side), Image.Resampling.BICUBIC), (width // 3, height // 3))
            for path in wanted:
                if not path.exists():
                    background.save(path, **options["webpl" if "lossless" in path.name else path.suffix[1:]])
            del background
        made += wanted
    for size in (300, 1000):
        path = work / f"bomb{size}mp.png"
        if not path.exists():
            _png_bomb(path, round((size * 1e6) ** 0.5))
        made.append(path)
    return made


def _png_bomb(path: Path, side: int) -> None:
    """A grey PNG ``side``² of one colour, written row by row: a small file that decodes to gigabytes."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer, row, parts = zlib.compressobj(9), b"\0" + bytes(side), []
    parts += [packer.compress(row) for _ in range(side)]
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts))
                     + chunk(b"IEND", b""))


def scan(path: Path) -> dict:
    """One scan in a process of its own: wall seconds, peak RSS (MB) and the result's fields."""
    with tempfile.TemporaryDirectory() as folder:
        timing = Path(folder) / "time"
        command = ["/usr/bin/time", "-f", "%e %U %S %M", "-o", str(timing), sys.executable, "-m", "mesocli", "scan",
                   str(path), "--format", "json"]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds, user, system, kilobytes = timing.read_text().split()[-4:]
        cpu = float(user) + float(system)
    if not done.stdout.strip():  # killed (out of memory) or crashed: no result line
        return {"seconds": float(seconds), "cpu": cpu, "peak_mb": int(kilobytes) / 1024,
                "status": f"rc={done.returncode}",
                "faces": 0, "p_fake": None, "error": done.stderr.strip().splitlines()[-1:]}
    (row,) = json.loads(done.stdout)
    return {"seconds": float(seconds), "cpu": cpu, "peak_mb": int(kilobytes) / 1024, "status": row["status"],
            "faces": row["frames"]["with_face"], "p_fake": row["p_fake"], "error": row["error"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("MESOCLI_SHARED", REPO.parent / "shared")))
    parser.add_argument("--work", type=Path, default=REPO / "build" / "large_photos")
    parser.add_argument("--sides", default="4000,8000,12000,14200")
    parser.add_argument("--megapixels", default="24,64,150,400")
    parser.add_argument("--formats", default="png,tif,webp,webpl")
    args = parser.parse_args()
    sides = [int(side) for side in args.sides.split(",") if side]
    paths = make_inputs(args.shared, args.work, sides) if sides else []
    paths += make_scenes(args.shared, args.work, [int(size) for size in args.megapixels.split(",") if size],
                         [fmt for fmt in args.formats.split(",") if fmt])
    print(f"{'input':<26} {'seconds':>8} {'CPU s':>7} {'peak MB':>8}  status   faces  p_fake")
    for path in paths:
        found = scan(path)
        p_fake = "" if found["p_fake"] is None else f"{found['p_fake']:.6f}"
        print(f"{path.name:<26} {found['seconds']:>8.2f} {found['cpu']:>7.2f} {found['peak_mb']:>8.0f}  "
              f"{found['status']:<8} "
              f"{found['faces']:>5}  {p_fake} {found['error'] or ''}")


if __name__ == "__main__":
    main()
