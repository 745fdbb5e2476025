"""Cut detection (:class:`mesocli.tracking.Shots`): the cuts found at the sampled frames of real and made clips.

    .venv/bin/python benchmarks/cuts.py [--shared ../shared] [--modes 30,all] [--train] [--work DIR] [--keep]

For each case and each sampling (``30``: ``--frames 30``; ``all``: every frame; ``fpsN``: ``--fps N``),
the sampled frames where a cut is found, and against the known cuts: real cuts caught / missed and false
cuts (a cut found anywhere else). A hard cut at frame c is caught by a cut found at the first sampled
frame at or after c; a transition (dissolve, fade) from frame a to frame b by one found at a sampled frame
in [a, b] or at the first one after b (more than one there count once). Cases:

- ``shared``: the 8 labelled clips of ``videos/``; only ``real/plain_hamilton_clip.mp4`` has cuts (hard
  cuts at frames 20, 82 and 211);
- ``ffpp``: the 36 FF++ c23 test clips (``data/ffpp-c23/test``), no cut in any; with ``--train`` also
  ``train``: the 35 FF++ train originals;
- made here with the bundled ffmpeg in a temporary folder (removed unless ``--keep``; nothing is
  committed): the hamilton clip darkened to 30 % and 50 % (``lutyuv``: luma above black and chroma
  scaled, as RGB times 0.3 / 0.5); six pairs of FF++ test originals (two people) at 640×360, 25 fps
  joined by a hard cut (``concat``), by a 1-second cross-dissolve (``xfade=fade``) and by a 1-second
  fade through black (``xfade=fadeblack``); and two kinds of non-cut, each of originals 055 and 183: panned
  across fast (``pan``: a half-size window sliding over the whole width in 2.5 s; ``pan2x``: in 1.25 s;
  ``pandown``: down the whole height in 1.25 s; ``pandiag``: across and down in 2.5 s), a 6-frame flash
  (brightness +0.35), and zoomed or turned (``zoompan``, ``rotate``; 640×360, 25 fps): ``zoomin`` 1 to 1.6× in
  1 s, ``zoomout`` 1.6 to 1× in 1 s (about the centre), ``roll`` turned by 15° in 1 s, ``zoomroll`` zoomed
  1 to 1.4× and turned by -10° in 1 s (``roll`` and ``zoomroll`` then cropped to the central 60 %: no corners).

Also, for each sampling, the cuts found between clips: every pair "last sampled frame of one clip, first
sampled frame of another" of the real clips above (shared, ffpp, train) showing two scenes (an FF++ fake
shows its target video's scene: ``055_147`` and ``055`` are one), each compared as a hard cut.

Also the cost of :meth:`Shots.cut` a frame at 1920×1080, 30 fps: the thumbnail and the comparisons, in a
fast pan (where a dissolve is tested for at every chance) and in a still shot; and of the comparisons a
sampled frame in the made pans at each sampling (at ``fps5`` every sample moved by 2.5 to 5 thumbnail cells).
Runs against older mesocli too (then each sampled frame is compared with the previous one by
``is_cut``), for a before/after table: ``PYTHONPATH=<old>/src python benchmarks/cuts.py``.
``--modes fps2.5,fps2`` samples the made pans further apart than a quarter of the picture (``pan2x`` and
``pandown`` move by 10 and 13 thumbnail cells a sample). Thumbnails are cached in ``--work`` (``thumbs/``) so
that a re-run with ``--keep`` decodes nothing. About 3
minutes on 2 busy cores for ``--modes 30,all,fps5 --train`` (most of it decoding), and 1.5–3 minutes more a sampling
for the cross-clip pairs (each a cut, so each pays the zoom test). Results: docs/extract.md,
"Cuts end every track".
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
HAMILTON = "videos/real/plain_hamilton_clip.mp4"
HAMILTON_CUTS = (20, 82, 211)
PAIRS = (("055", "147"), ("183", "253"), ("585", "599"), ("644", "657"), ("828", "830"), ("917", "924"))
JOIN_FPS = 25
JOIN_FIRST = 62  # frames of the first clip kept (every FF++ test original has at least 2.48 s)
TRANSITION = 25  # frames (1 s)
ZOOMS = ("zoomin", "zoomout", "roll", "zoomroll")


@dataclass
class Case:
    """A video, its group in the summary, its hard cuts (first frame of a shot) and transitions ([a, b])."""

    group: str
    name: str
    path: Path
    cuts: tuple[int, ...] = ()
    transitions: tuple[tuple[int, int], ...] = ()
    make: list[str] | None = field(default=None, repr=False)  # ffmpeg arguments that make ``path``


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def made_cases(shared: Path, work: Path) -> list[Case]:
    """The darkened, joined and moved clips (to be made by :func:`make`)."""
    cases = []
    hamilton = str(shared / HAMILTON)
    for level in (30, 50):
        k = level / 100
        lut = f"lutyuv=y=16+(val-16)*{k}:u=128+(val-128)*{k}:v=128+(val-128)*{k}"
        cases.append(Case("dark", f"hamilton_{level}pct", work / f"hamilton_{level}pct.mp4", HAMILTON_CUTS,
                          make=["-i", hamilton, "-vf", lut]))
    originals = shared / "data" / "ffpp-c23" / "test" / "original"
    norm = f"fps={JOIN_FPS},scale=640:360,setsar=1,format=yuv420p,settb=AVTB"
    for a, b in PAIRS:
        inputs = ["-i", str(originals / f"{a}.mp4"), "-i", str(originals / f"{b}.mp4")]
        trim = f"[0:v]{norm},trim=end_frame={JOIN_FIRST},setpts=PTS-STARTPTS[a];[1:v]{norm}[b];"
        cases.append(Case("hardcut", f"{a}+{b}", work / f"cut_{a}_{b}.mp4", (JOIN_FIRST,),
                          make=[*inputs, "-filter_complex", trim + "[a][b]concat=n=2:v=1[v]", "-map", "[v]"]))
        window = ((JOIN_FIRST - TRANSITION, JOIN_FIRST),)
        for kind, transition in (("dissolve", "fade"), ("fadeblack", "fadeblack")):
            xfade = (f"[a][b]xfade=transition={transition}:duration={TRANSITION / JOIN_FPS}"
                     f":offset={(JOIN_FIRST - TRANSITION) / JOIN_FPS}[v]")
            cases.append(Case(kind, f"{a}+{b}", work / f"{kind}_{a}_{b}.mp4", transitions=window,
                              make=[*inputs, "-filter_complex", trim + xfade, "-map", "[v]"]))
    pan = "crop=w=iw/2:h=ih/2:x=(iw/2)*min(t/2.5\\,1):y=ih/4,scale=640:360"
    pans = {"pan2x": "crop=w=iw/2:h=ih/2:x=(iw/2)*min(t/1.25\\,1):y=ih/4,scale=640:360",
            "pandown": "crop=w=iw/2:h=ih/2:x=iw/4:y=(ih/2)*min(t/1.25\\,1),scale=640:360",
            "pandiag": "crop=w=iw/2:h=ih/2:x=(iw/2)*min(t/2.5\\,1):y=(ih/2)*min(t/2.5\\,1),scale=640:360"}
    flash = "eq=brightness=0.35:enable='between(n,30,35)'"
    centred = "x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':d=1:s=640x360:fps=25"
    zooms = {"zoomin": f"fps=25,zoompan=z='1+0.6*min(on/25\\,1)':{centred}",
             "zoomout": f"fps=25,zoompan=z='1.6-0.6*min(on/25\\,1)':{centred}",
             "roll": "fps=25,scale=640:360,rotate=a='0.26*min(t\\,1)',crop=384:216,scale=640:360",
             "zoomroll": (f"fps=25,zoompan=z='1+0.4*min(on/25\\,1)':{centred},"
                          "rotate=a='-0.17*min(t\\,1)',crop=384:216,scale=640:360")}
    for a in ("055", "183"):
        source = str(originals / f"{a}.mp4")
        cases.append(Case("pan", a, work / f"pan_{a}.mp4", make=["-i", source, "-vf", pan]))
        for kind, moving in pans.items():
            cases.append(Case(kind, a, work / f"{kind}_{a}.mp4", make=["-i", source, "-vf", moving]))
        cases.append(Case("flash", a, work / f"flash_{a}.mp4", make=["-i", source, "-vf", flash]))
        for kind, moving in zooms.items():
            cases.append(Case(kind, a, work / f"{kind}_{a}.mp4", make=["-i", source, "-vf", moving]))
    return cases


def make(case: Case) -> None:
    if case.make is None or case.path.exists():
        return
    subprocess.run([ffmpeg(), "-y", "-v", "error", *case.make, "-an", "-c:v", "libx264", "-crf", "18",
                    "-pix_fmt", "yuv420p", str(case.path)], check=True)


def all_cases(shared: Path, work: Path, train: bool = False) -> list[Case]:
    clips = sorted((shared / "videos").rglob("*.mp4"))
    cases = [Case("shared", str(p.relative_to(shared / "videos")), p,
                  HAMILTON_CUTS if str(p).endswith(HAMILTON) else ()) for p in clips]
    cases += [Case("ffpp", str(p.relative_to(shared / "data" / "ffpp-c23" / "test")), p)
              for p in sorted((shared / "data" / "ffpp-c23" / "test").rglob("*.mp4"))]
    if train:
        originals = shared / "data" / "ffpp-c23" / "train" / "original"
        cases += [Case("train", p.name, p) for p in sorted(originals.glob("*.mp4"))]
    return cases + made_cases(shared, work)


def selection(mode: str):
    from mesocli.video import FrameSelection

    if mode == "all":
        return FrameSelection("all")
    if mode.startswith("fps"):
        return FrameSelection("fps", float(mode[3:]))
    return FrameSelection("frames", int(mode))


def thumbnails(case: Case, mode: str, cache: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frame indices, times, thumbnails) of the sampled frames, cached."""
    from mesocli.tracking import thumbnail
    from mesocli.video import iter_frames

    key = cache / f"{case.group}__{case.name.replace('/', '__')}__{mode}.npz"
    if key.exists():
        data = np.load(key)
        return data["index"], data["time"], data["thumb"]
    index, times, thumbs = [], [], []
    for frame in iter_frames(case.path, selection(mode)):
        index.append(frame.index)
        times.append(frame.time)
        thumbs.append(thumbnail(frame.image))
    arrays = np.array(index), np.array(times), np.stack(thumbs)
    np.savez(key, index=arrays[0], time=arrays[1], thumb=arrays[2])
    return arrays


