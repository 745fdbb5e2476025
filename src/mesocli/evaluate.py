"""``mesocli eval``: score a labelled dataset split with a model and report detection figures.

The verdict rule is scan's: fake when ``p_fake >= threshold``. Unreadable and non-image files are
skipped and counted. Figures come from :mod:`mesocli.metrics`; video-level figures are added when
every file name carries a video id (``<video>_<frame>.jpg``). When the fake class holds method
sub-folders (``df/Face2Face/...``), each method is also scored against all the real images
(``methods``); with ``--model any`` each detector's own figures are added (``detectors``) beside
the combined ones (largest p_fake).
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mesocli.aggregate import check_threshold
from mesocli.datasets import DecodedImages, FolderDataset, iter_decoded, video_id
from mesocli.detectors import DetectorSet, combine
from mesocli.errors import UsageError
from mesocli.fsutil import atomic_path
from mesocli.metrics import binary_report, video_level
from mesocli.runtime import OnnxModel
from mesocli.weights import LoadedModel

REPORT_KEYS = (
    "model", "data", "threshold", "accuracy", "accuracy_df", "accuracy_real", "auc", "eer",
    "average_precision", "confusion", "best_threshold", "best_accuracy", "video", "seconds",
    "images_per_second", "methods", "detectors",
)
SHORT_KEYS = ("accuracy", "accuracy_df", "accuracy_real", "auc", "eer")
SCORES_COLUMNS = ("path", "label", "video", "p_fake", "verdict")


@dataclass
class EvalReport:
    """The figures of one evaluation; :meth:`to_dict` is the ``--format json`` object."""

    model: dict[str, Any]
    data: dict[str, Any]
    threshold: float
    accuracy: float
    accuracy_df: float
    accuracy_real: float
    auc: float
    eer: float
    average_precision: float
    confusion: dict[str, Any]
    best_threshold: float
    best_accuracy: float
    video: dict[str, Any] | None
    seconds: float
    images_per_second: float
    methods: dict[str, Any] | None = None
    detectors: dict[str, Any] | None = None
    # per-image detail for --scores and --plot (not part of the JSON object)
    paths: list[str] = field(default_factory=list, repr=False)
    labels_is_fake: np.ndarray = field(default_factory=lambda: np.zeros(0, bool), repr=False)
    p_fake: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    video_ids: list[str | None] = field(default_factory=list, repr=False)
    skipped: list[str] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The report with stable keys, in a fixed order (see REPORT_KEYS)."""
        return {key: getattr(self, key) for key in REPORT_KEYS}


def _scores(
    loaded: LoadedModel | OnnxModel | DetectorSet, dataset: FolderDataset, decoded: DecodedImages | None,
    progress: bool,
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[int, str]]:
    """p_fake of every file per detector (NaN where unreadable), the readable mask, and the read errors."""
    from mesocli.runtime import make_predictor

    members = loaded.members if isinstance(loaded, DetectorSet) else {"": loaded}
    predictors = {name: make_predictor(member) for name, member in members.items()}
    n = len(dataset.paths)
    p_fake = {name: np.full(n, np.nan) for name in predictors}

    def score(start: int, images: np.ndarray) -> None:
        for name, predictor in predictors.items():
            p_fake[name][start : start + len(images)] = predictor.p_fake(images)

    if decoded is not None:
        if len(decoded.ok) != n:
            raise ValueError(f"{len(decoded.ok)} decoded images for {n} files")
        for start in range(0, n, 1024):
            score(start, decoded.images[start : start + 1024])
        ok, errors = decoded.ok.copy(), dict(decoded.errors)
    else:
        ok = np.zeros(n, dtype=bool)
        errors: dict[int, str] = {}
        for batch in iter_decoded(dataset, batch_size=128, progress=progress, desc="eval"):
            score(batch.start, batch.images)
            ok[batch.start : batch.start + len(batch.ok)] = batch.ok
            errors.update(batch.errors)
    for values in p_fake.values():
        values[~ok] = np.nan
    return p_fake, ok, errors


def _short(labels_is_fake: np.ndarray, p_fake: np.ndarray, threshold: float, videos: list[str | None]) -> dict:
    """Accuracy (overall, per class), AUC and EER, plus the video-level figures, of one subset."""
    figures = binary_report(labels_is_fake, p_fake, threshold)
    short: dict[str, Any] = {"images": len(p_fake), "df": int(labels_is_fake.sum()),
                             "real": int((~labels_is_fake).sum())}
    short.update({key: figures[key] for key in SHORT_KEYS})
    short["video"] = video_level(videos, labels_is_fake, p_fake, threshold)
    return short


