"""`scan` on the labelled clips of ../shared/videos (skipped without them, required in CI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REPO, require_shared

from mesocli.scan import ScanOptions, scan_inputs

SCHEMA = json.loads((REPO / "docs" / "scan.schema.json").read_text())
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
    import jsonschema

    from mesocli.weights import load_weights

    videos = require_shared("videos")
    weights = require_shared("reference", "authors-weights", "Meso4_DF.h5")
    results = list(scan_inputs([str(videos)], lambda: load_weights(weights), ScanOptions(frames=10, detail=True)))
    assert [Path(r.path).relative_to(videos).as_posix() for r in results] == CLIPS
    for result in results:
        data = result.to_dict()
        jsonschema.validate(data, SCHEMA, cls=jsonschema.Draft202012Validator)
        assert result.status == "ok", (result.path, result.error)
        assert result.type == "video" and result.frames_sampled == 10 and result.frames_with_face >= 5
        assert 0.0 <= result.p_fake <= 1.0 and result.model["name"] == "Meso4_DF.h5"
        duration = max(s.time for s in result.scores)
        for segment in result.segments:
            assert 0.0 <= segment.start < segment.end <= duration + 2.0


@pytest.fixture(scope="module", params=["meso4", "mesoinception4"])
def ffpp_pair(request: pytest.FixtureRequest) -> tuple:
    """The FF++ Deepfakes clip and its real original, scanned once with each bundled df network."""
    from mesocli.weights import resolve_model

    videos = require_shared("videos")
    pair = [videos / "fake" / "ffpp_c23_Deepfakes_519_515.mp4", videos / "real" / "ffpp_c23_youtube_519.mp4"]
    fake, real = scan_inputs([str(p) for p in pair], lambda: resolve_model(request.param, "df", None), ScanOptions())
    return fake, real


@pytest.mark.xfail(
    strict=True,
    reason="known gap: the bundled weights give this FF++ c23 Deepfakes clip p_fake 0.20 (Meso4) and 0.40 "
    "(MesoInception4), far above its original's 0.0007 / 0.002 but under the 0.5 threshold (the authors' "
    "Meso4_DF.h5: 0.45); see docs/scan.md",
)
def test_bundled_df_weights_tell_the_deepfake_from_its_original(ffpp_pair) -> None:
    fake, real = ffpp_pair
    assert (fake.status, real.status) == ("ok", "ok")
    assert fake.verdict == "fake", fake.p_fake
    assert real.verdict == "real", real.p_fake


def test_bundled_df_weights_rank_the_deepfake_above_its_original(ffpp_pair) -> None:
    """What the bundled weights do get right on that pair: the forged clip scores higher than its source."""
    fake, real = ffpp_pair
    assert (fake.status, real.status) == ("ok", "ok")
    assert real.verdict == "real", real.p_fake
    assert fake.p_fake > 100 * real.p_fake
