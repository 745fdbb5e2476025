"""Every figure ``mesocli eval`` reports, recomputed independently (scikit-learn, numpy, by hand).

The network is stubbed at the predictor seam (``mesocli.runtime.make_predictor``): each "image" is one
uint8 pixel holding its index, and the stub returns the score listed for that index. So any score
(0.5 exactly, ties, NaN) reaches ``evaluate`` as given, without decoding or TensorFlow.
"""

from __future__ import annotations

import io
import json
import re
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, confusion_matrix, roc_auc_score, roc_curve

from mesocli.aggregate import aggregate, verdict
from mesocli.datasets import DecodedImages, FolderDataset
from mesocli.detectors import DetectorSet
from mesocli.errors import UsageError, WeightsError
from mesocli.evaluate import REPORT_KEYS, evaluate


class Stub(SimpleNamespace):
    """A detector whose p_fake of image k is ``scores[k]``."""

    def describe(self) -> dict:
        return {"arch": "meso4", "name": self.name, "weights_sha256": "0" * 64}


@pytest.fixture(autouse=True)
def stub_predictor(monkeypatch: pytest.MonkeyPatch) -> None:
    def make(member, *args, **kwargs):
        table = np.asarray(member.scores, dtype=np.float64)
        return SimpleNamespace(p_fake=lambda images: table[np.asarray(images)[:, 0, 0, 0].astype(int)])
    monkeypatch.setattr("mesocli.runtime.make_predictor", make)


def run(files: list[tuple[str, str]], scores: list[float] | dict[str, list[float]], threshold: float = 0.5,
        bootstrap: int = 0, compare: list[float] | None = None):
    """``files``: (class folder relative to the split, e.g. ``df/A``, file name); evaluate with stubbed scores
    (``compare``: those of a second model, ``eval --compare``'s)."""
    root = Path("/nonexistent/data")
    paths = [root / "test" / folder / name for folder, name in files]
    labels = np.array([0 if folder.split("/")[0] == "df" else 1 for folder, _ in files])
    methods = [folder.split("/")[1] if "/" in folder else None for folder, _ in files]
    if not any(methods):
        methods = []  # FolderDataset works them out (all None)
    dataset = FolderDataset(root, "test", paths, labels, methods=methods)
    images = np.arange(len(files), dtype=np.uint8).reshape(-1, 1, 1, 1)
    decoded = DecodedImages(images, np.ones(len(files), bool), {})
    if isinstance(scores, dict):
        loaded = DetectorSet("meso4", {name: Stub(name=name, scores=s, weights_path=Path(f"{name}.h5"))
                                       for name, s in scores.items()})
    else:
        loaded = Stub(name="stub", scores=scores, weights_path=Path("stub.h5"))
    other = None if compare is None else Stub(name="other", scores=compare, weights_path=Path("other.h5"))
    return evaluate(loaded, dataset, threshold, decoded=decoded, bootstrap=bootstrap, compare_with=other)


# -- independent reference implementations -------------------------------------------------------------

