"""A short, bounded fuzz of the readers (the long one is ``benchmarks/fuzz_readers.py``, same readers).

Hypothesis draws mutated seed files and random bytes; every input must be read, or refused with a
one-line :class:`mesocli.errors.MesocliError`, within 30 s.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz_readers.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_readers", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


fuzz = _load()


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return fuzz.make_seeds(tmp_path_factory.mktemp("seeds"))


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("fuzz")


def test_the_seeds_are_read(seeds: dict[str, bytes], work: Path) -> None:
    """Unmutated, every seed passes its reader: the fuzz starts from files that work."""
    assert set(fuzz.READER_SEEDS) == set(EXAMPLES) and all(fuzz.READER_SEEDS.values())  # every reader is fuzzed
    for reader, names in fuzz.READER_SEEDS.items():
        for name in names:
            assert fuzz.run_one(reader, name, seeds[name], work) is None, (reader, name)


EXAMPLES = {"image": 50, "identify": 30, "video": 25}
FUZZ = settings(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow on damaged metadata: "Corrupt EXIF data"
@pytest.mark.parametrize("reader", list(EXAMPLES))
def test_mutated_files_are_read_or_cleanly_refused(reader: str, seeds: dict[str, bytes], work: Path) -> None:
    @settings(FUZZ, max_examples=EXAMPLES[reader])
    @given(name=st.sampled_from(fuzz.READER_SEEDS[reader]), rng_seed=st.integers(0, 2**32 - 1))
    def check(name: str, rng_seed: int) -> None:
        data = fuzz.mutate(seeds[name], random.Random(rng_seed))
        assert fuzz.run_one(reader, name, data, work) is None

    check()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(FUZZ, max_examples=40)
@given(data=st.binary(max_size=2048), name=st.sampled_from(["x.jpg", "x.png", "x.mp4", "x.bin"]))
def test_random_bytes_are_cleanly_refused(data: bytes, name: str, work: Path) -> None:
    assert fuzz.run_one("identify", name, data, work) is None


def test_the_harness_reports_crashes_and_hangs(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: an exception that is not a MesocliError, and no answer in time, are both reported."""
    import time

    monkeypatch.setitem(fuzz.READERS, "image", lambda path: int("x"))
    assert fuzz.run_one("image", "x.png", b"", work).startswith("ValueError: invalid literal for int()")
    monkeypatch.setitem(fuzz.READERS, "image", lambda path: time.sleep(5))
    assert fuzz.run_one("image", "x.png", b"", work, timeout=0.2).startswith("Timeout: no answer in 0.2 s")
