"""Error rates a reader weighs a verdict by: counted per face and per video (mesocli.rates), and stated by a model
card at a scan's threshold and rule (ModelCard.rates_at)."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import RunCli
from media import MediaKit

from mesocli.rates import THRESHOLDS, measure
from mesocli.weights import ModelCard, bundled_cards


def _card(name: str = "meso4_df") -> ModelCard:
    return next(card for card in bundled_cards() if card.name == name)


def test_errors_are_counted_per_face_and_per_video_by_each_scan_rule() -> None:
    """A real video whose mean p_fake stays under the threshold while half its frames reach it is called real by the
    mean rule and fake by the vote rule (a share of 0.5 reaches 0.5): the two rules are counted apart, per method."""
    p_fake = [0.9, 0.9, 0.1, 0.05, 0.2, 0.2, 0.2, 0.2, 0.6, 0.6, 0.6, 0.6, 0.3, 0.3, 0.3, 0.3]
    labels = [False] * 8 + [True] * 8
    methods = [None] * 8 + ["Deepfakes"] * 4 + ["FaceSwap"] * 4
    videos = ["original/a"] * 4 + ["original/b"] * 4 + ["Deepfakes/c"] * 4 + ["FaceSwap/d"] * 4
    table = measure(np.array(labels), np.array(p_fake), methods, videos, thresholds=(0.5, 0.7))
    assert table["thresholds"] == [0.5, 0.7]
    real = table["real_called_fake"]
    assert (real["faces"], real["videos"]) == (8, 2)
    assert real["face"] == [2, 2]  # the two frames at 0.9
    assert real["video_mean"] == [0, 0]  # video a's mean is 0.4875
    assert real["video_vote"] == [1, 0]  # half of a's frames reach 0.5, none of b's; at 0.7 a share of 0.5 is short
    missed = table["missed"]
    assert list(missed) == ["Deepfakes", "FaceSwap"]
    assert (missed["Deepfakes"]["faces"], missed["Deepfakes"]["videos"]) == (4, 1)
    assert missed["Deepfakes"]["face"] == [0, 4] and missed["Deepfakes"]["video_mean"] == [0, 1]
    assert missed["FaceSwap"]["face"] == [4, 4] and missed["FaceSwap"]["video_vote"] == [1, 1]


def test_faces_that_name_no_video_are_counted_per_face_only() -> None:
    table = measure(np.array([False, True]), np.array([0.7, 0.2]), [None, None], [None, None])
    assert table["thresholds"] == list(THRESHOLDS)
    assert table["real_called_fake"]["face"][4] == 1 and table["real_called_fake"]["video_mean"] is None
    assert table["missed"]["(no method)"]["face"][4] == 1 and table["missed"]["(no method)"]["videos"] is None


def test_a_bundled_card_states_per_video_rates_by_the_scans_rule_at_the_scans_threshold() -> None:
    """The report's rates were per face at the card's 0.5 whatever the scan's rule and threshold (with a caution at
    0.6): a scan that calls videos by the vote rule from 0.6 gets the rates measured at 0.6, per video by that rule
    (the rule named) beside the per-face ones, with no caution."""
    text = _card().rates_at(0.6, "vote")
    assert text is not None and "CAUTION" not in text
    assert text.startswith(
        "per video by this scan's rule (vote: the share of frames called fake) at threshold 0.6: FaceForensics++ c23 "
        "test (36 clips, 20 frames each): real videos called fake 0 of 12 (0.0 %, 95 % interval 0–25 %), forged "
        "videos missed: Deepfakes 7 of 12 (58.3 %, 95 % interval 31–81 %), Face2Face 6 of 6 (100.0 %, 95 % interval "
        "60–100 %), FaceSwap 6 of 6 (100.0 %, 95 % interval 60–100 %); per face at threshold 0.6: FaceForensics++ c23 "
        "test (720 faces): 0.0 % (95 % interval 0.0–1.6 %) of real faces called fake, forged faces missed: Deepfakes "
        "53.3 % (95 % interval 47–60 %), Face2Face 99.2 % (95 % interval 95.4–99.9 %), FaceSwap 100.0 % (95 % "
        "interval 96.8–100.0 %); "), text
    # the validation split's table at 0.6 (it was quoted at 0.5, "the only one measured on it")
    assert text.endswith("per face at threshold 0.6: MesoNet validation (7104 faces): 4.6 % (95 % interval 4.0–5.4 %) "
                         "of real faces called fake, 18.4 % (95 % interval 17.0–19.9 %) of forged faces missed")
    mean = _card().rates_at(0.5, "mean")
    assert mean is not None and mean.startswith("per video by this scan's rule (mean: the mean of the frame scores) "
                                                "at threshold 0.5: ")
    assert ("real videos called fake 0 of 12 (0.0 %, 95 % interval 0–25 %), forged videos missed: Deepfakes 4 of 12 "
            "(33.3 %, 95 % interval 13–61 %)") in mean
    assert ("per face at threshold 0.5: FaceForensics++ c23 test (720 faces): 1.2 % (95 % interval 0.4–3.7 %) of real "
            "faces called fake") in mean


def test_a_scan_between_measured_thresholds_gets_the_nearest_ones_rates_with_a_caution() -> None:
    text = _card().rates_at(0.63, "mean")
    assert text is not None and text.startswith(
        "CAUTION, NOT AT THIS SCAN'S THRESHOLD: this scan called faces fake from 0.63; the model card measured its "
        "rates at 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, and these are those at 0.6, the nearest: at 0.63 as "
        "many or fewer real faces and videos are called fake, and as many or more forged ones missed, than these "
        "say. per video by this scan's rule (mean: the mean of the frame scores) at threshold 0.6: "), text
    low = _card().rates_at(0.02, "mean")
    assert low is not None and "these are those at 0.1, the nearest: at 0.02 as many or more real faces" in low


def test_a_scan_by_the_confident_rule_is_told_its_video_rates_were_not_measured() -> None:
    text = _card().rates_at(0.5, "confident")
    assert text is not None and text.startswith(
        "per video by this scan's rule (confident): not measured (the model card measured the mean and vote rules "
        "only); per face at threshold 0.5: FaceForensics++ c23 test (720 faces): 1.2 % (95 % interval 0.4–3.7 %) of "
        "real faces called fake")


def test_an_older_card_without_the_table_still_loads_and_reads_as_before(tmp_path) -> None:
    """Cards written before the table (a copy of a bundled card, anyone's trained weights) state their per-face
    rates at their own threshold, with the caution at another one, as they did."""
    old = copy.deepcopy(_card())
    del old.metrics["ffpp_test"]["error_rates"]
    path = tmp_path / "old.json"
    path.write_text(old.to_json(), encoding="utf-8")
    card = ModelCard.from_json(path)
    assert card.rates_at(0.5, "vote") == card.error_rates() == (
        "per face at threshold 0.5: MesoNet validation (7104 faces): 9.8 % of real faces called fake, 9.8 % of "
        "forged faces missed; FaceForensics++ c23 test (720 faces): 1.2 % of real faces called fake, forged faces "
        "missed: Deepfakes 32.9 %, Face2Face 95.8 %, FaceSwap 100.0 %")
    assert card.rates_at(0.6).startswith("CAUTION, NOT AT THIS SCAN'S THRESHOLD: these were measured at threshold "
                                         "0.5, and this scan called faces fake from 0.6, at which they are not known")


def test_every_bundled_card_holds_the_table_for_its_ffpp_test_clips() -> None:
    """The six cards: 12 real clips, 12 Deepfakes, 6 Face2Face, 6 FaceSwap (20 faces each), at 0.1…0.9."""
    for card in bundled_cards():
        table = card.metrics["ffpp_test"]["error_rates"]
        assert table["thresholds"] == list(THRESHOLDS), card.name
        sizes = {name: (entry["faces"], entry["videos"]) for name, entry in table["missed"].items()}
        assert sizes == {"Deepfakes": (240, 12), "Face2Face": (120, 6), "FaceSwap": (120, 6)}, card.name
        real = table["real_called_fake"]
        assert (real["faces"], real["videos"]) == (240, 12), card.name
        at = table["thresholds"].index(card.metrics["ffpp_test"]["threshold"])
        assert real["face"][at] == card.metrics["ffpp_test"]["confusion"]["fp"], card.name  # the card's own figures


def _rows(text: str, first: str) -> list[list[str]]:
    """The cells of the markdown table rows of ``text`` whose first cell starts with ``first``."""
    return [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in text.splitlines()
            if line.startswith("|") and line.strip("| ").startswith(first)]


def test_the_docs_tables_of_error_counts_are_the_cards() -> None:
    """scan.md's table of meso4_df's clips (mean rule) said 6 of 6 Face2Face clips missed at 0.3 and 0.4, where the
    card counts 5: each count the docs give is the card's (a default scan's, from its per-clip scores; the tables of
    models.md, each card's table of counts too)."""
    docs = Path(__file__).resolve().parents[1] / "docs"
    table = _card().metrics["ffpp_test"]["error_rates"]
    entries = [table["real_called_fake"], *(table["missed"][m] for m in ("Deepfakes", "Face2Face", "FaceSwap"))]

    def counted(what: str, at: int) -> list[str]:
        unit = "faces" if what == "face" else "videos"
        return [f"{entry[what][at]} of {entry[unit]}" for entry in entries]

    from mesocli.rates import for_scan
    from mesocli.runtime import resolve

    def scanned(arch: str, manipulation: str, threshold: float, what: str) -> list[str]:
        """The counts a default scan's row gives (from the cards' per-clip scores), as the docs write them."""
        rates = for_scan(resolve(arch, manipulation, None), threshold, "mean", ("frames", 30), detector="hog")
        item = rates["combined"] or rates["detectors"][f"{arch}_{manipulation}"]
        counts = item[what]
        return [f"{c['count']} of {c['total']}" for c in (counts["real_called_fake"], *counts["missed"].values())]

    scan_md = (docs / "scan.md").read_text(encoding="utf-8")
    rows = _rows(scan_md, "0.")
    assert [row[0].split()[0] for row in rows] == ["0.3", "0.4", "0.5", "0.6"]
    for row in rows:  # a default scan's counts of meso4_df by mean
        real, deepfakes, face2face, faceswap = scanned("meso4", "df", float(row[0].split()[0]), "videos")
        assert row[1:] == [real, deepfakes, f"{face2face} / {faceswap}"], row
    models_md = (docs / "models.md").read_text(encoding="utf-8")
    for model, arch, manipulation in (("`--model any`", "meso4", "any"), ("`--arch ensemble`", "ensemble", "df"),
                                      ("`--arch ensemble --model f2f`", "ensemble", "f2f"),
                                      ("`--arch ensemble --model fs`", "ensemble", "fs"),
                                      *((f"`{c.name}`", c.arch, c.manipulation) for c in bundled_cards())):
        for what, counted_as in (("faces", "scanned faces"), ("videos", "scanned clips, mean")):
            row = [model, counted_as, *scanned(arch, manipulation, 0.5, what)]
            assert row in _rows(models_md, model), row
    for model, arch, manipulation in (("`--model any`", "meso4", "any"),
                                      ("`--model any --arch mesoinception4`", "mesoinception4", "any"),
                                      ("`--arch ensemble`", "ensemble", "df"),
                                      ("`--model any --arch ensemble`", "ensemble", "any")):
        (row,) = [row for row in _rows(scan_md, model) if len(row) == 4]
        clips, faces = scanned(arch, manipulation, 0.5, "videos"), scanned(arch, manipulation, 0.5, "faces")
        number = [f.split()[0] for f in faces]
        assert row[1:] == [f"{clips[0]} ({number[0]} faces)", f"{clips[1]} ({number[1]})",
                           f"{clips[2]} / {clips[3]} ({number[2]} / {number[3]})"], row
    models = (docs / "models.md").read_text(encoding="utf-8")
    for card in bundled_cards():
        counts = card.metrics["ffpp_test"]["error_rates"]
        at = counts["thresholds"].index(0.5)
        for what, counted_as in (("face", "faces"), ("video_mean", "clips, mean"), ("video_vote", "clips, vote")):
            cells = [counts["real_called_fake"], *(counts["missed"][m] for m in ("Deepfakes", "Face2Face", "FaceSwap"))]
            unit = "faces" if what == "face" else "videos"
            row = [f"`{card.name}`", counted_as, *(f"{c[what][at]} of {c[unit]}" for c in cells)]
            assert row in _rows(models, f"`{card.name}`"), row
    for what, counted_as in (("face", "faces"), ("video_mean", "clips, mean"), ("video_vote", "clips, vote")):
        row = _rows(models, f"{counted_as} (of")
        assert row and row[0][1:] == [f"{a} / {b}" for a, b in zip(table["real_called_fake"][what],
                                                                  table["missed"]["Deepfakes"][what], strict=True)]


def test_a_threshold_a_hair_off_a_measured_one_is_written_as_given() -> None:
    """A scan from 0.50000001 was told ``this scan called faces fake from 0.5; ... these are those at 0.5, the
    nearest: at 0.5 as many or fewer ...`` (``:g`` keeps six figures): the threshold reads as the scan was given it."""
    text = _card().rates_at(0.50000001, "mean")
    assert text is not None and text.startswith(
        "CAUTION, NOT AT THIS SCAN'S THRESHOLD: this scan called faces fake from 0.50000001; the model card measured "
        "its rates at 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, and these are those at 0.5, the nearest: at "
        "0.50000001 as many or fewer real faces"), text
    assert ("per face at threshold 0.5 (CAUTION: not at this scan's threshold: measured at 0.5, the nearest to "
            "0.50000001; ") in text  # the validation table's
    old = copy.deepcopy(_card())
    del old.metrics["ffpp_test"]["error_rates"]
    text = old.rates_at(0.49999999)
    assert text is not None and text.startswith(
        "CAUTION, NOT AT THIS SCAN'S THRESHOLD: these were measured at threshold 0.5, and this scan called faces "
        "fake from 0.49999999, at which they are not known"), text
    assert _card().rates_at(0.63, "mean").startswith(  # ordinary thresholds read as before
        "CAUTION, NOT AT THIS SCAN'S THRESHOLD: this scan called faces fake from 0.63;")


def test_an_all_faces_scan_is_told_the_cards_video_rates_are_of_the_largest_face_not_of_face_tracks() -> None:
    """The cards count a clip's verdict on its largest face per frame, one series; ``scan --all-faces`` calls a video
    by its most-fake face track, which the cards did not measure. The report said ``per video by this scan's rule``
    all the same; it now says what was measured and that the scan's track rule was not."""
    text = _card().rates_at(0.5, "mean", tracks=True)
    assert text is not None and text.startswith(
        "per video by this scan's rule (mean: the mean of the frame scores) at threshold 0.5, measured on the "
        "largest face of each frame as one series, not by face tracks as this --all-faces scan decides (its video is "
        "fake when its most-fake track is, which these do not measure where a video shows several faces): "
        "FaceForensics++ c23 test (36 clips, 20 frames each): real videos called fake 0 of 12 (0.0 %, 95 % "
        "interval 0–25 %)"), text
    assert _card().rates_at(0.5, "mean") == _card().rates_at(0.5, "mean", tracks=False)  # one face: as before
    assert "--all-faces" not in _card().rates_at(0.5, "mean")



def test_the_reports_verdict_rule_writes_the_scans_threshold_as_given(tmp_path: Path) -> None:
    """The report's verdict rule line read ``threshold 0.5`` for a scan from 0.50000001."""
    from mesocli.scan import ScanOptions
    from mesocli.scan_run import _explainer

    made = _explainer(None, tmp_path / "r.html", 4, ScanOptions(threshold=0.50000001), False, None)
    assert made.meta["verdict rule"].startswith("mean of the frame scores, threshold 0.50000001, "), made.meta
    made = _explainer(None, tmp_path / "r.html", 4, ScanOptions(threshold=0.6), False, None)
    assert made.meta["verdict rule"].startswith("mean of the frame scores, threshold 0.6, "), made.meta


def test_the_reports_header_words_its_sampling_as_the_sampling_caution_does(tmp_path: Path) -> None:
    """The report's header said "2 fps", "all frames" where the cards' sampling caution says "2 frames a second",
    "every frame": one wording (:func:`mesocli.rates.sampling_words`) for both."""
    from mesocli.scan import ScanOptions
    from mesocli.scan_run import _explainer

    said = {}
    for name, options in (("frames", ScanOptions(frames=30)), ("fps", ScanOptions(fps=2.0)),
                          ("every", ScanOptions(every=3)), ("every 1", ScanOptions(every=1)),
                          ("all", ScanOptions(all_frames=True))):
        said[name] = _explainer(None, tmp_path / "r.html", 4, options, False, None).meta["sampling"]
    assert said == {"frames": "30 frames a video, detector hog", "fps": "2 frames a second, detector hog",
                    "every": "one frame in 3, detector hog", "every 1": "every frame, detector hog",
                    "all": "every frame, detector hog"}


def test_the_report_header_states_the_cards_rates_for_an_all_faces_scan_as_such() -> None:
    """The scan passes its ``--all-faces`` on to the rates its report's header states for each detector."""
    from mesocli.runtime import resolve
    from mesocli.scan_run import _explain_with

    explainer = SimpleNamespace(threshold=0.7, meta={}, model=None)
    _explain_with(explainer, resolve("meso4", "df", None), "vote", tracks=True)
    said = explainer.meta["measured error rates of meso4_df"]
    assert said.startswith("per video by this scan's rule (vote: the share of frames called fake) at threshold 0.7: "
                           "FaceForensics++ c23 test (36 clips, 30 frames each, scanned with the hog face detector): "
                           "real videos called fake 0 of 12 (0.0 %, 95 % interval 0–25 %), forged videos missed: "
                           "Deepfakes "), said
    assert said.endswith(" (CAUTION: measured on the largest face of each frame as one series, not by face tracks as "
                         "this --all-faces scan decides)"), said


def test_a_card_whose_error_table_is_malformed_is_refused_in_one_line_before_any_work(
    run_cli: RunCli, kit: MediaKit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model card beside ``--weights`` whose ``error_rates`` was cut short (by hand, or by another version) made
    ``scan --report`` stop with a KeyError traceback after loading (exit 1); it is an unreadable card, refused as one
    before anything is scanned or written."""
    from mesocli.errors import WeightsError
    from mesocli.weights import bundled_dir

    monkeypatch.chdir(tmp_path)
    shutil.copyfile(bundled_dir() / "meso4_df.weights.h5", "mine.weights.h5")
    raw = json.loads((bundled_dir() / "meso4_df.json").read_text(encoding="utf-8"))
    raw["weights_file"] = "mine.weights.h5"
    del raw["metrics"]["ffpp_test"]["error_rates"]["missed"]
    (tmp_path / "mine.json").write_text(json.dumps(raw), encoding="utf-8")
    code, stdout, stderr = run_cli("scan", kit.face_jpeg, "--weights", "mine.weights.h5", "--report", "r.html", "-q",
                                   "-o", "rows.jsonl")
    assert code == 2, stderr
    assert stderr.strip().splitlines()[-1].startswith("mesocli: "), stderr
    assert "mine.json: unreadable model card (metrics.ffpp_test.error_rates: no missed" in stderr, stderr
    assert "Traceback" not in stderr and not (tmp_path / "r.html").exists() and not (tmp_path / "rows.jsonl").exists()
    for cut, why in ((lambda t: t["real_called_fake"].update(face=[1, 2]), "real_called_fake.face: 2 counts for 9"),
                     (lambda t: t["missed"]["Deepfakes"].update(faces=0), "missed.Deepfakes.faces: 0"),
                     (lambda t: t.update(thresholds=[0.5, "x"]), "thresholds: not numbers from 0 to 1"),
                     (lambda t: t["missed"]["FaceSwap"].update(video_vote=None), "missed.FaceSwap.video_vote: none")):
        raw = json.loads((bundled_dir() / "meso4_df.json").read_text(encoding="utf-8"))
        cut(raw["metrics"]["ffpp_test"]["error_rates"])
        (tmp_path / "mine.json").write_text(json.dumps(raw), encoding="utf-8")
        with pytest.raises(WeightsError, match="unreadable model card") as caught:
            ModelCard.from_json(tmp_path / "mine.json")
        assert why in str(caught.value), caught.value


# ------------------------------------------------------------------ the rates in scan's JSON rows and table


def _scan_rows(run_cli: RunCli, *args: object, exit_code: int = 0) -> list[dict]:
    from conftest import check_schema

    code, out, err = run_cli("scan", *args, "--format", "json", "-q")
    assert code == exit_code, err
    rows = json.loads(out)
    for row in rows:
        check_schema(row)
    return rows


def _count(count: int, total: int) -> dict:
    from mesocli.rates import share_interval

    return {"count": count, "total": total, "share": round(count / total, 4),
            "share_interval": share_interval(count, total)}


def test_a_scans_json_gives_each_detectors_error_rates_as_numbers_at_its_threshold_and_rule(
    run_cli: RunCli, kit: MediaKit
) -> None:
    """Only a --report quoted the card's rates, in words: a row now holds them as numbers, per clip by the scan's
    rule (mean) and per face, at its threshold, counted from the test clips as a default scan took them (30 frames
    each, hog); this video gave 24, which a caution says. An image's row is weighed per face only; a row without a
    verdict has none."""
    video, image, broken = _scan_rows(run_cli, kit.face_video, kit.face_jpeg, kit.text_mp4, exit_code=3)
    rates = video["error_rates"]
    assert rates["combined"] is None and list(rates["detectors"]) == ["meso4_df"]
    df = rates["detectors"]["meso4_df"]
    assert (df["measured_on"], df["threshold"], df["threshold_differs"], df["rule"], df["frames_per_clip"]) == (
        "FaceForensics++ c23 test", 0.5, False, "mean", 30)
    assert df["videos"] == {"real_called_fake": _count(0, 12), "missed": {
        "Deepfakes": _count(4, 12), "Face2Face": _count(6, 6), "FaceSwap": _count(6, 6)}}
    assert df["faces"] == {"real_called_fake": _count(5, 360), "missed": {
        "Deepfakes": _count(126, 360), "Face2Face": _count(169, 180), "FaceSwap": _count(180, 180)}}
    assert df["sampling_differs"] is True and df["reason"] is None
    assert df["cautions"] == ["measured at another sampling: 30 frames a clip, this scan sampled 24 frames of this "
                              "video, not the 30 asked; its per-video rates may differ"]  # (it has 24)
    pictured = image["error_rates"]["detectors"]["meso4_df"]
    assert pictured["faces"] == df["faces"] and pictured["videos"] is None and pictured["rule"] is None
    assert pictured["sampling_differs"] is None and pictured["reason"].startswith("an image: ")
    assert broken["status"] == "error" and broken["error_rates"] is None


def test_a_threshold_between_tabulated_ones_by_the_vote_rule_is_counted_at_the_scans_own(
    run_cli: RunCli, kit: MediaKit
) -> None:
    """--threshold 0.45 --aggregate vote: the counts were the table's at 0.4 (the nearest), flagged; from the
    clips' scores they are at 0.45 itself, unflagged. --frames 20 is not the clips' 30: cautioned. The confident
    rule, which the table did not measure per clip, is counted too."""
    (row,) = _scan_rows(run_cli, kit.face_video, "--threshold", "0.45", "--aggregate", "vote", "--frames", "20")
    df = row["error_rates"]["detectors"]["meso4_df"]
    assert (df["threshold"], df["threshold_differs"], df["rule"], df["sampling_differs"]) == (0.45, False, "vote", True)
    assert df["videos"]["real_called_fake"] == _count(0, 12)
    assert df["videos"]["missed"]["Deepfakes"] == _count(4, 12) and df["videos"]["missed"]["FaceSwap"] == _count(6, 6)
    assert df["videos"]["missed"]["Face2Face"] == _count(5, 6) and df["faces"]["real_called_fake"] == _count(21, 360)
    assert df["cautions"] == ["measured at another sampling: 30 frames a clip, this scan sampled 20 frames a video; "
                              "its per-video rates may differ"]
    (row,) = _scan_rows(run_cli, kit.face_video, "--threshold", "0.3", "--aggregate", "vote", "--frames", "4")
    df = row["error_rates"]["detectors"]["meso4_df"]
    assert df["videos"]["real_called_fake"] == _count(2, 12)  # vote at 0.3
    assert df["videos"]["missed"]["Face2Face"] == _count(5, 6) and not df["threshold_differs"]
    assert df["cautions"][0].startswith("measured at another sampling: 30 frames a clip, this scan sampled 4 frames")
    (row,) = _scan_rows(run_cli, kit.face_video, "--aggregate", "confident", "--frames", "4")
    df = row["error_rates"]["detectors"]["meso4_df"]
    assert df["videos"]["real_called_fake"] == _count(0, 12) and df["rule"] == "confident"
    assert df["videos"]["missed"]["Deepfakes"] == _count(4, 12) and df["faces"]["real_called_fake"] == _count(5, 360)
    assert df["sampling_differs"] is True and df["reason"] is None


def test_a_card_without_the_table_gives_null_rates_with_the_reason(
    run_cli: RunCli, kit: MediaKit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Weights whose card holds no table (an older card, a train run's): null counts, and why, not made-up numbers;
    the table says they are unknown."""
    from mesocli.weights import bundled_dir

    monkeypatch.chdir(tmp_path)
    shutil.copyfile(bundled_dir() / "meso4_df.weights.h5", "mine.weights.h5")
    raw = json.loads((bundled_dir() / "meso4_df.json").read_text(encoding="utf-8"))
    raw["weights_file"], raw["name"] = "mine.weights.h5", "mine"
    del raw["metrics"]["ffpp_test"]["error_rates"], raw["metrics"]["ffpp_test_clips"]
    (tmp_path / "mine.json").write_text(json.dumps(raw), encoding="utf-8")
    (row,) = _scan_rows(run_cli, kit.face_video, "--weights", "mine.weights.h5", "--frames", "4")
    (name, mine), = row["error_rates"]["detectors"].items()
    assert {key: mine[key] for key in ("threshold", "videos", "faces", "sampling_differs", "cautions")} == {
        "threshold": None, "videos": None, "faces": None, "sampling_differs": None, "cautions": []}
    assert mine["rule"] == "mean" and mine["reason"].startswith("its model card holds no table of error counts")
    code, out, err = run_cli("scan", kit.face_jpeg, "--weights", "mine.weights.h5", "--format", "table", "-q")
    assert code == 0, err
    assert f"error rates of {name}: unknown (its model card holds no table of error counts" in out, out


def test_model_any_gives_each_detectors_rates_and_the_combined_verdicts(run_cli: RunCli, kit: MediaKit) -> None:
    """--model any (and --arch ensemble): each network's counts by name; the combined verdict's own were not in the
    cards (counts, not which clips each erred on): counted now from each clip's scores, in ``combined`` and in the
    table's closing lines."""
    from mesocli.rates import FACE_INTERVALS

    (row,) = _scan_rows(run_cli, kit.face_video, "--model", "any", "--frames", "4")
    rates = row["error_rates"]
    assert list(rates["detectors"]) == ["meso4_df", "meso4_f2f", "meso4_fs"]
    assert rates["detectors"]["meso4_f2f"]["videos"]["real_called_fake"] == _count(1, 12)
    assert rates["detectors"]["meso4_fs"]["videos"]["missed"]["Deepfakes"] == _count(11, 12)
    assert rates["combined"]["videos"] == {"real_called_fake": _count(1, 12), "missed": {  # f2f's real one; each
        "Deepfakes": _count(4, 12), "Face2Face": _count(0, 6), "FaceSwap": _count(4, 6)}}  # forgery caught by one
    assert rates["combined"]["reason"] is None and rates["combined"]["sampling_differs"] is True
    (row,) = _scan_rows(run_cli, kit.face_video, "--arch", "ensemble", "--frames", "4")
    rates = row["error_rates"]
    assert list(rates["detectors"]) == ["meso4_df", "mesoinception4_df"]
    assert rates["combined"]["videos"] == {"real_called_fake": _count(0, 12), "missed": {
        "Deepfakes": _count(3, 12), "Face2Face": _count(5, 6), "FaceSwap": _count(6, 6)}}
    code, out, err = run_cli("scan", kit.face_jpeg, "--model", "any", "--format", "table", "-q")
    assert code == 0, err
    lines = out.splitlines()[-6:]
    assert lines.pop() == "1 input: 1 real", out  # the summary line stays last
    assert lines.pop() == f"({FACE_INTERVALS})", out  # per-face intervals: what they are not
    assert lines[0].startswith("error rates of meso4_df (FF++ c23 test faces, at 0.5): real called fake 5/360 "
                               "(0.5–3.3 %); missed Deepfakes 126/360 (30.2–40.1 %), Face2Face 169/180 (89.3–96.6 %), "
                               "FaceSwap 180/180 (97.9–100.0 %)"), out
    assert lines[1].startswith("error rates of meso4_f2f ") and lines[2].startswith("error rates of meso4_fs ")
    assert lines[3] == ("error rates of the combined verdict (FF++ c23 test faces, at 0.5): real called fake 46/360 "
                        "(9.7–16.7 %); missed Deepfakes 96/360 (22.3–31.5 %), Face2Face 3/180 (0.5–4.8 %), FaceSwap "
                        "96/180 (46–61 %)"), out


def test_the_table_closes_with_each_detectors_rates_per_clip_by_the_scans_rule(run_cli: RunCli, kit: MediaKit) -> None:
    """A moderator reading the table saw no rate: one closing line per detector, per clip for a video."""
    code, out, err = run_cli("scan", kit.face_video, "--threshold", "0.45", "--format", "table", "-q")
    assert code == 0, err
    assert out.splitlines()[-2:] == [(
        "error rates of meso4_df (FF++ c23 test clips, mean, at 0.45): real called fake 0/12 (0–25 %); missed "
        "Deepfakes 4/12 (13–61 %), Face2Face 5/6 (43–97 %), FaceSwap 6/6 (60–100 %) (measured at 30 frames a clip)"),
        "1 input: 1 real"], out


def test_the_report_cautions_that_the_rates_were_measured_at_another_sampling() -> None:
    """The report's header quoted the cards' rates whatever the scan sampled: a caution where it is not the cards'
    30 frames a clip, none at --frames 30 (the default)."""
    from mesocli.runtime import resolve
    from mesocli.scan_run import _explain_with

    explainer = SimpleNamespace(threshold=0.5, meta={}, model=None)
    _explain_with(explainer, resolve("meso4", "df", None), "mean", sampling=("fps", 2.0))
    assert explainer.meta["measured error rates: sampling"] == (
        "CAUTION, measured at another sampling: 30 frames a clip, this scan sampled 2 frames a second; its "
        "per-video rates may differ")
    explainer = SimpleNamespace(threshold=0.5, meta={}, model=None)
    _explain_with(explainer, resolve("meso4", "df", None), "mean", sampling=("frames", 30))
    assert "measured error rates: sampling" not in explainer.meta


def test_a_video_shorter_than_the_frames_asked_is_cautioned_with_the_frames_it_gave(
    run_cli: RunCli, kit: MediaKit
) -> None:
    """The default --frames 30 is the cards' sampling, but a video of 12 frames gives 12: its row said the sampling
    was the cards' (``sampling_differs`` false, no caution), and the table's closing line too; a long video's row of
    the same scan is at the cards' sampling."""
    full, short = _scan_rows(run_cli, kit.long_face_video, kit.two_face_video)
    assert full["frames"]["sampled"] == 30 and short["frames"]["sampled"] == 12
    df = full["error_rates"]["detectors"]["meso4_df"]
    assert df["sampling_differs"] is False and df["cautions"] == []
    df = short["error_rates"]["detectors"]["meso4_df"]
    assert df["sampling_differs"] is True
    assert df["cautions"] == ["measured at another sampling: 30 frames a clip, this scan sampled 12 frames of this "
                              "video, not the 30 asked; its per-video rates may differ"]
    code, out, err = run_cli("scan", kit.long_face_video, kit.two_face_video, "--format", "table", "-q")
    assert code == 0, err
    (line,) = [line for line in out.splitlines() if line.startswith("error rates of meso4_df")]
    assert line.endswith("(measured at 30 frames a clip)"), out


def test_a_report_at_the_cards_sampling_cautions_on_a_video_shorter_than_the_frames_asked(
    run_cli: RunCli, kit: MediaKit, tmp_path: Path
) -> None:
    """--frames 30 is the cards' sampling, so the report's header had no caution, though a 12-frame video gave 12."""
    import html

    code, _, err = run_cli("scan", kit.face_video, kit.two_face_video, "--frames", "30", "--report",
                           tmp_path / "r.html", "-q", "-o", tmp_path / "rows.json")
    assert code == 0, err
    text = html.unescape((tmp_path / "r.html").read_text(encoding="utf-8"))
    assert (f"CAUTION, measured at another sampling: 30 frames a clip, this scan took other than the frames asked of "
            f"2 videos ({kit.face_video}, {kit.two_face_video}; the JSON rows' error_rates say how many); their "
            "per-video rates may differ") in text, text


def test_an_all_faces_image_of_two_faces_is_cautioned_that_any_face_decides(
    run_cli: RunCli, kit: MediaKit, tmp_path: Path
) -> None:
    """--all-faces calls an image fake when any of its faces is: its row quoted the per-face counts bare."""
    from PIL import Image

    face = Image.open(kit.face_jpeg)
    pair = Image.new("RGB", (face.width * 2, face.height))
    pair.paste(face, (0, 0))
    pair.paste(face, (face.width, 0))
    pair.save(tmp_path / "pair.png")
    pair, one = _scan_rows(run_cli, tmp_path / "pair.png", kit.face_jpeg, "--all-faces")
    assert len(pair["faces"]) == 2 and len(one["faces"]) == 1
    df = pair["error_rates"]["detectors"]["meso4_df"]
    assert df["faces"]["real_called_fake"] == _count(5, 360)  # the counts stay the card's
    assert df["cautions"] == ["measured per face: this --all-faces scan calls an image fake when any of its 2 faces "
                              "is, so a real one more often than one real face is"]
    assert one["error_rates"]["detectors"]["meso4_df"]["cautions"] == []


def test_a_table_of_videos_and_images_gives_the_images_per_face_rates_too(run_cli: RunCli, kit: MediaKit) -> None:
    """A run of a video and an image closed with the per-clip line alone: the image's verdict, one face's, is
    weighed by the per-face counts, which a line of their own now gives."""
    code, out, err = run_cli("scan", kit.face_video, kit.face_jpeg, "--frames", "30", "--format", "table", "-q")
    assert code == 0, err
    lines = [line for line in out.splitlines() if line.startswith("error rates of ")]
    assert lines == [
        "error rates of meso4_df (FF++ c23 test clips, mean, at 0.5): real called fake 0/12 (0–25 %); missed "
        "Deepfakes 4/12 (13–61 %), Face2Face 6/6 (60–100 %), FaceSwap 6/6 (60–100 %) (measured at 30 frames a clip)",
        "error rates of meso4_df for the images (FF++ c23 test faces, at 0.5): real called fake 5/360 (0.5–3.3 %); "
        "missed Deepfakes 126/360 (30.2–40.1 %), Face2Face 169/180 (89.3–96.6 %), FaceSwap 180/180 (97.9–100.0 %)"
    ], out


def test_the_sampling_caution_names_each_sampling_in_words() -> None:
    """The caution read "sampled 2 frames a second a video", "sampled all frames a video"."""
    from mesocli.rates import sampling_caution

    said = {mode: sampling_caution(20, (mode, value)) for mode, value in
            (("frames", 30), ("fps", 2.0), ("every", 3), ("all", None))}
    assert {mode: text.split("this scan sampled ")[1].split(";")[0] for mode, text in said.items()} == {
        "frames": "30 frames a video", "fps": "2 frames a second", "every": "one frame in 3", "all": "every frame"}
    assert sampling_caution(20, ("frames", 20)) is None and sampling_caution(20, ("frames", 20), 20) is None


def test_every_1_is_cautioned_as_every_frame() -> None:
    """``scan --every 1``'s sampling caution read "this scan sampled one frame in 1"."""
    from mesocli.rates import for_scan, sampling_caution
    from mesocli.runtime import resolve

    assert sampling_caution(20, ("every", 1)) == ("measured at another sampling: 20 frames a clip, this scan sampled "
                                                  "every frame; its per-video rates may differ")
    rates = for_scan(resolve("meso4", "df", None), 0.5, "mean", ("every", 1))
    assert "this scan sampled every frame;" in rates["detectors"]["meso4_df"]["cautions"][-1]


def test_a_video_of_unknown_length_sampled_once_a_second_is_cautioned_with_the_frames_it_gave() -> None:
    """--frames 30 of a video whose length is not known samples one frame a second, here 45: its row said the
    cards' sampling."""
    from mesocli.rates import for_scan, for_video
    from mesocli.runtime import resolve

    rates = for_scan(resolve("meso4", "df", None), 0.5, "mean", ("frames", 30))
    assert rates["detectors"]["meso4_df"]["sampling_differs"] is False
    assert for_video(rates, ("frames", 30), 30) is rates
    df = for_video(rates, ("frames", 30), 45)["detectors"]["meso4_df"]
    assert df["sampling_differs"] is True and df["cautions"] == [
        "measured at another sampling: 30 frames a clip, this scan sampled 45 frames of this video, not the 30 asked; "
        "its per-video rates may differ"]
    assert rates["detectors"]["meso4_df"]["cautions"] == []  # the run's own, shared by its rows, unchanged


def test_a_video_scans_report_says_the_rates_were_measured_at_another_sampling(
    run_cli: RunCli, kit: MediaKit, tmp_path: Path
) -> None:
    """The report of a video scan of --frames 4 (the cards' clips: 30 frames each) cautions so in its header."""
    import html

    code, _, err = run_cli("scan", kit.face_video, "--frames", "4", "--report", tmp_path / "r.html", "-q",
                           "-o", tmp_path / "rows.json")
    assert code == 0, err
    text = html.unescape((tmp_path / "r.html").read_text(encoding="utf-8"))
    assert ("CAUTION, measured at another sampling: 30 frames a clip, this scan sampled 4 frames a video; its "
            "per-video rates may differ") in text


def test_an_exported_onnx_and_an_all_faces_scan_get_the_cards_counts_with_their_cautions(
    run_cli: RunCli, kit: MediaKit, tmp_path: Path
) -> None:
    """An .onnx export given as it is has the counts of the bundled weights it came from, saying whose; an
    --all-faces scan's per-clip counts are of the largest face of each frame, not of face tracks, said so."""
    from mesocli.weights import bundled_dir

    exported = tmp_path / "mine.onnx"  # no card beside it: only the sha256 of its source inside
    exported.write_bytes((bundled_dir() / "meso4_f2f.onnx").read_bytes())
    (row,) = _scan_rows(run_cli, kit.face_jpeg, "--weights", exported)
    (mine,) = row["error_rates"]["detectors"].values()
    assert mine["faces"]["real_called_fake"] == _count(39, 360) and mine["videos"] is None  # meso4_f2f's, per face
    assert mine["cautions"] == [f"those of the weights it was exported from, meso4_f2f (sha256 "
                                f"{_card('meso4_f2f').sha256[:12]}), as their model card gives them"]
    (row,) = _scan_rows(run_cli, kit.face_video, "--all-faces", "--frames", "24")
    df = row["error_rates"]["detectors"]["meso4_df"]
    assert df["videos"]["real_called_fake"] == _count(0, 12) and df["sampling_differs"] is True
    assert df["cautions"] == ["measured on the largest face of each frame as one series, not by face tracks as this "
                              "--all-faces scan decides", "measured at another sampling: 30 frames a clip, this scan "
                              "sampled 24 frames a video; its per-video rates may differ"]


# ------------------------------------------ counted from each test clip's scan scores (metrics.ffpp_test_clips)


def _clips_section(scores: dict[str, list[float]]) -> dict:
    """A hand-made per-clip section: clip name ``method/id.mp4`` -> its faces' p_fake (``original``: real)."""
    clips = []
    for name, p_fake in scores.items():
        method = name.split("/")[0]
        clips.append({"clip": name, "method": None if method == "original" else method, "fake": method != "original",
                      "frames": 30, "faces": len(p_fake), "mean": round(sum(p_fake) / len(p_fake), 6),
                      "p_fake": p_fake})
    return {"measured_on": "FaceForensics++ c23 test", "command": "mesocli scan --model any", "mesocli": "0.1.0",
            "sampling": {"mode": "frames", "value": 30}, "detector": "hog", "clips": clips}


def _leaf(name: str, scores: dict[str, list[float]]) -> SimpleNamespace:
    """A network whose model card holds only the per-clip section ``scores`` (no table)."""
    from mesocli.rates import CLIPS_KEY, check

    metrics = {CLIPS_KEY: _clips_section(scores)}
    check(metrics)  # as a card file's is checked when it is read
    return SimpleNamespace(name=name, card=SimpleNamespace(metrics=metrics, error_rates=lambda: None),
                           source_card=None)


# two detectors' faces of four clips: two real, one Deepfakes, one Face2Face
DF = {"original/r1.mp4": [0.1, 0.2, 0.3], "original/r2.mp4": [0.1, 0.1], "Deepfakes/d1.mp4": [0.9, 0.8],
      "Face2Face/f1.mp4": [0.2, 0.1, 0.3]}
F2F = {"original/r1.mp4": [0.6, 0.7, 0.2], "original/r2.mp4": [0.1, 0.2], "Deepfakes/d1.mp4": [0.1, 0.1],
       "Face2Face/f1.mp4": [0.3, 0.4, 0.45]}


def _counts(real: tuple[int, int], deepfakes: tuple[int, int], face2face: tuple[int, int]) -> dict:
    return {"real_called_fake": _count(*real), "missed": {"Deepfakes": _count(*deepfakes),
                                                          "Face2Face": _count(*face2face)}}


def test_model_any_counts_the_combined_verdicts_errors_from_each_clips_scores() -> None:
    """--model any calls a clip fake when any detector does: r1 is called fake by f2f alone (its mean is 0.5), d1 by
    df alone, f1 by neither. The cards held counts, not which clips each detector erred on, so ``combined`` had
    none; from the per-clip scores it is counted, per clip by the rule and per face (the largest score)."""
    from mesocli.detectors import DetectorSet
    from mesocli.rates import for_scan

    rates = for_scan(DetectorSet("meso4", {"df": _leaf("df", DF), "f2f": _leaf("f2f", F2F)}), 0.5, "mean",
                     ("frames", 30), detector="hog")
    df, f2f, combined = rates["detectors"]["df"], rates["detectors"]["f2f"], rates["combined"]
    assert df["videos"] == _counts((0, 2), (0, 1), (1, 1)) and f2f["videos"] == _counts((1, 2), (1, 1), (1, 1))
    assert combined["videos"] == _counts((1, 2), (0, 1), (1, 1))  # r1 by f2f, d1 caught by df, f1 by neither
    # per face: r1's 0.6 and 0.7 (f2f); d1's both (df); none of f1's (0.3, 0.4, 0.45 at most)
    assert combined["faces"] == _counts((2, 5), (0, 2), (3, 3))
    assert (combined["threshold"], combined["threshold_differs"], combined["rule"], combined["reason"]) == (
        0.5, False, "mean", None)
    assert combined["cautions"] == [] and combined["sampling_differs"] is False
    assert combined["detector_differs"] is False and combined["face_detector"] == "hog"
    vote = for_scan(DetectorSet("meso4", {"df": _leaf("df", DF), "f2f": _leaf("f2f", F2F)}), 0.5, "vote",
                    ("frames", 30))["combined"]
    assert vote["videos"] == _counts((1, 2), (0, 1), (1, 1))  # r1: 2 of f2f's 3 faces reach 0.5
    image = for_scan(DetectorSet("meso4", {"df": _leaf("df", DF), "f2f": _leaf("f2f", F2F)}), 0.5, None, None)
    assert image["combined"]["videos"] is None and image["combined"]["faces"] == combined["faces"]
    assert image["combined"]["reason"].startswith("an image: ")


def test_an_ensemble_is_counted_on_the_mean_of_its_networks_scores_at_the_exact_threshold() -> None:
    """--arch ensemble scores each face by the mean of its networks' p_fake: d1's faces are 0.5 and 0.45, its mean
    0.475, missed at 0.5 and caught at 0.45. The counts are at the scan's own threshold (0.45), not the nearest
    tabulated one (0.4 or 0.5), and none says it differs."""
    from mesocli.detectors import Ensemble
    from mesocli.rates import for_scan

    pair = Ensemble("df", {"meso4": _leaf("meso4_df", DF), "mesoinception4": _leaf("mesoinception4_df", F2F)})
    at_05 = for_scan(pair, 0.5, "mean", ("frames", 30))["combined"]
    assert at_05["videos"] == _counts((0, 2), (1, 1), (1, 1)) and at_05["faces"] == _counts((0, 5), (1, 2), (3, 3))
    at_045 = for_scan(pair, 0.45, "mean", ("frames", 30))
    combined = at_045["combined"]
    assert combined["videos"] == _counts((0, 2), (0, 1), (1, 1))
    assert combined["faces"] == _counts((1, 5), (0, 2), (3, 3))  # r1's 0.45 reaches 0.45; d1's both do
    assert combined["threshold"] == 0.45 and combined["threshold_differs"] is False and combined["cautions"] == []
    f2f = at_045["detectors"]["mesoinception4_df"]  # one network, at 0.45: f1's last face (0.45) is caught
    assert f2f["faces"] == _counts((2, 5), (2, 2), (2, 3)) and f2f["threshold"] == 0.45


def test_the_bundled_cards_rates_at_a_default_scans_sampling_and_detector_carry_no_caution() -> None:
    """Every default scan (30 frames a video, hog) was cautioned that the cards' clips had 20 frames each: the
    cards now hold the clips as a default scan took them, so there is nothing to caution; the combined verdict of
    --model any is counted."""
    from mesocli.rates import for_scan
    from mesocli.runtime import resolve

    rates = for_scan(resolve("meso4", "any", None), 0.5, "mean", ("frames", 30), detector="hog")
    for name, item in [*rates["detectors"].items(), ("combined", rates["combined"])]:
        assert item["cautions"] == [] and item["sampling_differs"] is False, name
        assert item["detector_differs"] is False and item["face_detector"] == "hog", name
        assert item["frames_per_clip"] == 30 and item["reason"] is None, name
        assert item["videos"]["real_called_fake"]["total"] == 12, name
        assert {m: c["total"] for m, c in item["videos"]["missed"].items()} == {
            "Deepfakes": 12, "Face2Face": 6, "FaceSwap": 6}, name
    combined, detectors = rates["combined"], rates["detectors"].values()
    real = combined["videos"]["real_called_fake"]["count"]
    assert real >= max(d["videos"]["real_called_fake"]["count"] for d in detectors)  # any one calling it fake
    other = for_scan(resolve("meso4", "df", None), 0.5, "mean", ("frames", 20), detector="hog")
    assert other["detectors"]["meso4_df"]["cautions"] == [
        "measured at another sampling: 30 frames a clip, this scan sampled 20 frames a video; its per-video rates "
        "may differ"]


def test_a_default_video_scan_row_has_no_sampling_caution(run_cli: RunCli, kit: MediaKit) -> None:
    """A default scan of a video long enough for 30 frames: no sampling caution in its row or the table."""
    (row,) = _scan_rows(run_cli, kit.long_face_video)
    assert row["frames"]["sampled"] == 30
    df = row["error_rates"]["detectors"]["meso4_df"]
    assert df["sampling_differs"] is False and df["detector_differs"] is False and df["cautions"] == []


def test_a_scan_with_another_face_detector_is_cautioned(run_cli: RunCli, kit: MediaKit) -> None:
    """The cards' clips were scanned with the hog face detector; a scan with --detector none (crops as given) was
    weighed by them without a word."""
    (row,) = _scan_rows(run_cli, kit.face_jpeg, "--detector", "none")
    df = row["error_rates"]["detectors"]["meso4_df"]
    assert df["detector_differs"] is True and df["face_detector"] == "hog"
    assert df["cautions"] == ["measured with the hog face detector, this scan used none: the faces found and "
                              "cropped, and so the rates, may differ"]
    (row,) = _scan_rows(run_cli, kit.face_jpeg)
    assert row["error_rates"]["detectors"]["meso4_df"]["detector_differs"] is False


def test_an_older_card_without_per_clip_scores_gives_its_tables_rates_as_before() -> None:
    """A card with the table and no per-clip section (an earlier version's): the nearest tabulated threshold, the
    20-frame caution, and a combined verdict whose rates are not tabulated, as before."""
    from mesocli.detectors import DetectorSet
    from mesocli.rates import CLIPS_KEY, for_scan
    from mesocli.runtime import resolve

    older = {}
    for manipulation, member in resolve("meso4", "any", None).members.items():
        card = copy.deepcopy(member.card)
        del card.metrics[CLIPS_KEY]
        older[manipulation] = SimpleNamespace(name=member.name, card=card, source_card=None)
    rates = for_scan(DetectorSet("meso4", older), 0.45, "mean", ("frames", 30), detector="cnn")
    df = rates["detectors"]["meso4_df"]
    assert (df["threshold"], df["threshold_differs"], df["frames_per_clip"], df["face_detector"]) == (0.4, True, 20,
                                                                                                       None)
    assert df["videos"]["missed"]["Deepfakes"] == _count(1, 12) and df["faces"]["real_called_fake"] == _count(29, 240)
    assert df["cautions"][1] == ("measured at another sampling: 20 frames a clip, this scan sampled 30 frames a "
                                 "video; its per-video rates may differ") and len(df["cautions"]) == 2
    assert rates["combined"]["videos"] is None and rates["combined"]["reason"].startswith("not tabulated: a face")


def test_a_card_whose_per_clip_scores_are_malformed_is_refused_in_one_line(tmp_path: Path) -> None:
    """A per-clip section cut short by hand would stop a scan mid-way (a KeyError counting its clips): the card is
    refused as unreadable when it is read, saying where."""
    from mesocli.errors import WeightsError
    from mesocli.weights import bundled_dir

    for cut, why in ((lambda c: c["clips"][0].update(p_fake=[0.2, 1.5]), "clips[0] (Deepfakes/055_147.mp4): p_fake: "
                                                                         "not scores from 0 to 1"),
                     (lambda c: c["clips"][3].update(faces=29), "clips[3] (Deepfakes/253_183.mp4): faces: 29, for 30"),
                     (lambda c: c["clips"][1].update(clip="Deepfakes/055_147.mp4"), "clips[1]: not a clip with a name"),
                     (lambda c: c.update(sampling={"mode": "often", "value": 30}), "sampling: not a scan's sampling"),
                     (lambda c: c.pop("detector"), "detector: not a face detector's name"),
                     (lambda c: c.update(clips=[]), "clips: no clips")):
        raw = json.loads((bundled_dir() / "meso4_df.json").read_text(encoding="utf-8"))
        cut(raw["metrics"]["ffpp_test_clips"])
        (tmp_path / "mine.json").write_text(json.dumps(raw), encoding="utf-8")
        with pytest.raises(WeightsError, match="unreadable model card") as caught:
            ModelCard.from_json(tmp_path / "mine.json")
        assert f"metrics.ffpp_test_clips.{why}" in str(caught.value), caught.value
        assert "\n" not in str(caught.value)


def test_a_model_any_table_of_videos_and_images_gives_the_combined_verdicts_per_face_rates_for_the_images(
    run_cli: RunCli, kit: MediaKit
) -> None:
    """The combined verdict's closing line is per clip in a run of videos; its images are weighed per face, as each
    detector's are: a line of their own."""
    code, out, err = run_cli("scan", kit.face_video, kit.face_jpeg, "--model", "any", "--frames", "4", "--format",
                             "table", "-q")
    assert code == 0, err
    lines = [line for line in out.splitlines() if line.startswith("error rates of the combined verdict")]
    assert lines == [
        "error rates of the combined verdict (FF++ c23 test clips, mean, at 0.5): real called fake 1/12 (1–36 %); "
        "missed Deepfakes 4/12 (13–61 %), Face2Face 0/6 (0–40 %), FaceSwap 4/6 (29–91 %) (measured at 30 frames a "
        "clip)",
        "error rates of the combined verdict for the images (FF++ c23 test faces, at 0.5): real called fake 46/360 "
        "(9.7–16.7 %); missed Deepfakes 96/360 (22.3–31.5 %), Face2Face 3/180 (0.5–4.8 %), FaceSwap 96/180 "
        "(46–61 %)"], out


def test_every_bundled_card_tabulates_its_mesonet_validation_errors_at_every_threshold() -> None:
    """The cards counted the MesoNet validation split's errors at threshold 0.5 only (its confusion), while their
    FaceForensics++ test errors were tabulated at 0.1…0.9. The validation section now holds the same table
    (``metrics.validation.error_rates``, :func:`measure`), whose 0.5 column is the card's confusion."""
    at = list(THRESHOLDS).index(0.5)
    for card in bundled_cards():
        validation = card.metrics["validation"]
        table = validation.get("error_rates")
        assert table is not None, card.name
        assert table["thresholds"] == list(THRESHOLDS), card.name
        real, missed = table["real_called_fake"], table["missed"]
        assert (real["faces"], real["videos"]) == (validation["data"]["real"], 69), card.name  # 69 real videos
        assert sum(entry["faces"] for entry in missed.values()) == validation["data"]["df"], card.name
        assert real["face"][at] == validation["confusion"]["fp"], card.name
        assert sum(entry["face"][at] for entry in missed.values()) == validation["confusion"]["fn"], card.name
        for entry in (real, *missed.values()):  # fewer real faces called fake, more forged ones missed, as it rises
            assert entry["face"] == sorted(entry["face"], reverse=entry is real), card.name
            assert all(len(entry[what]) == len(THRESHOLDS) for what in ("face", "video_mean", "video_vote"))


def test_scans_that_load_their_models_anew_do_not_keep_every_cards_clip_scores_alive() -> None:
    """Each load of a model reads its cards anew (a ``mesocli.scan(..., model="any")`` call loads it per call): the
    per-clip scores made into arrays for one scan's rates were kept for every card ever read, about 0.2 MB a
    ``--model any`` load, for as long as the process lived."""
    import gc
    import tracemalloc

    from mesocli.detectors import DetectorSet
    from mesocli.rates import for_scan
    from mesocli.weights import bundled_dir

    paths = sorted(bundled_dir().glob("meso4_*.json"))

    def one_scan() -> None:
        cards = [ModelCard.from_json(path) for path in paths]
        loaded = DetectorSet("meso4", {c.manipulation: SimpleNamespace(name=c.name, card=c, source_card=None)
                                       for c in cards})
        assert for_scan(loaded, 0.5, "mean", ("frames", 30), detector="hog")["combined"]["videos"] is not None

    for _ in range(10):
        one_scan()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(30):
            one_scan()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 1_000_000, f"{grown / 1e6:.1f} MB kept after 30 more scans"


def test_a_card_whose_per_clip_scores_hold_no_real_or_no_forged_clip_is_refused_when_read(tmp_path: Path) -> None:
    """A section of forged clips only was read, and a --report then failed after the scan (a division by its 0 real
    faces); one of real clips only stated no forgery's misses. Each is refused as the card is read, as a table of
    counts without real faces or forgeries is."""
    from mesocli.errors import WeightsError
    from mesocli.weights import bundled_dir

    for keep, why in ((True, "no real clip"), (False, "no forged clip")):
        raw = json.loads((bundled_dir() / "meso4_df.json").read_text(encoding="utf-8"))
        section = raw["metrics"]["ffpp_test_clips"]
        section["clips"] = [clip for clip in section["clips"] if clip["fake"] is keep]
        (tmp_path / "mine.json").write_text(json.dumps(raw), encoding="utf-8")
        with pytest.raises(WeightsError, match="unreadable model card") as caught:
            ModelCard.from_json(tmp_path / "mine.json")
        assert f"metrics.ffpp_test_clips.clips: {why}" in str(caught.value), caught.value
        assert "\n" not in str(caught.value)


# ----------------------------------------------- intervals, the validation table, each ensemble's rates (any+ensemble)


def test_each_share_carries_its_95_percent_wilson_interval_in_the_json_the_table_and_the_words() -> None:
    """"0 of 12 (0.0 %)" read as "never wrong": each share now has its 95 % Wilson interval, rounded outward to four
    decimals. By hand (z = 1.95996): 0 of n reaches z²/(n + z²), 0.24249 for 12 and 0.65762 for 2; n of n starts at
    n/(n + z²), 0.20655 for 1."""
    from mesocli.detectors import DetectorSet
    from mesocli.rates import for_scan, record_words
    from mesocli.writers import rates_lines

    rates = for_scan(DetectorSet("meso4", {"df": _leaf("df", DF), "f2f": _leaf("f2f", F2F)}), 0.5, "mean",
                     ("frames", 30), detector="hog")
    df = rates["detectors"]["df"]
    assert df["videos"]["real_called_fake"] == {"count": 0, "total": 2, "share": 0.0, "share_interval": [0.0, 0.6577]}
    assert df["videos"]["missed"]["Face2Face"] == {"count": 1, "total": 1, "share": 1.0,
                                                   "share_interval": [0.2065, 1.0]}
    assert df["faces"]["real_called_fake"]["share_interval"] == [0.0, 0.4345]  # 0 of 5: 3.8415 / 8.8415
    lines = rates_lines([{"type": "video", "error_rates": rates}])
    assert lines[0] == ("error rates of df (FF++ c23 test clips, mean, at 0.5): real called fake 0/2 (0–66 %); "
                        "missed Deepfakes 0/1 (0–80 %), Face2Face 1/1 (20–100 %)"), lines
    words = record_words(df)
    assert "real videos called fake 0 of 2 (0.0 %, 95 % interval 0–66 %)" in words, words
    assert "0.0 % (95 % interval 0–44 %) of real faces called fake" in words, words


def test_a_bundled_cards_zero_of_twelve_real_clips_reads_with_its_upper_bound(run_cli: RunCli, kit: MediaKit) -> None:
    """The bundled meso4_df calls none of the 12 real test clips fake: the table's line says 0/12 with its 95 %
    interval, 0–25 % (Wilson: 0.2425, rounded outward), not a bare 0/12."""
    code, out, err = run_cli("scan", kit.face_video, "--format", "table", "-q")
    assert code == 0, err
    assert ("error rates of meso4_df (FF++ c23 test clips, mean, at 0.5): real called fake 0/12 (0–25 %); missed "
            "Deepfakes 4/12 (13–61 %), Face2Face 6/6 (60–100 %), FaceSwap 6/6 (60–100 %)") in out, out


def test_the_mesonet_validation_rates_are_read_from_the_cards_table_at_the_scans_threshold() -> None:
    """The report quoted the validation rates "at threshold 0.5 (the only one measured on it, not this scan's 0.6)"
    though the card tabulates them at 0.1…0.9: meso4_df's table at 0.6 calls 198 of 4,259 real faces fake (4.6 %)
    and misses 523 of 2,845 forged ones (18.4 %); at 0.45 it gives 0.4's (895: 21.0 %, 113: 4.0 %), flagged."""
    card = _card()
    assert card.validation_at(0.6) == (
        "per face at threshold 0.6: MesoNet validation (7104 faces): 4.6 % (95 % interval 4.0–5.4 %) of real faces "
        "called fake, 18.4 % (95 % interval 17.0–19.9 %) of forged faces missed")
    at_045 = card.validation_at(0.45)
    assert at_045 is not None and at_045.startswith(
        "per face at threshold 0.4 (CAUTION: not at this scan's threshold: measured at 0.4, the nearest to 0.45; at "
        "0.45 as many or fewer real ones are called fake and as many or more forged ones missed): MesoNet validation "
        "(7104 faces): 21.0 % (95 % interval 19.8–22.3 %) of real faces called fake, 4.0 % ("), at_045
    text = card.rates_at(0.6, "vote")
    assert text is not None and "only one measured" not in text and text.endswith(card.validation_at(0.6))
    old = copy.deepcopy(card)  # a card of an earlier version, without the table: as before
    del old.metrics["validation"]["error_rates"]
    assert old.validation_at(0.6) == ("per face at threshold 0.5 (the only one measured on it, not this scan's 0.6): "
                                      "MesoNet validation (7104 faces): 9.8 % of real faces called fake, 9.8 % of "
                                      "forged faces missed")


def test_a_card_whose_validation_table_is_malformed_is_refused_in_one_line(tmp_path: Path) -> None:
    """``metrics.validation.error_rates`` was not checked when a card was read, as the FF++ table is: one cut short
    would stop a scan's report mid-way. It is refused as an unreadable card, saying where."""
    from mesocli.errors import WeightsError
    from mesocli.weights import bundled_dir

    for cut, why in ((lambda t: t["real_called_fake"].update(face=[1, 2]), "real_called_fake.face: 2 counts for 9"),
                     (lambda t: t.pop("missed"), "no missed"),
                     (lambda t: t["missed"]["(no method)"].update(faces=0), "missed.(no method).faces: 0"),
                     (lambda t: t.update(thresholds="0.5"), "thresholds: not numbers from 0 to 1")):
        raw = json.loads((bundled_dir() / "meso4_df.json").read_text(encoding="utf-8"))
        cut(raw["metrics"]["validation"]["error_rates"])
        (tmp_path / "mine.json").write_text(json.dumps(raw), encoding="utf-8")
        with pytest.raises(WeightsError, match="unreadable model card") as caught:
            ModelCard.from_json(tmp_path / "mine.json")
        assert f"metrics.validation.error_rates: {why}" in str(caught.value), caught.value
        assert "\n" not in str(caught.value)


def test_model_any_arch_ensemble_gives_each_manipulations_ensembles_own_rates() -> None:
    """With --model any --arch ensemble each detector's verdict is an ensemble's (the mean of its two networks'
    p_fake), yet only the six networks' rates were given. Each ensemble's are counted now, by manipulation: the df
    pair (DF, F2F scores) misses d1 at 0.5 (0.9/0.1 and 0.8/0.1: means 0.5 and 0.45, clip mean 0.475) and f1; the
    f2f pair (F2F twice) calls r1 fake (mean 0.5) and misses d1 and f1."""
    from mesocli.detectors import DetectorSet, Ensemble
    from mesocli.writers import rates_lines

    def pair(name: str, first: dict, second: dict) -> Ensemble:
        return Ensemble(name, {"meso4": _leaf(f"meso4_{name}", first),
                               "mesoinception4": _leaf(f"mesoinception4_{name}", second)})

    from mesocli.rates import for_scan

    loaded = DetectorSet("ensemble", {"df": pair("df", DF, F2F), "f2f": pair("f2f", F2F, F2F)})
    rates = for_scan(loaded, 0.5, "mean", ("frames", 30), detector="hog")
    assert list(rates["detectors"]) == ["meso4_df", "mesoinception4_df", "meso4_f2f", "mesoinception4_f2f"]
    df, f2f = rates["ensembles"]["df"], rates["ensembles"]["f2f"]
    assert df["networks"] == ["meso4_df", "mesoinception4_df"] and f2f["networks"] == ["meso4_f2f",
                                                                                     "mesoinception4_f2f"]
    assert df["videos"] == _counts((0, 2), (1, 1), (1, 1)) and df["faces"] == _counts((0, 5), (1, 2), (3, 3))
    assert f2f["videos"] == _counts((1, 2), (1, 1), (1, 1)) and f2f["faces"] == _counts((2, 5), (2, 2), (3, 3))
    assert df["threshold"] == 0.5 and df["rule"] == "mean" and df["cautions"] == [] and df["reason"] is None
    assert rates["combined"]["videos"] == _counts((1, 2), (1, 1), (1, 1))  # any of the two ensembles
    lines = rates_lines([{"type": "video", "error_rates": rates}])
    assert ("error rates of the df ensemble of meso4_df and mesoinception4_df (FF++ c23 test clips, mean, at 0.5): "
            "real called fake 0/2 (0–66 %); missed Deepfakes 1/1 (20–100 %), Face2Face 1/1 (20–100 %)") in lines, lines
    single = for_scan(pair("df", DF, F2F), 0.5, "mean", ("frames", 30))
    assert single["ensembles"] is None  # --arch ensemble alone: its verdict is the combined one


def test_the_report_header_gives_each_manipulations_ensembles_rates_with_model_any_arch_ensemble() -> None:
    """The report's header listed the six networks' rates and the combined verdict's for --model any --arch
    ensemble, none of them those of the df, f2f or fs ensemble whose verdicts the report shows per detector: a line
    each now, counted from the cards' per-clip scores (no model is run: the cards alone)."""
    from mesocli.detectors import DetectorSet, Ensemble
    from mesocli.rates import for_scan, record_words
    from mesocli.scan_run import _explain_with
    from mesocli.weights import LoadedModel, bundled_dir

    def network(arch: str, manipulation: str) -> LoadedModel:
        card = ModelCard.from_json(bundled_dir() / f"{arch}_{manipulation}.json")
        return LoadedModel(arch, card.name, bundled_dir() / card.weights_file, card.sha256, None, card)

    loaded = DetectorSet("ensemble", {m: Ensemble(m, {arch: network(arch, m) for arch in ("meso4", "mesoinception4")})
                                      for m in ("df", "f2f")})
    explainer = SimpleNamespace(threshold=0.5, meta={}, model=None)
    _explain_with(explainer, loaded, "mean")
    ensembles = for_scan(loaded, 0.5, "mean", None, detector="hog")["ensembles"]
    said = explainer.meta["measured error rates of the df ensemble (the mean of meso4_df and mesoinception4_df)"]
    assert said == record_words(ensembles["df"])
    assert said.startswith("per video by this scan's rule (mean: the mean of the frame scores) at threshold 0.5: "
                           "FaceForensics++ c23 test (36 clips, 30 frames each, scanned with the hog face detector): "
                           "real videos called fake 0 of 12 (0.0 %, 95 % interval 0–25 %)"), said
    assert "measured error rates of the f2f ensemble (the mean of meso4_f2f and mesoinception4_f2f)" in explainer.meta


def test_per_face_intervals_are_cautioned_where_they_are_printed_not_only_in_the_docs() -> None:
    """A per-face interval takes each of a clip's 30 faces as an independent draw, which they are not (one person,
    scene and forgery): it is too narrow. docs/scan.md said so, but the table's per-face lines and the report's header
    printed "5/360 (0.5–3.3 %)" bare. Each now says it once where per-face intervals are shown, and only there."""
    from mesocli.detectors import DetectorSet
    from mesocli.rates import FACE_INTERVALS, for_scan
    from mesocli.runtime import resolve
    from mesocli.scan_run import _explain_with
    from mesocli.writers import rates_lines

    rates = for_scan(DetectorSet("meso4", {"df": _leaf("df", DF), "f2f": _leaf("f2f", F2F)}), 0.5, "mean",
                     ("frames", 30), detector="hog")
    images = rates_lines([{"type": "image", "error_rates": rates}])
    assert images[-1] == f"({FACE_INTERVALS})", images
    assert "too narrow" in FACE_INTERVALS and "independent" in FACE_INTERVALS
    both = rates_lines([{"type": "video", "error_rates": rates}, {"type": "image", "error_rates": rates}])
    assert both[-1] == f"({FACE_INTERVALS})" and sum(FACE_INTERVALS in line for line in both) == 1, both
    videos = rates_lines([{"type": "video", "error_rates": rates}])  # per-clip lines only: no per-face interval
    assert not any(FACE_INTERVALS in line for line in videos), videos
    explainer = SimpleNamespace(threshold=0.5, meta={}, model=None)
    _explain_with(explainer, resolve("meso4", "df", None), "mean")
    assert "per face at threshold 0.5" in explainer.meta["measured error rates of meso4_df"]
    assert explainer.meta["error rate intervals"] == FACE_INTERVALS, explainer.meta


def test_an_interval_does_not_import_scipy_stats() -> None:
    """Every error rate of a scan row carries a Wilson interval; its normal quantile came from ``scipy.stats``, whose
    import cost a scan a second or more (5 s on a busy machine) before its first row was written, so a scan stopped
    early had written none. The standard library's quantile is the same to 1e-15."""
    import subprocess
    import sys

    probe = ("import sys; from mesocli.metrics import wilson_interval; print(wilson_interval(0, 12)); "
             "print('scipy.stats' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split("\n")[:2] == ["[0.0, 0.242494006655]", "False"], done.stdout