def found_cuts(index: np.ndarray, times: np.ndarray, thumbs: np.ndarray) -> list[int]:
    """The sampled frames (indices) where the installed mesocli finds a cut."""
    from mesocli import tracking

    shots = tracking.Shots()
    step = getattr(shots, "cut_thumbnail", None)
    found = []
    for i in range(len(index)):
        if step is not None:
            cut = step(thumbs[i], float(times[i]))
        else:  # an older mesocli: each sampled frame against the previous one
            cut = i > 0 and tracking.is_cut(thumbs[i - 1], thumbs[i])
        if cut:
            found.append(int(index[i]))
    return found


def score(case: Case, index: np.ndarray, found: list[int]) -> tuple[int, int, int]:
    """(real cuts, caught, false cuts)."""
    later = [int(i) for i in index]
    windows = []
    for cut in case.cuts:
        after = [i for i in later if i >= cut]
        if after:
            windows.append((after[0], after[0]))
    for a, b in case.transitions:
        after = [i for i in later if i > b]
        windows.append((a, after[0] if after else b))
    caught = sum(1 for a, b in windows if any(a <= f <= b for f in found))
    false = sum(1 for f in found if not any(a <= f <= b for a, b in windows))
    return len(windows), caught, false


def scene(case: Case) -> str:
    """The scene a clip shows: the FF++ number of its target video (the first of ``NNN_MMM``), else its name."""
    match = re.search(r"(\d{3})(?:_\d{3})?\.mp4$", case.path.name)
    return match.group(1) if match else case.path.stem