def ref_eer(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """EER by sweeping every distinct cut (fake when p >= t): FPR and FNR at each cut, and where the ROC
    polyline crosses FPR = FNR; also the score at which it happens (the cut nearest the crossing)."""
    cuts = np.concatenate([[np.inf], np.unique(p)[::-1]])
    fpr = np.array([np.mean(p[~y] >= t) for t in cuts])
    fnr = np.array([np.mean(p[y] < t) for t in cuts])
    for k in range(1, len(cuts)):
        if fnr[k] <= fpr[k]:  # crossed between k-1 and k
            d0, d1 = fnr[k - 1] - fpr[k - 1], fnr[k] - fpr[k]
            s = d0 / (d0 - d1) if d0 != d1 else 0.0
            return float(fpr[k - 1] + s * (fpr[k] - fpr[k - 1])), float(cuts[k])
    raise AssertionError("no crossing")


def ref_auc_pairs(y: np.ndarray, p: np.ndarray) -> float:
    """AUC as the share of (fake, real) pairs ranked right, ties counting one half."""
    fakes, reals = p[y], p[~y]
    wins = sum((f > r) + 0.5 * (f == r) for f in fakes for r in reals)
    return wins / (len(fakes) * len(reals))


def ref_ap(y: np.ndarray, p: np.ndarray) -> float:
    """Average precision: sum over distinct cuts of (recall gain) * precision at that cut."""
    total, last_recall = 0.0, 0.0
    for t in np.unique(p)[::-1]:
        called = p >= t
        recall, precision = (called & y).sum() / y.sum(), (called & y).sum() / called.sum()
        total += (recall - last_recall) * precision
        last_recall = recall
    return total


def ref_videos(ids: list[str], y: np.ndarray, series: list[np.ndarray], threshold: float) -> tuple[int, float, float]:
    """Video accuracy by the mean and the vote rules with aggregate's own rules applied video by video;
    several series (``any``): fake when one series' own aggregate is fake."""
    groups: dict[tuple[bool, str], list[int]] = defaultdict(list)
    for i, (vid, fake) in enumerate(zip(ids, y, strict=True)):
        groups[(bool(fake), vid)].append(i)
    right = {"mean": 0, "vote": 0}
    for (fake, _), members in groups.items():
        for rule in right:
            called = max(aggregate([float(s[i]) for i in members], rule, threshold) for s in series)
            right[rule] += (verdict(called, threshold) == "fake") == fake
    return len(groups), right["mean"] / len(groups), right["vote"] / len(groups)


# A dataset with ties, a score of exactly 0.5 on each side, videos of several frames
FILES = ([("df", f"fa_{i}.png") for i in range(4)] + [("df", f"fb_{i}.png") for i in range(3)]
         + [("df", f"fc_{i}.png") for i in range(2)] + [("real", f"ra_{i}.png") for i in range(3)]
         + [("real", f"rb_{i}.png") for i in range(4)] + [("real", f"rc_{i}.png") for i in range(2)]
         + [("real", f"rd_{i}.png") for i in range(1)])
SCORES = [0.9, 0.7, 0.5, 0.2,   0.6, 0.4, 0.45,   0.5, 0.1,
          0.5, 0.3, 0.2,   0.8, 0.6, 0.1, 0.05,   0.45, 0.55,   0.3]


def test_every_image_figure_recomputed() -> None:
    report = run(FILES, SCORES).to_dict()
    y = np.array([f == "df" for f, _ in FILES])
    p = np.array(SCORES)
    called = p >= 0.5  # the verdict rule: a score of exactly 0.5 is fake
    tn, fp, fn, tp = confusion_matrix(y, called).ravel()
    # by hand: fakes .9 .7 .5 .6 .5 called fake (5 of 9); reals .5 .8 .6 .55 called fake (4 of 10)
    assert (tp, fn, fp, tn) == (5, 4, 4, 6)
    assert report["confusion"] == {"tp": 5, "fp": 4, "tn": 6, "fn": 4, "positive": "fake"}
    assert report["accuracy"] == pytest.approx(11 / 19)
    assert report["accuracy_df"] == pytest.approx(5 / 9) and report["accuracy_real"] == pytest.approx(6 / 10)
    assert report["auc"] == pytest.approx(roc_auc_score(y, p)) == pytest.approx(ref_auc_pairs(y, p))
    assert report["average_precision"] == pytest.approx(average_precision_score(y, p)) == pytest.approx(ref_ap(y, p))
    eer_value, _ = ref_eer(y, p)
    assert report["eer"] == pytest.approx(eer_value)
    # best threshold: accuracy at the reported threshold, by the verdict rule, is the reported best accuracy,
    # and no cut does better
    assert np.mean((p >= report["best_threshold"]) == y) == pytest.approx(report["best_accuracy"])
    assert report["best_accuracy"] == pytest.approx(max(np.mean((p >= t) == y) for t in [*np.unique(p), 1.01]))
    # calibration: Brier, and ECE over [0, .1), ..., [.9, 1] (by the floor of 10 p, 1.0 in the last bin)
    assert report["calibration"]["brier"] == pytest.approx(np.mean((p - y) ** 2))
    bins = np.minimum(np.floor(np.round(p * 10, 9)).astype(int), 9)
    ece = sum(np.sum(bins == b) / len(p) * abs(y[bins == b].mean() - p[bins == b].mean()) for b in set(bins))
    assert report["calibration"]["ece"] == pytest.approx(ece)
    rows = {tuple(row["range"]): row for row in report["calibration"]["bins"]}
    assert rows[(0.5, 0.6)]["faces"] == 4 and rows[(0.5, 0.6)]["fake_share"] == pytest.approx(2 / 4)  # .5 .5 .5 .55
    # videos (frames sharing an id and a class), both rules, against aggregate.py's own rules
    ids = [name.split("_")[0] for _, name in FILES]
    videos, by_mean, by_vote = ref_videos(ids, y, [p], 0.5)
    # by hand: fa mean .575 fake, vote 3/4 fake; fb mean .483 real, vote 1/3 real; fc mean .3 real, vote 1/2 fake
    # ra mean .333 real, vote 1/3 real; rb mean .3875 real, vote 2/4 fake; rc mean .5 fake, vote 1/2 fake;
    # rd .3 real: mean 4 of 7 right, vote 4 of 7 right
    assert (videos, by_mean, by_vote) == (7, pytest.approx(4 / 7), pytest.approx(4 / 7))
    # AUC of the means (.575 .483 .3 against .333 .3875 .5 .3): 4 + 3 + a tie's half of 12 pairs
    assert report["video"] == {"videos": 7, "accuracy_mean": pytest.approx(4 / 7),
                               "accuracy_vote": pytest.approx(4 / 7), "auc_mean": pytest.approx(7.5 / 12)}


def check_eer_threshold(y: np.ndarray, p: np.ndarray, figures: dict) -> None:
    """``figures["eer_threshold"]`` against scikit-learn's ROC curve of the raw scores (no two of them within the
    verdict's 6-decimal rounding): a threshold in [0, 1] whose operating point is on the curve, the point of the
    curve nearest FPR = FNR, with the EER between its FPR and its FNR."""
    t = figures["eer_threshold"]
    assert 0.0 <= t <= 1.0
    fpr, tpr, _ = roc_curve(y, p, drop_intermediate=False)
    called = p >= t  # the verdict rule
    fpr_t, fnr_t = np.mean(called[~y]), np.mean(~called[y])
    assert any(np.isclose(fpr_t, fpr) & np.isclose(1 - fnr_t, tpr))  # on the curve
    assert abs(fnr_t - fpr_t) == pytest.approx(np.min(np.abs((1 - tpr) - fpr)))  # nearest the crossing
    assert min(fpr_t, fnr_t) - 1e-12 <= figures["eer"] <= max(fpr_t, fnr_t) + 1e-12


def test_the_eer_threshold_is_where_fpr_meets_fnr() -> None:
    """eval reported the EER but not the p_fake at which it happens; ``eer_threshold`` is that cut, one that
    ``eval --threshold`` takes and at which eval's own per-class accuracies are 1 - FPR and 1 - FNR."""
    from mesocli.aggregate import check_threshold

    rng = np.random.default_rng(7)
    cases = [(FILES, SCORES)]
    for n_df, n_real in ((1, 1), (2, 5), (13, 8), (40, 40)):
        files = [("df", f"f{i}_0.png") for i in range(n_df)] + [("real", f"r{i}_0.png") for i in range(n_real)]
        scores = np.round(np.concatenate([rng.beta(3, 2, n_df), rng.beta(2, 3, n_real)]), 3)  # ties, none < 1e-6 apart
        cases.append((files, [float(s) for s in scores]))
    for files, scores in cases:
        report = run(files, scores)
        y, p = np.array([f == "df" for f, _ in files]), np.array(scores)
        check_eer_threshold(y, p, report.to_dict())
        check_threshold(report.eer_threshold)
        again = run(files, scores, threshold=report.eer_threshold)
        called = p >= report.eer_threshold
        assert (again.accuracy_df, again.accuracy_real) == (np.mean(called[y]), np.mean(~called[~y]))
    assert list(run(FILES, SCORES).to_dict()).index("eer_threshold") == list(REPORT_KEYS).index("eer") + 1


def test_the_eer_threshold_is_one_eval_takes_within_the_rounding_and_at_1() -> None:
    """Scores within the verdict's 6-decimal rounding, and one shown 1.000000: the EER threshold is still in
    [0, 1], and no threshold eval takes brings FNR and FPR closer than it does, by eval's own verdicts."""
    from mesocli.aggregate import check_threshold

    files = [("df", "a_0.png"), ("df", "a_1.png"), ("real", "b_0.png"), ("real", "b_1.png")]
    for scores in ([0.9, 0.4999999, 0.4999996, 0.1], [0.9, 0.2999996, 0.2999992, 0.1], [0.4, 0.6, 0.9999997, 0.2],
                   [0.5, 0.5, 1.0, 0.9999999]):
        report = run(files, scores)
        check_threshold(report.eer_threshold)

        def gap(threshold: float, scores: list[float] = scores) -> float:
            again = run(files, scores, threshold=threshold)
            return abs((1 - again.accuracy_df) - (1 - again.accuracy_real))

        cuts = {max(s, round(s, 6)) for s in scores} | {0.0, 1.0}  # fake when p or its shown value >= t
        assert gap(report.eer_threshold) == min(gap(t) for t in cuts), scores


#: two fake methods of two videos each and two real videos, two frames each (``--model any`` tests)
TWO_METHODS = [("df/X", "x_0.png"), ("df/X", "x_1.png"), ("df/Y", "y_0.png"), ("df/Y", "y_1.png"),
               ("real", "r_0.png"), ("real", "r_1.png"), ("real", "s_0.png"), ("real", "s_1.png")]


def run_any(df: list[float], f2f: list[float]) -> tuple[dict, np.ndarray, np.ndarray]:
    """``--model any`` over TWO_METHODS: the report, the truth (fake) and the combined p_fake (the largest)."""
    report = run(TWO_METHODS, {"df": df, "f2f": f2f}).to_dict()
    return report, np.array([f.startswith("df") for f, _ in TWO_METHODS]), np.maximum(df, f2f)


def test_the_eer_threshold_per_method_and_per_detector() -> None:
    """``methods`` and ``--model any``'s ``detectors`` (and their methods) report their EER: each its threshold."""
    files = TWO_METHODS
    df = [0.9, 0.2, 0.3, 0.1, 0.2, 0.6, 0.15, 0.1]
    f2f = [0.1, 0.4, 0.55, 0.6, 0.1, 0.45, 0.4, 0.2]
    report, y, combined = run_any(df, f2f)
    check_eer_threshold(y, combined, report)
    for method in ("X", "Y"):
        keep = np.array([f in ("real", f"df/{method}") for f, _ in files])
        check_eer_threshold(y[keep], combined[keep], report["methods"][method])
        for name, scores in (("df", df), ("f2f", f2f)):
            check_eer_threshold(y[keep], np.array(scores)[keep], report["detectors"][name]["methods"][method])
    for name, scores in (("df", df), ("f2f", f2f)):
        check_eer_threshold(y, np.array(scores), report["detectors"][name])


def test_vote_rule_matches_the_authors_code_in_p_real_terms() -> None:
    """The released code counts frames with P(real) > 0.5; mesocli counts p_fake >= 0.5 = 1 - P(real) >= 0.5.
    The share of fake frames is one minus the authors' share of real frames, frame for frame (0.5 included)."""
    p_fake = np.array(SCORES)
    p_real = 1.0 - p_fake
    ids = [name.split("_")[0] for _, name in FILES]
    for vid in set(ids):
        members = [i for i, v in enumerate(ids) if v == vid]
        authors_real_share = np.mean(p_real[members] > 0.5)
        assert aggregate(p_fake[members], "vote", 0.5) == pytest.approx(1.0 - authors_real_share)


def test_bootstrap_resamples_videos_with_a_fixed_seed_and_percentiles_of_the_figures() -> None:
    """An independent stratified video bootstrap (seed 0: the fake videos drawn first, then the real ones,
    each in sorted order of their keys) gives the reported percentile intervals."""
    report = run(FILES, SCORES, bootstrap=200).to_dict()
    ci = report["intervals"]
    assert ci["unit"] == "video" and ci["resamples"] == 200 and ci["level"] == 0.95
    y = np.array([f == "df" for f, _ in FILES])
    p = np.array(SCORES)
    ids = np.array([f"{int(fake)}/{name.split('_')[0]}" for (_, name), fake in zip(FILES, y, strict=True)])
    fakes, reals = sorted(set(ids[y])), sorted(set(ids[~y]))
    rng = np.random.default_rng(0)
    draws = defaultdict(list)
    for _ in range(200):
        picked = list(rng.choice(fakes, len(fakes))) + list(rng.choice(reals, len(reals)))
        index = np.concatenate([np.flatnonzero(ids == key) for key in picked])
        yy, pp = y[index], p[index]
        draws["accuracy"].append(np.mean((pp >= 0.5) == yy))
        draws["accuracy_df"].append(np.mean(pp[yy] >= 0.5))
        draws["accuracy_real"].append(np.mean(pp[~yy] < 0.5))
        draws["auc"].append(roc_auc_score(yy, pp))
        draws["eer"].append(ref_eer(yy, pp)[0])
    for key, values in draws.items():
        assert ci[key] == pytest.approx(list(np.percentile(values, [2.5, 97.5]))), key
    assert run(FILES, SCORES, bootstrap=200).to_dict()["intervals"] == ci  # seeded
    # video accuracies: Wilson intervals of 4 right of 7 (1.96, by hand)
    z, n, k = 1.959964, 7, 4
    centre, half = (k + z * z / 2) / (n + z * z), z * np.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
    assert ci["video_accuracy_mean"] == pytest.approx([centre - half, centre + half], abs=1e-5)


def test_video_bootstrap_is_wider_than_a_frame_bootstrap_would_be() -> None:
    """Frames of one video scored alike: resampling videos must not claim the precision of the frames."""
    files = [("df", f"f{v}_{i}.png") for v in range(4) for i in range(10)]
    files += [("real", f"r{v}_{i}.png") for v in range(4) for i in range(10)]
    scores = [0.9] * 20 + [0.1] * 20 + [0.1] * 30 + [0.9] * 10  # 2 of 4 fake videos missed, 1 of 4 real
    ci = run(files, scores, bootstrap=300).to_dict()["intervals"]
    assert ci["unit"] == "video"
    # each resample's df accuracy is k/4 for some k: by video, the interval spans whole videos
    assert ci["accuracy_df"][0] <= 0.25 and ci["accuracy_df"][1] >= 0.75


def test_the_intervals_note_names_the_video_rule_only_where_there_are_video_figures() -> None:
    """Crops named without video ids have no video figures, but the table's intervals row still said "video
    accuracy: Wilson"; it says so only beside video rows now."""
    from rich.console import Console

    from mesocli import writers

    def note(files: list[tuple[str, str]]) -> str:
        out = io.StringIO()
        Console(file=out, width=250).print(writers.eval_table(run(files, [0.9, 0.3, 0.6, 0.1], bootstrap=20)))
        return next(line for line in out.getvalue().splitlines() if line.startswith("│ intervals"))

    plain = note([("df", "a.png"), ("df", "b.png"), ("real", "c.png"), ("real", "d.png")])
    assert "bootstrap resamples of the images of each class" in plain and "video accuracy" not in plain
    named = note([("df", "a_0.png"), ("df", "b_0.png"), ("real", "c_0.png"), ("real", "d_0.png")])
    assert "bootstrap resamples of the videos of each class; video accuracy: Wilson" in named


def wilson(k: float, n: float) -> list[float]:
    """The Wilson score interval (95 %), by hand."""
    z = 1.959964
    centre, half = (k + z * z / 2) / (n + z * z), z * np.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
    return [max(0.0, centre - half), min(1.0, centre + half)]


def test_a_class_all_right_gets_a_wilson_interval_on_its_videos_not_a_width_0_one() -> None:
    """Every face of the 4 fake videos called fake: the percentile bootstrap gave accuracy df 1.000–1.000 (every
    resample all right), though 4 videos cannot show the truth is above 0.6. Wilson on the 4 videos instead (the
    faces of one video are not independent draws), named in ``rules``; the figures that vary keep the bootstrap."""
    files = [("df", f"f{v}_{i}.png") for v in range(4) for i in range(3)]
    files += [("real", f"r{v}_{i}.png") for v in range(4) for i in range(3)]
    scores = [0.9] * 12 + [0.1] * 6 + [0.6, 0.2, 0.3] + [0.7] * 3  # real: 2 videos right, one 2/3, one all wrong
    ci = run(files, scores, bootstrap=200).to_dict()["intervals"]
    assert ci["unit"] == "video"
    assert ci["accuracy_df"] == pytest.approx(wilson(4, 4), abs=1e-5)  # 0.510–1.000
    assert ci["accuracy_df"][0] < 0.6
    assert ci["rules"]["accuracy_df"] == "wilson" and "accuracy df: 1.000 of 4 videos, Wilson" in ci["note"]
    assert ci["accuracy_real"][1] - ci["accuracy_real"][0] > 0
    assert {ci["rules"][key] for key in ("accuracy", "accuracy_real")} == {"bootstrap"}
    # every fake above every real: AUC 1 and EER 0 on every resample, named as such (not a certainty)
    assert {ci["rules"][key] for key in ("auc", "eer", "video_auc_mean")} == {"bootstrap-width-0"}
    assert ci["rules"]["video_accuracy_mean"] == "wilson"
    # all wrong is as degenerate: 0 of 4
    wrong = run(files, [0.1] * 12 + scores[12:], bootstrap=200).to_dict()["intervals"]
    assert wrong["accuracy_df"] == pytest.approx(wilson(0, 4), abs=1e-5) and wrong["accuracy_df"][0] == 0.0
    # no video ids: the images are the units, so the count is theirs (and a note says they are too narrow)
    plain = [(folder, name.replace("_", "x")) for folder, name in files]
    by_image = run(plain, scores, bootstrap=200).to_dict()["intervals"]
    assert by_image["accuracy_df"] == pytest.approx(wilson(12, 12), abs=1e-5)
    assert "accuracy df: 1.000 of 12 images, Wilson" in by_image["note"]


def test_a_width_0_auc_eer_or_paired_interval_names_its_rule_not_a_certainty() -> None:
    """Every fake video ranked above every real one: each resample gave AUC 1.000 and EER 0.000, and the JSON and
    table showed ``1.000–1.000`` as if 3 videos a class made it certain; ``--compare`` with a model as perfect gave
    a paired ``+0.0000 to +0.0000``. Such intervals now name their rule, ``bootstrap-width-0`` (in ``rules``, as
    the accuracies' Wilson does; in each paired figure's ``rule``), a note says so, and the table says "on every
    resample"."""
    from rich.console import Console

    from mesocli import writers

    files = [("df", f"f{v}_{i}.png") for v in range(3) for i in range(2)]
    files += [("real", f"r{v}_{i}.png") for v in range(3) for i in range(2)]
    scores = [0.9, 0.8, 0.7, 0.9, 0.6, 0.8] + [0.2, 0.1, 0.3, 0.1, 0.2, 0.4]
    report = run(files, scores, bootstrap=50, compare=[0.99] * 6 + [0.01] * 6)
    ci = report.to_dict()["intervals"]
    assert ci["auc"] == pytest.approx([1, 1]) and ci["eer"] == pytest.approx([0, 0])
    assert ci["video_auc_mean"] == pytest.approx([1, 1])
    assert {ci["rules"][key] for key in ("auc", "eer", "video_auc_mean")} == {"bootstrap-width-0"}
    assert ci["rules"]["accuracy"] == "wilson"  # every video right: Wilson, as before
    assert "auc: 1.000 on every resample of 3 df and 3 real videos, an interval of width 0" in ci["note"]
    assert "video auc mean: 1.000 on every resample of 3 df and 3 real videos" in ci["note"]
    compared = report.comparison
    assert compared["auc"]["interval"] == pytest.approx([0, 0]) and compared["auc"]["rule"] == "bootstrap-width-0"
    assert compared["accuracy"]["rule"] == "bootstrap-width-0"  # both right on every resample
    assert compared["video"]["auc_mean"]["interval"] == pytest.approx([0, 0])
    assert compared["video"]["auc_mean"]["rule"] == "bootstrap-width-0"
    out = io.StringIO()
    Console(file=out, width=400).print(writers.eval_table(report))
    table = out.getvalue()
    assert "1.000–1.000" not in table and "0.000–0.000" not in table and "+0.0000 to +0.0000" not in table
    auc_row = next(line for line in table.splitlines() if line.startswith("│ AUC "))
    assert "1.000 on every resample" in auc_row
    assert "+0.0000 on every resample" in next(line for line in table.splitlines() if "AUC minus other" in line)
    varied = run(files, [0.9, 0.8, 0.7, 0.9, 0.3, 0.8] + [0.2, 0.1, 0.5, 0.1, 0.2, 0.4], bootstrap=50)
    assert {varied.intervals["rules"][key] for key in ("auc", "eer")} == {"bootstrap"}  # a spread: as before
    assert run(files, scores, bootstrap=0, compare=scores).comparison["auc"]["rule"] is None  # no interval
    one = [("df", "f0_0.png"), ("df", "f0_1.png")] + files[6:]  # a single fake video: no paired video AUC interval
    video = run(one, scores[:2] + scores[6:], bootstrap=20, compare=[0.5] * 8).comparison["video"]
    assert video["auc_mean"]["interval"] is None and video["auc_mean"]["rule"] is None
    assert video["note"] == "no interval: 1 video in the df class (a bootstrap needs at least 2 in each)"


def test_a_narrow_interval_not_of_width_0_keeps_the_bootstrap_rule() -> None:
    """Any interval 1e-9 wide or less was named ``bootstrap-width-0`` ("on every resample"): on 80,000 faces a
    class with one fake ranked below one real, the AUC is 1 - 1/6.4e9, below 1 on the resamples that draw both, and
    its interval (about 5e-10 wide) was called 1.000 on every resample, as was the paired AUC of that model against
    one without the swap. Alike resamples give the same AUC to the last bit or two (1e-16), so only a spread of
    that order is width 0 now."""
    from mesocli.evaluate import _paired, figure_intervals

    faces = 80_000
    y = np.r_[np.ones(faces, bool), np.zeros(faces, bool)]
    rng = np.random.default_rng(0)
    p = np.r_[rng.uniform(0.6, 1.0, faces), rng.uniform(0.0, 0.29, faces)]
    p[0], p[faces] = 0.3, 0.31  # one fake below one real
    assert roc_auc_score(y, p) == pytest.approx(1 - 1 / faces**2, abs=1e-15)
    ci = figure_intervals(y, p, 0.5, [None] * len(y), None, 40)
    assert 0 < ci["auc"][1] - ci["auc"][0] < 1e-9
    assert ci["rules"]["auc"] == "bootstrap" and "auc: 1.000 on every resample" not in ci["note"]
    perfect = p.copy()
    perfect[0] = 0.35  # the same model without the swap: the difference is below 0 on the resamples with both
    paired = _paired(y, p, perfect, 0.5, [None] * len(y), 20)
    assert paired["auc"]["interval"][0] < 0 and paired["auc"]["rule"] == "bootstrap"


def test_intervals_by_image_say_frames_of_few_videos_make_them_too_narrow() -> None:
    """Crops named without video ids are resampled image by image: if they are frames of few videos the
    intervals are far too narrow. eval cannot see the grouping, so the JSON note and the table say so and
    name the fix; with video ids there is no such note."""
    from rich.console import Console

    from mesocli import writers

    files = [("df", f"f{v}x{i}.png") for v in range(3) for i in range(4)]
    files += [("real", f"r{v}x{i}.png") for v in range(3) for i in range(4)]
    scores = [0.9, 0.8, 0.4, 0.7, 0.9, 0.8, 0.6, 0.7, 0.3, 0.4, 0.6, 0.2] + [0.2, 0.6, 0.1, 0.3] * 2 + [0.1] * 4
    report = run(files, scores, bootstrap=100)
    ci = report.to_dict()["intervals"]
    assert ci["unit"] == "image"
    assert "images resampled one by one" in ci["note"] and "far too narrow" in ci["note"]
    assert "<video>_<frame>" in ci["note"] and "dataset layout" in ci["note"]
    out = io.StringIO()
    Console(file=out, width=400).print(writers.eval_table(report))
    lines = out.getvalue().splitlines()
    at = next(number for number, line in enumerate(lines) if line.startswith("│ intervals"))
    assert "images resampled one by one" in lines[at + 1] and "far too narrow" in lines[at + 1]  # the row below
    named = run([(folder, name.replace("x", "_")) for folder, name in files], scores, bootstrap=100)
    # the only note: its 3 fake videos ranked above its 3 real ones on every resample (video AUC of width 0)
    assert named.to_dict()["intervals"]["note"].startswith("video auc mean: 1.000 on every resample of 3 df")


def test_all_scores_tied() -> None:
    files = [("df", "a_0.png"), ("df", "a_1.png"), ("real", "b_0.png"), ("real", "b_1.png")]
    report = run(files, [0.3] * 4).to_dict()
    assert report["auc"] == 0.5 and report["eer"] == 0.5  # one ROC segment from (0, 0) to (1, 1)
    assert report["average_precision"] == pytest.approx(0.5)  # the share of fakes
    assert report["accuracy"] == 0.5 and report["accuracy_df"] == 0.0 and report["accuracy_real"] == 1.0
    assert report["best_accuracy"] == 0.5


def test_a_score_of_exactly_the_threshold_is_fake_as_in_scan() -> None:
    files = [("df", "a_0.png"), ("df", "a_1.png"), ("real", "b_0.png"), ("real", "b_1.png")]
    report = run(files, [0.5, 0.4, 0.5, 0.1])
    assert report.confusion == {"tp": 1, "fp": 1, "tn": 1, "fn": 1, "positive": "fake"}
    assert verdict(0.5, 0.5) == "fake"
    # video means: a .45 real (wrong), b .3 real (right); vote: a 1/2 fake (right), b 1/2 fake (wrong)
    assert report.video == {"videos": 2, "accuracy_mean": 0.5, "accuracy_vote": 0.5, "auc_mean": 1.0}
    assert verdict(aggregate([0.5, 0.4], "vote")) == "fake" and verdict(aggregate([0.5, 0.4], "mean")) == "real"


def test_nan_scores_are_refused() -> None:
    files = [("df", "a_0.png"), ("real", "b_0.png")]
    with pytest.raises(WeightsError, match="NaN"):
        run(files, [float("nan"), 0.2])


def test_one_class_is_a_usage_error_not_an_undefined_auc() -> None:
    with pytest.raises(UsageError, match="no readable images of class real"):
        run([("df", "a_0.png"), ("df", "a_1.png")], [0.2, 0.9])


def test_a_method_folder_with_one_image_and_one_video_per_class() -> None:
    files = [("df/A", "a_0.png"), ("df/B", "b_0.png"), ("df/B", "b_1.png"), ("real", "r_0.png"), ("real", "r_1.png")]
    report = run(files, [0.7, 0.6, 0.3, 0.4, 0.2], bootstrap=50).to_dict()
    a = report["methods"]["A"]
    assert (a["images"], a["df"], a["real"]) == (3, 1, 2)
    assert a["auc"] == 1.0 and a["eer"] == 0.0 and a["accuracy"] == 1.0
    assert a["video"] == {"videos": 2, "accuracy_mean": 1.0, "accuracy_vote": 1.0, "auc_mean": 1.0}
    assert "auc" not in a["intervals"] and "1 video in the df class" in a["intervals"]["note"]
    b = report["methods"]["B"]
    assert b["auc"] == pytest.approx(ref_auc_pairs(np.array([1, 1, 0, 0], bool), np.array([0.6, 0.3, 0.4, 0.2])))
    assert b["video"]["accuracy_mean"] == pytest.approx(1 / 2)  # B/b mean .45 real (wrong), r .3 real (right)


def _accuracies(video: dict) -> dict:
    """A ``video`` figure without its ``auc_mean`` (checked where the test knows it)."""
    return {key: value for key, value in video.items() if key != "auc_mean"}


def test_model_any_figures() -> None:
    """Combined p_fake per face is the largest; a video is fake when one detector's own aggregate is fake."""
    files = TWO_METHODS
    df = [0.9, 0.2, 0.3, 0.1, 0.2, 0.6, 0.1, 0.1]
    f2f = [0.1, 0.4, 0.55, 0.6, 0.1, 0.45, 0.4, 0.2]
    report, y, combined = run_any(df, f2f)
    assert report["auc"] == pytest.approx(roc_auc_score(y, combined))
    assert report["accuracy"] == pytest.approx(np.mean((combined >= 0.5) == y))
    ids = [f"{folder}/{name.split('_')[0]}" for folder, name in files]
    videos, by_mean, by_vote = ref_videos(ids, y, [np.array(df), np.array(f2f)], 0.5)
    # by hand: X df mean .55 fake; Y f2f mean .575 fake; r df mean .4, f2f .275 real; s real -> mean 4/4
    # vote: X df 1/2 fake; Y f2f 2/2; r df 1/2 fake (wrong); s real -> 3/4
    # (the per-face maximum would give r mean (.2 + .6) / 2 = .4 real too, but X by max (.9 + .4)/2)
    assert (videos, by_mean, by_vote) == (4, 1.0, 0.75)
    assert report["video"] == {"videos": 4, "accuracy_mean": 1.0, "accuracy_vote": 0.75, "auc_mean": 1.0}
    for name, scores in (("df", df), ("f2f", f2f)):
        own = report["detectors"][name]
        assert own["auc"] == pytest.approx(roc_auc_score(y, scores))
        assert own["accuracy"] == pytest.approx(np.mean((np.array(scores) >= 0.5) == y))
        n, m, v = ref_videos(ids, y, [np.array(scores)], 0.5)
        assert _accuracies(own["video"]) == {"videos": n, "accuracy_mean": pytest.approx(m),
                                             "accuracy_vote": pytest.approx(v)}
    keep = [i for i, (f, _) in enumerate(files) if f != "df/Y"]
    for name, scores in (("df", df), ("f2f", f2f)):  # each detector's own per-method figures
        own = report["detectors"][name]["methods"]["X"]
        assert own["auc"] == pytest.approx(roc_auc_score(y[keep], np.array(scores)[keep]))
        n, m, v = ref_videos([ids[i] for i in keep], y[keep], [np.array(scores)[keep]], 0.5)
        assert _accuracies(own["video"]) == {"videos": n, "accuracy_mean": pytest.approx(m),
                                             "accuracy_vote": pytest.approx(v)}
    x = report["methods"]["X"]
    assert x["auc"] == pytest.approx(roc_auc_score(y[keep], combined[keep]))
    n, m, v = ref_videos([ids[i] for i in keep], y[keep], [np.array(df)[keep], np.array(f2f)[keep]], 0.5)
    assert _accuracies(x["video"]) == {"videos": n, "accuracy_mean": pytest.approx(m),
                                        "accuracy_vote": pytest.approx(v)}


def test_json_table_and_plot_agree(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from rich.console import Console

    from mesocli import writers

    report = run(FILES, SCORES, bootstrap=100)
    data = report.to_dict()
    out = io.StringIO()
    Console(file=out, width=250).print(writers.eval_table(report))
    text = out.getvalue()

    def cell(metric: str) -> str:
        line = next(line for line in text.splitlines() if re.search(rf"│ {re.escape(metric)}\s+│", line))
        return [c.strip() for c in line.split("│")][2]

    for metric, key in (("accuracy", "accuracy"), ("accuracy df", "accuracy_df"), ("accuracy real", "accuracy_real"),
                        ("AUC", "auc"), ("EER", "eer"),
                        ("average precision", "average_precision"), ("ECE", None),
                        ("video accuracy (mean)", None), ("video accuracy (vote)", None), ("video AUC (mean)", None)):
        value = data[key] if key else {"ECE": data["calibration"]["ece"],
                                       "video accuracy (mean)": data["video"]["accuracy_mean"],
                                       "video accuracy (vote)": data["video"]["accuracy_vote"],
                                       "video AUC (mean)": data["video"]["auc_mean"]}[metric]
        assert cell(metric) == f"{value:.4f}", metric
    low, high = data["intervals"]["video_auc_mean"]  # the videos' AUC, with its interval, in the table
    assert re.search(rf"│ video AUC \(mean\)\s+│\s+{data['video']['auc_mean']:.4f} │\s+{low:.3f}–{high:.3f}\s+│", text)
    assert cell("confusion") == f"tp {data['confusion']['tp']} fn {data['confusion']['fn']}"
    assert f"{data['intervals']['auc'][0]:.3f}–{data['intervals']['auc'][1]:.3f}" in text

    import matplotlib.axes
    drawn: dict[str, list] = defaultdict(list)
    real_plot, real_scatter = matplotlib.axes.Axes.plot, matplotlib.axes.Axes.scatter
    monkeypatch.setattr(matplotlib.axes.Axes, "plot", lambda ax, *a, **k: (drawn["plot"].append((a, k)),
                                                                            real_plot(ax, *a, **k))[1])
    monkeypatch.setattr(matplotlib.axes.Axes, "scatter", lambda ax, *a, **k: (drawn["scatter"].append((a, k)),
                                                                               real_scatter(ax, *a, **k))[1])
    writers.plot_roc(report, tmp_path / "roc.png")
    (fpr, tpr), label = drawn["plot"][0][0], drawn["plot"][0][1]["label"]
    y, p = np.array([f == "df" for f, _ in FILES]), np.array(SCORES)
    ref_fpr, ref_tpr, _ = roc_curve(y, p)
    assert np.allclose(fpr, ref_fpr) and np.allclose(tpr, ref_tpr)
    assert f"AUC {data['auc']:.3f}" in label
    (eer_x, eer_y), eer_kw = drawn["scatter"][0]
    assert eer_x == [data["eer"]] and eer_y == [1 - data["eer"]] and f"EER {data['eer']:.3f}" in eer_kw["label"]
    assert np.interp(data["eer"], ref_fpr, ref_tpr) == pytest.approx(1 - data["eer"])  # the point is on the curve
    (op_x, op_y), op_kw = drawn["scatter"][1]
    c = data["confusion"]
    assert (op_x, op_y) == ([c["fp"] / (c["fp"] + c["tn"])], [c["tp"] / (c["tp"] + c["fn"])])
    assert any(np.isclose(op_x[0], ref_fpr) & np.isclose(op_y[0], ref_tpr))  # the operating point is on the curve
    assert f"acc {data['accuracy']:.3f}" in op_kw["label"]


# fakes of three methods (one directly in df/: "(no method)") and reals; scores give each method its own AUC
BY_METHOD = ([("df/Deepfakes", f"a{i}_0.png") for i in range(4)] + [("df/Face2Face", f"b{i}_0.png") for i in range(3)]
             + [("df", f"c{i}_0.png") for i in range(2)] + [("real/original", f"r{i}_0.png") for i in range(5)])
BY_METHOD_SCORES = [0.9, 0.8, 0.7, 0.3,   0.6, 0.2, 0.1,   0.5, 0.45,   0.4, 0.35, 0.65, 0.15, 0.05]


def test_plot_draws_each_method_roc_with_the_auc_of_the_json(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    """``eval --plot`` on a dataset whose fakes sit in method folders drew one curve, every fake against every
    real, while the JSON and the table give each method's AUC. Each method's curve (its fakes against every real)
    is now drawn beside the overall one, in the legend with the AUC the JSON reports for it."""
    import matplotlib.pyplot as plt

    from mesocli import writers

    report = run(BY_METHOD, BY_METHOD_SCORES)
    data = report.to_dict()
    assert list(data["methods"]) == ["(no method)", "Deepfakes", "Face2Face"]
    figures = []
    real_close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: (figures.append(fig), real_close(fig))[1])
    writers.plot_roc(report, tmp_path / "roc.png")
    roc = figures[-1].axes[0]
    curves = {line.get_label(): line.get_xydata() for line in roc.lines if not line.get_label().startswith("_")}
    y, p = np.array([f.startswith("df") for f, _ in BY_METHOD]), np.array(BY_METHOD_SCORES)
    folder = np.array([f for f, _ in BY_METHOD])
    expected = {"stub: all 9 fakes": (np.ones(len(y), bool), data["auc"])}
    for method, figures_of in data["methods"].items():
        own = folder == ("df" if method == "(no method)" else f"df/{method}")
        expected[f"{method}: {own.sum()} fakes"] = (~y | own, figures_of["auc"])
    assert len(expected) == 4 and len({auc for _, auc in expected.values()}) == 4  # four curves told apart
    for label, (keep, auc) in expected.items():
        drawn = next(xy for text, xy in curves.items() if text.startswith(label + " ("))
        assert f"{label} (AUC {auc:.3f})" in curves, list(curves)
        fpr, tpr, _ = roc_curve(y[keep], p[keep])
        assert np.allclose(drawn, np.column_stack([fpr, tpr]))
        assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc_score(y[keep], p[keep]))
        assert auc == pytest.approx(roc_auc_score(y[keep], p[keep]))
    legend = [text.get_text() for text in roc.get_legend().get_texts()]
    assert legend[0].startswith("stub: all 9 fakes") and "5 reals" in roc.get_legend().get_title().get_text()
    style = {line.get_label().split(":")[0]: (line.get_color(), line.get_linewidth()) for line in roc.lines}
    assert style["stub"] == ("black", 2.2)  # the overall curve stands out; each method its colour of the cycle
    assert [style[method] for method in data["methods"]] == [("C0", 1.2), ("C1", 1.2), ("C2", 1.2)]


def test_roc_curves_are_the_json_methods_also_with_model_any() -> None:
    """:func:`mesocli.evaluate.roc_curves`, the data ``eval --plot`` draws: with ``--model any`` the curves are
    those of the combined p_fake (the largest of the detectors'), whose figures ``methods`` reports; the area
    under each curve is the JSON's AUC."""
    from mesocli.evaluate import roc_curves

    other = [1 - s for s in BY_METHOD_SCORES]
    for scores in (BY_METHOD_SCORES, {"df": BY_METHOD_SCORES, "f2f": other}):
        report = run(BY_METHOD, scores)
        data = report.to_dict()
        curves = roc_curves(report)
        assert [curve.method for curve in curves] == [None, *data["methods"]]
        assert curves[0].fakes == data["data"]["df"] and curves[0].auc == data["auc"]
        for curve in curves[1:]:
            figures = data["methods"][curve.method]
            assert curve.auc == figures["auc"] and curve.fakes == figures["df"]
        for curve, auc in zip(curves, [data["auc"], *(m["auc"] for m in data["methods"].values())], strict=True):
            assert np.trapezoid(curve.tpr, curve.fpr) == pytest.approx(auc, abs=1e-12)
        combined = np.maximum(BY_METHOD_SCORES, other) if isinstance(scores, dict) else np.array(scores)
        y = np.array([f.startswith("df") for f, _ in BY_METHOD])
        keep = ~y | np.array([f == "df/Face2Face" for f, _ in BY_METHOD])
        fpr, tpr, _ = roc_curve(y[keep], combined[keep])
        face2face = next(curve for curve in curves if curve.method == "Face2Face")
        assert np.allclose(face2face.fpr, fpr) and np.allclose(face2face.tpr, tpr)
    no_methods = run(FILES, SCORES)
    assert no_methods.methods is None and [curve.method for curve in roc_curves(no_methods)] == [None]


def test_the_thresholds_the_table_shows_make_the_cut_the_json_reports() -> None:
    """Scores closer than the table's 4 decimals (0.50003 fake, 0.50002 real), and closer than 6 (0.5000003 and
    0.5000001, which the verdict rule still splits): the ``best threshold`` and ``EER threshold`` the table showed
    (0.5000), passed to ``--threshold``, called both fake, not the accuracy the JSON's threshold gets."""
    from rich.console import Console

    from mesocli import writers

    files = [("df", "a_0.png"), ("df", "a_1.png"), ("real", "b_0.png"), ("real", "b_1.png")]
    for scores in ([0.9, 0.50003, 0.50002, 0.1], [0.9, 0.5000003, 0.5000001, 0.1], [0.9, 0.6, 0.4, 0.1]):
        report = run(files, scores)
        out = io.StringIO()
        Console(file=out, width=250).print(writers.eval_table(report))
        for metric, key in (("best threshold", "best_threshold"), ("EER threshold", "eer_threshold")):
            line = next(line for line in out.getvalue().splitlines() if re.search(rf"│ {metric}\s+│", line))
            shown = [cell.strip() for cell in line.split("│")][2]
            at_json, at_shown = run(files, scores, float(report.to_dict()[key])), run(files, scores, float(shown))
            assert (at_shown.accuracy_df, at_shown.accuracy_real) == (at_json.accuracy_df, at_json.accuracy_real), \
                (scores, metric, shown)
            assert re.fullmatch(r"\d\.\d{6,}", shown), (scores, metric, shown)  # 6 decimals, more only if needed
        if scores[1] - scores[2] > 1e-6:
            assert len(shown) == len("0.500000")  # the shortest that does: 6 decimals where they suffice


def test_files_without_a_video_id_do_not_turn_the_video_bootstrap_off() -> None:
    """One stray file (``cover.png``) among the frames of videos: the intervals still resample whole videos,
    the stray file a unit of its own; resampling single frames would claim a precision the data lacks."""
    files = [*FILES, ("df", "cover.png")]
    scores = [*SCORES, 0.35]
    report = run(files, scores, bootstrap=200).to_dict()
    assert report["video"] is None  # video figures need every frame's video
    ci = report["intervals"]
    assert ci["unit"] == "video"
    assert "1 image without a video id" in ci["note"]
    y = np.array([f == "df" for f, _ in files])
    p = np.array(scores)
    ids = np.array([f"{int(fake)}/{name.split('_')[0]}" for (_, name), fake in zip(files, y, strict=True)])
    ids[-1] = "1/\x0019"  # the stray file: a unit of its own, keyed by its position (sorts before the videos)
    fakes, reals = sorted(set(ids[y])), sorted(set(ids[~y]))
    rng = np.random.default_rng(0)
    aucs = []
    for _ in range(200):
        picked = list(rng.choice(fakes, len(fakes))) + list(rng.choice(reals, len(reals)))
        index = np.concatenate([np.flatnonzero(ids == key) for key in picked])
        aucs.append(roc_auc_score(y[index], p[index]))
    assert ci["auc"] == pytest.approx(list(np.percentile(aucs, [2.5, 97.5])))


def test_eval_says_why_video_figures_are_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    from mesocli.evaluate import run_eval

    split = tmp_path / "data" / "validation"
    files = [*FILES[:4], ("df", "cover.png"), *FILES[9:12]]
    for k, (folder, name) in enumerate(files):
        (split / folder).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (k, k, k)).save(split / folder / name)
    scores = [0.0] * 256
    monkeypatch.setattr("mesocli.runtime.resolve",
                        lambda *args: Stub(name="stub", scores=scores, weights_path=Path("s.h5"), legacy=False))
    notes: list[str] = []
    report = run_eval(tmp_path / "data", bootstrap=0, log=notes.append)
    assert report.video is None
    assert any("no video figures" in line and "1 of 8 images" in line and "cover.png" in line for line in notes), notes