def per_method(labels_is_fake: np.ndarray, p_fake: np.ndarray, methods: list[str | None], threshold: float,
               videos: list[str | None]) -> dict[str, Any] | None:
    """Figures for each fake method against every real image; None when the fakes carry no method."""
    names = sorted({m for m, fake in zip(methods, labels_is_fake, strict=True) if fake and m is not None})
    if not names:
        return None
    result = {}
    for name in names:
        keep = ~labels_is_fake | np.array([m == name for m in methods])
        result[name] = _short(labels_is_fake[keep], p_fake[keep], threshold,
                              [v for v, k in zip(videos, keep, strict=True) if k])
    return result


def evaluate(
    loaded: LoadedModel | OnnxModel | DetectorSet,
    dataset: FolderDataset,
    threshold: float = 0.5,
    *,
    decoded: DecodedImages | None = None,
    progress: bool = False,
) -> EvalReport:
    """Score every image of ``dataset`` with ``loaded`` and compute the report.

    ``decoded`` (from :func:`mesocli.datasets.decode_dataset`) skips decoding, for callers that
    evaluate several models on the same data; otherwise files are decoded and scored in a stream.
    Raises UsageError when the readable images do not hold both classes.
    """
    check_threshold(threshold)
    started = time.perf_counter()
    by_detector, ok, errors = _scores(loaded, dataset, decoded, progress)
    p_all = combine(by_detector)
    seconds = time.perf_counter() - started
    skipped = [errors[i] for i in sorted(errors)] + [f"{path}: not an image file" for path in dataset.ignored]
    used = np.flatnonzero(ok)
    labels_is_fake = dataset.labels[used] == 0
    paths = [dataset.paths[i] for i in used]
    n_df, n_real = int(labels_is_fake.sum()), int((~labels_is_fake).sum())
    if n_df == 0 or n_real == 0:
        missing = " and ".join(name for name, count in (("df", n_df), ("real", n_real)) if count == 0)
        raise UsageError(
            f"no readable images of class {missing} in {dataset.root}; both df and real are needed"
        )
    p_fake = p_all[used]
    methods = [dataset.methods[i] for i in used]
    videos = [_video_key(path, method) for path, method in zip(paths, methods, strict=True)]
    figures = binary_report(labels_is_fake, p_fake, threshold)
    detectors = None
    if isinstance(loaded, DetectorSet):
        detectors = {}
        for name, scores in by_detector.items():
            detectors[name] = _short(labels_is_fake, scores[used], threshold, videos)
            detectors[name]["methods"] = per_method(labels_is_fake, scores[used], methods, threshold, videos)
    return EvalReport(
        model=loaded.describe(),
        data={"root": str(dataset.root), "split": dataset.split, "images": len(used), "df": n_df,
              "real": n_real, "skipped": len(skipped)},
        threshold=float(threshold),
        **figures,
        video=video_level(videos, labels_is_fake, p_fake, threshold),
        seconds=round(seconds, 3),
        images_per_second=round(len(dataset.paths) / seconds, 1) if seconds > 0 else 0.0,
        methods=per_method(labels_is_fake, p_fake, methods, threshold, videos),
        detectors=detectors,
        paths=[_relative(path, dataset.root) for path in paths],
        labels_is_fake=labels_is_fake,
        p_fake=p_fake,
        video_ids=videos,
        skipped=skipped,
    )


def _video_key(path: Path, method: str | None) -> str | None:
    """The video a frame belongs to, qualified by its method folder (FF++ reuses ids across methods)."""
    video = video_id(path)
    return f"{method}/{video}" if video is not None and method is not None else video


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


# ---------- outputs ----------
def refuse_existing(targets: list[Path | None], force: bool) -> None:
    """Raise UsageError for the first output file that exists, unless ``force``."""
    for target in targets:
        if target is None:
            continue
        if Path(target).is_dir():
            raise UsageError(f"{target} is a folder; give a file name")
        if Path(target).exists() and not force:
            raise UsageError(f"{target} exists; pass --force to overwrite it")


def check_plot_format(target: Path) -> None:
    """Raise UsageError if matplotlib cannot write a file with ``target``'s extension."""
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    if Path(target).suffix.lower().lstrip(".") not in formats:
        raise UsageError(f"{target}: --plot needs one of the extensions .{', .'.join(sorted(formats))}")


