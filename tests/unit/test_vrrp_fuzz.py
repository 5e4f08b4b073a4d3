"""Fuzzing the keepalived.conf parser: random and mutated texts never raise.

Every input, as bytes (invalid UTF-8, NULs, deep nesting, huge numbers, long lines,
includes of other fuzzed files), must give a diagnostics list and an exit status that
``keepalived -t`` can give, in bounded time, and never the parser's internal-error
diagnostic (the one `load_config` turns an unexpected exception into).

The suite runs a few hundred examples (a few seconds). A longer campaign:
``HALAB_FUZZ_EXAMPLES=20000 pytest tests/unit/test_vrrp_fuzz.py -p no:cacheprovider``.
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_halab.vrrp.conf import config_test_exit_status, load_config
from pytest_halab.vrrp.conf.load import INTERNAL_ERROR

EXAMPLES = int(os.environ.get("HALAB_FUZZ_EXAMPLES", "100"))
# generous: one example takes milliseconds; this catches a hang or a quadratic blow-up
BOUND_SECONDS = 10.0

SEED = b"""! a valid configuration, mutated by the fuzzer
global_defs {
    router_id lb1
    vrrp_garp_master_delay 5
    notification_email {
        ops@example.com
    }
    dynamic_interfaces
}
vrrp_script chk {
    script "/bin/true"
    interval 2
    weight -20
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1.5
    authentication {
        auth_type PASS
        auth_pass secret12
    }
    virtual_ipaddress {
        10.0.0.100/24 dev eth0 label eth0:1
    }
    track_script {
        chk weight 10
    }
    track_interface {
        eth0 weight -5
    }
}
vrrp_sync_group G {
    group {
        VI_1
    }
}
virtual_server 10.0.0.100 80 {
    real_server 10.0.0.2 80 {
        weight 1
    }
}
"""

TOKENS = [
    b"{", b"}", b"\n", b" ", b"\t", b'"', b"!", b"#", b"\\", b"\x00", b"\xff", b"\xc3",
    b"\xed\xa0\x80", b"global_defs", b"vrrp_instance", b"vrrp_script", b"vrrp_sync_group",
    b"virtual_server", b"static_routes", b"virtual_ipaddress", b"track_script",
    b"authentication", b"auth_pass", b"priority", b"virtual_router_id", b"advert_int",
    b"interface", b"label", b"state", b"MASTER", b"eth0", b"10.0.0.1/24", b"-1", b"0",
    b"255", b"4294967296", b"9" * 5000,
    b"0" * 5000 + b"7", b"-" + b"0" * 4400 + b"1", b"1." + b"5" * 5000, b"include",
    b"include a.conf",
    b"include *.conf", b"includer b.conf", b"includew nothere*.conf", b"$X", b"@X",
    b"~SEQ(1,1,3)", b"script", b"weight", b"on", b"true",
]  # fmt: skip


def _mutate(seed: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    data = bytearray(seed)
    for where, cut, insert in edits:
        at = where % (len(data) + 1)
        data[at : at + cut] = insert
    return bytes(data)


_token_text = st.lists(st.sampled_from(TOKENS), max_size=120).map(b" ".join)
_mutated = st.builds(
    _mutate,
    st.just(SEED),
    st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 8), st.sampled_from(TOKENS)),
        max_size=12,
    ),
)
_nested = st.builds(
    lambda word, depth, tail: word + b" {\n" * depth + tail + b"}\n" * depth,
    st.sampled_from([b"global_defs", b"static_routes", b"vrrp_instance V", b"x", b""]),
    st.integers(0, 2000),
    _token_text,
)
_long_line = st.builds(
    lambda unit, n: unit * n,
    st.sampled_from([b"{}", b"{", b'"{', b"a ", b"9"]),
    st.integers(0, 20_000),
)
texts = st.one_of(st.binary(max_size=400), _token_text, _mutated, _nested, _long_line)


def _check(main: bytes, side_a: bytes, side_b: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "a.conf").write_bytes(side_a)
        (root / "b.conf").write_bytes(side_b)
        path = root / "keepalived.conf"
        path.write_bytes(main)
        started = time.perf_counter()
        _cfg, diags = load_config(path, interfaces=["eth0", "lo"], check_scripts=False)
        elapsed = time.perf_counter() - started
    assert isinstance(diags, list)
    internal = [str(d) for d in diags if INTERNAL_ERROR in d.message]
    assert not internal, internal
    for diag in diags:
        str(diag).encode("utf-8", "surrogateescape")  # printable as -t prints it
    assert config_test_exit_status(diags) in {0, 2, 4, 5, 6}
    assert elapsed < BOUND_SECONDS, f"{elapsed:.1f} s"


@settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=BOUND_SECONDS),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
@given(main=texts, side_a=texts, side_b=texts)
def test_parser_never_raises_on_hostile_input(main: bytes, side_a: bytes, side_b: bytes) -> None:
    _check(main, side_a, side_b)