@pytest.mark.parametrize("where", ["root", "parent"])
def test_eval_says_once_when_the_manifest_that_tells_tracks_apart_cannot_be_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """A dataset whose ``manifest.jsonl`` (of its root or, for a split folder, one folder up) could not be read
    or has a torn header was silently taken as not made by ``extract --all-faces``: each track of a video counted
    as a video without a word. Eval now says so once; without a manifest, or with a readable one, it says nothing."""
    from PIL import Image

    from mesocli.evaluate import run_eval

    root = tmp_path / "data"
    split = root / "validation"
    for k, (folder, name) in enumerate(FILES[:4] + FILES[9:13]):
        (split / folder).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (k, k, k)).save(split / folder / name.replace("_", "_t0_"))
    monkeypatch.setattr("mesocli.runtime.resolve",
                        lambda *args: Stub(name="stub", scores=[0.0] * 256, weights_path=Path("s.h5"), legacy=False))
    data, split_name = (root, "validation") if where == "root" else (split, None)
    manifest = root / "manifest.jsonl"

    def notes() -> list[str]:
        said: list[str] = []
        run_eval(data, split_name, bootstrap=0, log=said.append)
        return [line for line in said if "manifest.jsonl" in line]

    assert notes() == []  # no manifest: copied crops, nothing to say
    for content in (b'{"type": "header", "settings": {"all_faces": tr', b"not json\n", b"\xff\xfe\n"):
        manifest.write_bytes(content)
        (line,) = notes()
        assert line.startswith(f"{manifest}: cannot read its header (") and line.endswith(
            "a video's --all-faces tracks are counted as videos"), line
    manifest.unlink()
    manifest.mkdir()  # unreadable as a file
    (line,) = notes()
    assert line.startswith(f"{manifest}: cannot read its header ("), line
    manifest.rmdir()
    for settings in ({"all_faces": False, "layout": "dataset"}, {"all_faces": True, "layout": "dataset"}):
        manifest.write_text(json.dumps({"type": "header", "settings": settings}) + "\n")
        assert notes() == []


