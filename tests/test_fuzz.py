"""Property tests over every reader of untrusted bytes: whatever the bytes, a reader either
returns or raises the one error type it documents. The same targets run for 100,000 inputs each
under atheris in ``benchmarks/fuzz.py`` (``make fuzz``); here hypothesis gives each a short run
of mutated valid files and of raw bytes."""

import random
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import fuzz  # noqa: E402

EXAMPLES = {"idx": 300, "image": 150, "vkz": 300, "config": 100, "weights": 100, "checkpoint": 60}


@pytest.fixture(scope="module", params=fuzz.TARGET_NAMES)
def target(request, tmp_path_factory):
    work = tmp_path_factory.mktemp(request.param)
    return request.param, fuzz.Target(request.param, work), fuzz.seeds(request.param, work / "seeds")


def test_each_reader_raises_only_its_documented_error(target):
    name, reader, corpus = target

    @settings(max_examples=EXAMPLES[name], deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(seed=st.integers(0, 2**32 - 1), pick=st.integers(0, len(corpus) - 1), raw=st.binary(max_size=64),
           use_raw=st.booleans())
    def check(seed, pick, raw, use_raw):
        data = raw if use_raw and seed % 4 == 0 else fuzz.mutate(random.Random(seed), corpus[pick], corpus)
        reader.check(data)  # anything but the documented error fails the test, with the input

    for blob in corpus:  # the valid files themselves read without error
        reader._call(blob)
    check()


def test_a_crash_is_reported_with_its_input(tmp_path, monkeypatch):
    """The fuzz driver itself: a reader that raises something undocumented is reported as a crash."""
    monkeypatch.setattr(fuzz.Target, "_call", lambda self, data: [][len(data)])
    result = fuzz.run_random("idx", runs=10, seed=0)
    assert result["crashes"] == 1 and result["crash"].startswith("IndexError")
