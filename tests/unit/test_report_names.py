"""Per-test report files: one file per test, whatever its node id, the same name every run."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from pytest_halab.session import report_stem


def test_ids_that_read_alike_get_different_files() -> None:
    a, b = report_stem("t.py::test[a b]"), report_stem("t.py::test[a_b]")
    assert a != b
    assert a.startswith("t.py_test_a_b-") and b.startswith("t.py_test_a_b-")


def test_long_ids_with_a_common_prefix_get_different_files() -> None:
    base = "t.py::test[" + "x" * 300
    assert report_stem(base + "1]") != report_stem(base + "2]")


def test_stem_is_stable() -> None:
    # The same id gives the same name in every run and on every machine (sha256 of the id).
    assert report_stem("test_user.py::test_sigterm_hands_over") == (
        "test_user.py_test_sigterm_hands_over-b6ae9a3f29"
    )


@given(st.text(max_size=400))
def test_stem_is_a_safe_bounded_file_name(nodeid: str) -> None:
    stem = report_stem(nodeid)
    assert re.fullmatch(r"[A-Za-z0-9_.-]{1,100}-[0-9a-f]{10}", stem)
    assert not stem.startswith(".")