def write_scores(report: EvalReport, target: Path) -> None:
    """Per-image CSV (path relative to the dataset root, label, video id, p_fake, verdict), atomically."""
    rows = zip(report.paths, report.labels_is_fake, report.video_ids, report.p_fake, strict=True)
    # a file name that is not UTF-8 is written with a \udce9-style escape rather than failing
    with atomic_path(Path(target), suffix=".csv") as tmp, open(
        tmp, "w", newline="", encoding="utf-8", errors="backslashreplace"
    ) as out:
        writer = csv.writer(out)
        writer.writerow(SCORES_COLUMNS)
        for path, fake, vid, p in rows:
            verdict = "fake" if p >= report.threshold else "real"
            writer.writerow([path, "df" if fake else "real", vid or "", f"{p:.6f}", verdict])


def plot_roc(report: EvalReport, target: Path) -> None:
    """ROC curve (positive = fake) with the operating point at the report's threshold, atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(report.labels_is_fake, report.p_fake)
    c = report.confusion
    op_fpr, op_tpr = c["fp"] / (c["fp"] + c["tn"]), c["tp"] / (c["tp"] + c["fn"])
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, lw=1.5, label=f"{report.model['name']} (AUC {report.auc:.3f})")
    ax.plot([0, 1], [0, 1], ls="--", lw=0.8, color="grey", label="chance")
    ax.plot([0, 1], [1, 0], ls=":", lw=0.8, color="grey")
    ax.scatter([report.eer], [1 - report.eer], marker="x", color="black", zorder=3,
               label=f"EER {report.eer:.3f}")
    ax.scatter([op_fpr], [op_tpr], color="red", zorder=3,
               label=f"p_fake ≥ {report.threshold:g}: acc {report.accuracy:.3f}")
    split = report.data["split"] or Path(report.data["root"]).name
    ax.set(xlabel="false positive rate (real called fake)", ylabel="true positive rate (fake called fake)",
           title=f"ROC on {split} ({report.data['images']} images)", xlim=(0, 1), ylim=(0, 1.01))
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    suffix = Path(target).suffix
    try:
        with atomic_path(Path(target), suffix=suffix) as tmp:
            fig.savefig(tmp, dpi=110, format=suffix.lstrip(".").lower() or None)
    finally:
        plt.close(fig)


def render_table(report: EvalReport) -> Any:
    """The report as a rich Table."""
    from rich.table import Table

    data, c = report.data, report.confusion
    split = data["split"] or "(single split)"
    table = Table(title=f"{report.model['name']} ({report.model['arch']}) on {data['root']} {split}",
                  show_header=True, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("note", style="dim")
    rows = [
        ("images", f"{data['images']}", f"df {data['df']}, real {data['real']}, skipped {data['skipped']}"),
        ("accuracy", f"{report.accuracy:.4f}", f"fake when p_fake ≥ {report.threshold:g}"),
        ("accuracy df", f"{report.accuracy_df:.4f}", "fakes called fake"),
        ("accuracy real", f"{report.accuracy_real:.4f}", "reals called real"),
        ("AUC", f"{report.auc:.4f}", "ROC, positive = fake"),
        ("EER", f"{report.eer:.4f}", "equal error rate"),
        ("average precision", f"{report.average_precision:.4f}", "positive = fake"),
        ("confusion", f"tp {c['tp']} fn {c['fn']}", f"fp {c['fp']} tn {c['tn']} (positive = fake)"),
        ("best threshold", f"{report.best_threshold:.4f}", f"accuracy {report.best_accuracy:.4f}"),
    ]
    if report.video is not None:
        video = report.video
        rows += [
            ("videos", f"{video['videos']}", "frames grouped by <video>_<frame> names"),
            ("video accuracy (mean)", f"{video['accuracy_mean']:.4f}", "mean p_fake ≥ threshold"),
            ("video accuracy (vote)", f"{video['accuracy_vote']:.4f}", "≥ half of the frames fake"),
        ]
    for title, groups in (("method", report.methods), ("detector", report.detectors)):
        for name, item in (groups or {}).items():
            video = item.get("video")
            note = f"acc {item['accuracy']:.4f} (df {item['accuracy_df']:.4f}, real {item['accuracy_real']:.4f})"
            if video is not None:
                note += f", video {video['accuracy_mean']:.4f}"
            rows.append((f"{title} {name}: AUC", f"{item['auc']:.4f}", note))
    rows.append(("speed", f"{report.images_per_second:.1f} img/s", f"{report.seconds:.1f} s"))
    for row in rows:
        table.add_row(*row)
    return table
