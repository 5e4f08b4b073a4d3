"""A live agent's kept lines (livestream.Watches): marks, the lines after a mark, and the
oldest half let go past KEEP_MAX with the marks still counting every line."""

from __future__ import annotations

import pytest

from pytest_halab import livestream
from pytest_halab.wirewatch import WireWatch


def _kept(n: int) -> tuple[livestream.Watches[WireWatch], list[bytes]]:
    w = livestream.Watches(WireWatch)
    lines = w._history.setdefault("client", [])  # what the node's watch appends to
    lines += [b"%d" % i for i in range(n)]
    return w, lines


def test_a_reader_takes_what_came_after_its_mark() -> None:
    w, lines = _kept(3)
    mark = w.mark("client")
    assert mark == 3 and w.history("client", mark) == []
    lines.append(b"3")
    assert w.history("client", mark) == [b"3"]
    assert w.history("client") == [b"0", b"1", b"2", b"3"]
    assert w.mark("nobody") == 0 and w.history("nobody") == []


def test_past_keep_max_the_oldest_half_goes_and_marks_stay_valid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(livestream, "KEEP_MAX", 10)
    w, lines = _kept(8)
    early, mark = 2, w.mark("client")
    lines += [b"%d" % i for i in range(8, 12)]  # 12 kept: 6 let go at the next read
    assert w.history("client", mark) == [b"8", b"9", b"10", b"11"]
    assert len(lines) == 6 and w.mark("client") == 12
    # a mark older than what is kept reads from the oldest kept line
    assert w.history("client", early) == [b"%d" % i for i in range(6, 12)]
