"""Two of keepalived 2.2.7's ways with text that is no configuration, seen on a public
C++ file named like one (what `keepalived -t` printed for each, checked by hand)."""

from __future__ import annotations

from pathlib import Path

from pytest_halab.vrrp.conf import config_test_exit_status, load_config


def _messages(path: Path) -> set[tuple[int, str]]:
    _cfg, diags = load_config(path, interfaces={"eth0": True, "lo": True})
    assert config_test_exit_status(diags) == 5
    return {(d.line, d.message) for d in diags if d.printed_by_test}


def test_a_nameless_instance_without_brace_reads_on_as_its_block(tmp_path: Path) -> None:
    conf = tmp_path / "k.conf"
    conf.write_text("vrrp_instance = x;\n  conf.instance = 1;\n}\n")
    assert _messages(conf) == {
        (1, "vrrp_instance must have a name"),
        (2, "Missing '{' at beginning of configuration block"),
        (2, "Unknown keyword 'conf.instance'"),
        (3, "Extra '}' found"),
        (3, "Unknown keyword '}'"),
    }


def test_a_last_line_without_newline_has_two_numbers(tmp_path: Path) -> None:
    """keepalived's parent numbers it as the line before; the processes reading the copy
    it wrote (with a newline) number it right: both complaints are printed."""
    conf = tmp_path / "k.conf"
    conf.write_text("global_defs {\n  router_id x\n}\nfoo\n}")
    assert _messages(conf) == {
        (4, "Unknown keyword 'foo'"),
        (4, "Extra '}' found"),
        (4, "Unknown keyword '}'"),
        (5, "Extra '}' found"),
        (5, "Unknown keyword '}'"),
    }
    conf.write_text("global_defs {\n  router_id x\n}\nfoo\n}\n")
    assert (4, "Unknown keyword '}'") not in _messages(conf)
