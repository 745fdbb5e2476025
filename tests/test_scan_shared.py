"""`scan` on the labelled clips of ../shared/videos (skipped without them, required in CI)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import check_schema, require_shared

from mesocli.scan import ScanOptions, scan_inputs

pytestmark = pytest.mark.slow  # every test here scans the shared clips

CLIPS = [
    "fake/dfdc_brtujopkby.mp4",
    "fake/ffpp_c23_Deepfakes_519_515.mp4",
    "fake/ffpp_c23_NeuralTextures_004_982.mp4",
    "fake/mesonetdemo_asfmcylpjv.mp4",
    "real/ffpp_c23_youtube_004.mp4",
    "real/ffpp_c23_youtube_519.mp4",
    "real/mesonetdemo_xtpeyyltfi.mp4",
    "real/plain_hamilton_clip.mp4",
]


def test_every_shared_clip_scans_ok_with_the_authors_weights() -> None:
    from mesocli.weights import load_weights

    videos = require_shared("videos")
    weights = require_shared("reference", "authors-weights", "Meso4_DF.h5")
    results = list(scan_inputs([str(videos)], lambda: load_weights(weights), ScanOptions(frames=10, detail=True)))
    assert [Path(r.path).relative_to(videos).as_posix() for r in results] == CLIPS
    for result in results:
        check_schema(result.to_dict())
        assert result.status == "ok", (result.path, result.error)
        assert result.type == "video" and result.frames_sampled == 10 and result.frames_with_face >= 5
        assert 0.0 <= result.p_fake <= 1.0 and result.model["name"] == "Meso4_DF.h5"
        duration = max(s.time for s in result.scores)
        for segment in result.segments:
            assert 0.0 <= segment.start < segment.end <= duration + 2.0


@pytest.fixture(scope="module", params=["meso4", "mesoinception4"])
def ffpp_pair(request: pytest.FixtureRequest) -> tuple:
    """The FF++ Deepfakes clip and its real original, scanned once with each bundled df network."""
    from mesocli.runtime import resolve

    videos = require_shared("videos")
    pair = [videos / "fake" / "ffpp_c23_Deepfakes_519_515.mp4", videos / "real" / "ffpp_c23_youtube_519.mp4"]
    fake, real = scan_inputs([str(p) for p in pair], lambda: resolve(request.param, "df", None), ScanOptions())
    return fake, real


def test_bundled_df_weights_tell_the_deepfake_from_its_original(ffpp_pair) -> None:
    fake, real = ffpp_pair
    assert (fake.status, real.status) == ("ok", "ok")
    assert fake.verdict == "fake", fake.p_fake
    assert real.verdict == "real", real.p_fake
    assert fake.p_fake > real.p_fake


@pytest.fixture(scope="module")
def default_scan() -> dict[str, dict]:
    """Every labelled clip scanned by the CLI's default model (30 frames, mean), keyed by clip."""
    from mesocli.runtime import resolve

    videos = require_shared("videos")
    results = scan_inputs([str(videos)], lambda: resolve(None, "df", None), ScanOptions())
    return {Path(r.path).relative_to(videos).as_posix(): r.to_dict() for r in results}


def test_default_model_calls_every_real_clip_real_and_catches_two_fakes(default_scan: dict[str, dict]) -> None:
    assert sorted(default_scan) == CLIPS
    assert all(item["status"] == "ok" for item in default_scan.values())
    reals = {clip: item["verdict"] for clip, item in default_scan.items() if clip.startswith("real/")}
    assert set(reals.values()) == {"real"}, reals
    fakes = {clip for clip, item in default_scan.items() if clip.startswith("fake/") and item["verdict"] == "fake"}
    assert {"fake/ffpp_c23_Deepfakes_519_515.mp4", "fake/mesonetdemo_asfmcylpjv.mp4"} <= fakes


@pytest.mark.xfail(
    strict=True,
    reason="known gap (target: 3 of the 4 fakes): the default model misses the DFDC clip (p_fake 0.29) and "
    "the FF++ NeuralTextures clip (0.15; --model any's f2f detector gives it 0.14); see docs/scan.md",
)
def test_default_model_catches_three_of_the_four_fakes(default_scan: dict[str, dict]) -> None:
    fakes = [clip for clip, item in default_scan.items() if clip.startswith("fake/") and item["verdict"] == "fake"]
    assert len(fakes) >= 3, fakes