def cross_cuts(ends: list[tuple[Case, np.ndarray, np.ndarray]]) -> tuple[int, int, float]:
    """(cuts found, pairs, milliseconds a pair) over the pairs "last sampled frame of one clip, first sampled frame
    of another" of two scenes (``ends``: each clip's first and last thumbnails), each compared as a hard cut
    (``is_cut``: the cost of a comparison that finds a cut, every test tried)."""
    from mesocli.tracking import is_cut

    found = pairs = 0
    start = time.perf_counter()
    for a, _, last in ends:
        for b, first, _ in ends:
            if a is not b and scene(a) != scene(b):
                pairs += 1
                found += bool(is_cut(last, first))
    return found, pairs, (time.perf_counter() - start) / max(pairs, 1) * 1000


def compare_cost(clips: list[tuple[np.ndarray, np.ndarray, np.ndarray]], repeats: int = 5) -> float:
    """Milliseconds a sampled frame for the comparisons of :class:`Shots` over ``clips`` (index, times,
    thumbnails; at any size, a thumbnail is 32×32): the best of ``repeats`` runs."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for clip in clips:
            found_cuts(*clip)
        best = min(best, time.perf_counter() - start)
    return best / max(sum(len(index) for index, _, _ in clips), 1) * 1000


def cost_1080p(shared: Path, frames: int = 100, repeats: int = 5, shift: int = 960) -> tuple[float, float]:
    """Milliseconds a frame at 1920×1080 (a pan by ``shift`` pixels over a hamilton frame, scaled up, at 30 fps)
    for the thumbnail and for the comparisons of :class:`Shots`: the best of ``repeats`` runs (a busy machine)."""
    from PIL import Image

    from mesocli import tracking
    from mesocli.video import FrameSelection, iter_frames

    source = next(iter_frames(shared / HAMILTON, FrameSelection("frames", 1))).image
    big = np.asarray(Image.fromarray(source).resize((2880, 1620)))
    images = [np.ascontiguousarray(big[270:1350, x:x + 1920]) for x in np.linspace(0, shift, frames).astype(int)]
    thumbs = [tracking.thumbnail(image) for image in images]
    best_thumb = best_compare = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for image in images:
            tracking.thumbnail(image)
        best_thumb = min(best_thumb, time.perf_counter() - start)
        start = time.perf_counter()
        found_cuts(np.arange(frames), np.arange(frames) / 30, np.stack(thumbs))
        best_compare = min(best_compare, time.perf_counter() - start)
    return best_thumb / frames * 1000, best_compare / frames * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("MESOCLI_SHARED", REPO.parent / "shared")))
    parser.add_argument("--modes", default="30,all", help="Comma-separated samplings: 30, all, fps5, ...")
    parser.add_argument("--work", type=Path, default=None, help="Folder for the made clips (default: temporary).")
    parser.add_argument("--keep", action="store_true", help="Keep --work (made clips, thumbnails).")
    parser.add_argument("--train", action="store_true", help="Also the 35 FF++ train originals (no cut in any).")
    parser.add_argument("--verbose", action="store_true", help="One line per clip, not only per group.")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="mesocli-cuts-"))
    cache = work / "thumbs"
    cache.mkdir(parents=True, exist_ok=True)
    import mesocli

    print(f"mesocli {mesocli.__version__} from {Path(mesocli.__file__).parent}; load average {os.getloadavg()[0]:.2f}")
    try:
        cases = all_cases(args.shared, work, args.train)
        for case in cases:
            make(case)
        for mode in args.modes.split(","):
            print(f"\nsampling {mode}: group, clips, real cuts caught / total, false cuts (clips with one)")
            groups: dict[str, list[int]] = {}
            ends = []
            pans = []
            zooms = []
            for case in cases:
                index, times, thumbs = thumbnails(case, mode, cache)
                if case.group in ("shared", "ffpp", "train"):
                    ends.append((case, thumbs[0], thumbs[-1]))
                if case.group.startswith("pan"):
                    pans.append((index, times, thumbs))
                if case.group in ZOOMS:
                    zooms.append((index, times, thumbs))
                found = found_cuts(index, times, thumbs)
                total, caught, false = score(case, index, found)
                row = groups.setdefault(case.group, [0, 0, 0, 0, 0])
                for k, v in enumerate((1, total, caught, false, int(false > 0))):
                    row[k] += v
                if args.verbose or false or caught < total:
                    print(f"    {case.group:<9} {case.name:<42} caught {caught}/{total}  false {false}  "
                          f"cuts at {found}")
            for group, (clips, total, caught, false, with_false) in groups.items():
                print(f"  {group:<9} {clips:3d} clips   caught {caught:3d} / {total:<3d}  "
                      f"false {false:3d} ({with_false})")
            found, pairs, cost = cross_cuts(ends)
            print(f"  cross-clip: {found} of {pairs} pairs (last frame of a clip, first of another scene) a cut "
                  f"({cost:.3f} ms a pair)")
            for label, clips in (("pans", pans), ("zooms and rolls", zooms)):
                if clips:
                    print(f"  comparisons in the made {label}: {compare_cost(clips):.3f} ms a sampled frame "
                          "(best of 5)")
        print("\nShots.cut at 1920×1080, 30 fps, every frame (best of 5), a frame:")
        for label, shift in (("a fast pan (960 px in 3.3 s)", 960), ("a still shot (drifting 20 px)", 20)):
            thumb, compare = cost_1080p(args.shared, shift=shift)
            print(f"  {label:<32} thumbnail {thumb:.3f} ms + comparisons {compare:.3f} ms")
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