def test_best_accuracy_is_what_eval_gets_at_the_best_threshold() -> None:
    """Scores within the 6-decimal rounding of the verdict rule (0.4999996 is shown, and called, 0.500000 at
    threshold 0.5): the best threshold must be one at which eval's own verdicts reach the best accuracy."""
    files = [("df", "a_0.png"), ("df", "a_1.png"), ("real", "b_0.png"), ("real", "b_1.png")]
    for scores in ([0.9, 0.4999999, 0.4999996, 0.1], [0.9, 0.2999996, 0.2999992, 0.1], [0.9, 0.6, 0.4, 0.1]):
        report = run(files, scores)
        again = run(files, scores, threshold=report.best_threshold)
        assert again.accuracy == report.best_accuracy, scores
        cuts = {max(s, round(s, 6)) for s in scores} | {1.0}  # fake when p or its shown value >= t
        assert report.best_accuracy == max(run(files, scores, threshold=t).accuracy for t in cuts), scores


def test_the_best_threshold_is_one_eval_takes_when_a_score_shows_1() -> None:
    """A real image scored 0.9999997 (shown 1.000000, called fake at every threshold up to 1): the best cut was
    "nothing fake", reported as the threshold 1.0000000000000002, which ``eval --threshold`` refuses (a threshold
    lies in [0, 1]). The best threshold is now one that eval takes, with the accuracy eval gets at it."""
    from mesocli.aggregate import check_threshold

    files = [("df", "a_0.png"), ("real", "b_0.png"), ("real", "b_1.png"), ("real", "c_0.png")]
    for scores in ([0.5, 0.6, 0.7, 0.9999997], [0.5, 0.6, 0.7, 1.0]):
        report = run(files, scores)
        check_threshold(report.best_threshold)
        again = run(files, scores, threshold=report.best_threshold)
        assert again.accuracy == report.best_accuracy, scores
        assert report.best_accuracy == max(run(files, scores, threshold=t).accuracy for t in (*scores, 1.0)), scores
