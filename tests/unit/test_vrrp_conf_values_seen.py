"""Value checks keepalived 2.2.7 -t makes that an audit of configs from the wild found
missing: each expected message and exit status is what keepalived printed for the same
file (keepalived -t -f FILE -l -D --log-console, on this machine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_halab.vrrp.conf import config_test_exit_status, load_config

SCRIPTED = """vrrp_script chk {
    script "/bin/true"
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 5
    priority 100
    virtual_ipaddress {
        10.1.1.1
    }
    track_script {
        chk weight WEIGHT
    }
}
"""
HTTP = """virtual_server 10.1.1.1 80 {
    protocol TCP
    lb_algo rr
    lb_kind NAT
    real_server 10.1.1.2 80 {
        HTTP_GET {
            url {
                path /
                WORD VALUE
            }
        }
    }
}
"""


def _messages(tmp_path: Path, text: str) -> tuple[int, list[str]]:
    conf = tmp_path / "keepalived.conf"
    conf.write_text(text)
    _cfg, diags = load_config(conf, interfaces=["eth0"], check_scripts=False)
    return config_test_exit_status(diags), [d.message for d in diags]


@pytest.mark.parametrize(
    ("weight", "said"),
    [
        ("254", ["(VI_1) weight for chk cannot be +/-254. Setting to +/-253"]),
        ("-254", ["(VI_1) weight for chk cannot be +/-254. Setting to +/-253"]),
        (
            "255",
            [
                "number '255' outside range [-254, 254]",
                "(VI_1) track script chk: weight must be between [-253..253] inclusive,"
                " ignoring...",
            ],
        ),
        ("253", []),
    ],
)
def test_track_script_weight_254_is_taken_as_253(
    tmp_path: Path, weight: str, said: list[str]
) -> None:
    code, messages = _messages(tmp_path, SCRIPTED.replace("WEIGHT", weight))
    assert messages == said
    assert code == (5 if said else 0)


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("vrrp_mcast_group4 224.0.0.19", None),
        ("vrrp_mcast_group4 10.0.0.1", "vrrp_mcast_group4 [10.0.0.1] is not multicast. Skipping"),
        ("vrrp_mcast_group4 bogus", "Can't parse vrrp_mcast_group4 [bogus]. Skipping"),
        ("vrrp_mcast_group4 ff02::13", "vrrp_mcast_group4 [ff02::13] is not IPv4. Skipping"),
        ("vrrp_mcast_group6 ff02::13", None),
        ("vrrp_mcast_group6 fe80::1", "vrrp_mcast_group6 [fe80::1] is not multicast. Skipping"),
        ("vrrp_mcast_group6 ff02::zz", "Can't parse vrrp_mcast_group6 [ff02::zz]. Skipping"),
        ("vrrp_mcast_group6 224.0.0.18", "vrrp_mcast_group6 [224.0.0.18] is not IPv6. Skipping"),
    ],
)
def test_multicast_groups_must_be_multicast_of_their_family(
    tmp_path: Path, line: str, said: str | None
) -> None:
    code, messages = _messages(tmp_path, f"global_defs {{\n    {line}\n}}\n")
    assert messages == ([said] if said else [])
    assert code == (5 if said else 0)


@pytest.mark.parametrize(
    ("word", "value", "said"),
    [
        ("status_code", "200", None),
        ("status_code", "100", None),
        ("status_code", "599", None),
        ("status_code", "200-299", None),
        ("status_code", "200 301", None),
        ("status_code", "600", "Invalid HTTP_GET status code '600'"),
        ("status_code", "99", "Invalid HTTP_GET status code '99'"),
        ("status_code", "abc", "Invalid HTTP_GET status code 'abc'"),
        ("status_code", "300-200", "Invalid HTTP_GET status code '300-200'"),
        ("digest", "0123456789abcdef0123456789ABCDEF", None),
        ("digest", "zzz", "digest 'zzz' character length should be 32 rather than 3"),
        (
            "digest",
            "0123456789abcdef0123456789abcdeg",
            "Unable to interpret hex digit in '0123456789abcdef0123456789abcdeg' at offset 30/31",
        ),
    ],
)
def test_http_get_status_codes_and_digests(
    tmp_path: Path, word: str, value: str, said: str | None
) -> None:
    _code, messages = _messages(tmp_path, HTTP.replace("WORD", word).replace("VALUE", value))
    assert (said in messages) if said else not any(word in m or "HTTP_GET" in m for m in messages)


def test_more_than_255_ipv4_vips_are_excess(tmp_path: Path) -> None:
    vips = "\n".join(f"        10.2.{i // 250}.{i % 250 + 1}" for i in range(256))
    text = (
        "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 5\n    priority 100\n"
        f"    virtual_ipaddress {{\n{vips}\n    }}\n}}\n"
    )
    code, messages = _messages(tmp_path, text)
    assert code == 5
    assert messages == [
        "(VI_1) Number of VIPs (256) exceeds maximum/space available in packet"
        " (max 255 addresses) - excess moved to eVIPs"
    ]


def test_duplicate_vrids_are_said_pair_by_pair_in_the_files_order(tmp_path: Path) -> None:
    """Instances are compared with the later ones of their VRID only (a table by VRID);
    the messages come in the order keepalived gives them, pair by pair."""
    blocks = [
        f"vrrp_instance I{n} {{\n    interface eth0\n    virtual_router_id {vrid}\n"
        "    priority 100\n    virtual_ipaddress {\n        10.1.1.1\n    }\n}\n"
        for n, vrid in enumerate((1, 2, 1, 2, 1))
    ]
    _code, messages = _messages(tmp_path, "".join(blocks))
    pairs = [m.split(" both use")[0] for m in messages if "both use VRID" in m]
    assert pairs == ["I0 and I2", "I0 and I4", "I1 and I3", "I2 and I4"]


@pytest.mark.parametrize(
    ("mtu", "family", "auth", "most"),
    [
        (1500, 6, "", 89),
        (1400, 6, "", 83),
        (1000, 6, "", 58),
        (1000, 4, "", 237),
        (1000, 4, "AH", 231),
        (1500, 4, "AH", 255),
    ],
)
def test_an_advert_carries_what_the_interfaces_mtu_leaves_room_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mtu: int, family: int, auth: str, most: int
) -> None:
    """keepalived bounds an instance's VIPs by what fits in one advert on its interface;
    the rest become eVIPs. Each bound is what keepalived -t said in a namespace whose eth0
    had that MTU (200 IPv6 or 300 IPv4 addresses)."""
    from pytest_halab.vrrp.conf import load as load_module

    monkeypatch.setattr(load_module, "system_interfaces", lambda: {"eth0": False, "lo": True})
    monkeypatch.setattr(load_module, "system_mtus", lambda: {"eth0": mtu, "lo": 65536})
    count = 200 if family == 6 else 300
    vips = (
        [f"fd00::{i + 1:x}" for i in range(count)]
        if family == 6
        else [f"10.1.{i // 250}.{i % 250 + 1}" for i in range(count)]
    )
    auth_block = (
        f"    authentication {{\n        auth_type {auth}\n        auth_pass 1111\n    }}\n"
    )
    text = (
        "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    priority 100\n"
        + ("    version 3\n" if family == 6 else "")
        + (auth_block if auth else "")
        + "    virtual_ipaddress {\n"
        + "".join(f"        {v}\n" for v in vips)
        + "    }\n}\n"
    )
    conf = tmp_path / "keepalived.conf"
    conf.write_text(text)
    cfg, diags = load_config(conf, check_scripts=False)
    said = [d.message for d in diags if "Number of VIPs" in d.message]
    assert said == [
        f"(VI_1) Number of VIPs ({count}) exceeds maximum/space available in packet"
        f" (max {most} addresses) - excess moved to eVIPs"
    ]
    inst = cfg.instances["VI_1"]
    assert len(inst.vips) == most and len(inst.excluded_vips) == count - most


def test_a_removed_scripts_weight_is_never_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With script security and no keepalived_script user, keepalived removes the script
    at its block's end: the track_script entry then finds no script, and its weight (254
    here, else "cannot be +/-254") is never read (keepalived -t on the audit's file)."""
    import pwd

    real = pwd.getpwnam

    def getpwnam(name: str) -> pwd.struct_passwd:
        if name == "keepalived_script":
            raise KeyError(name)
        return real(name)

    monkeypatch.setattr(pwd, "getpwnam", getpwnam)
    conf = tmp_path / "keepalived.conf"
    conf.write_text(
        "global_defs {\n    enable_script_security\n}\n" + SCRIPTED.replace("WEIGHT", "254")
    )
    _cfg, diags = load_config(conf, interfaces=["eth0"])
    said = [d.message for d in diags if d.severity != "warning"]
    assert config_test_exit_status(diags) == 5
    assert said == [
        "Unable to set default user keepalived_script for script",
        "Unable to set default user for vrrp script chk - removing",
        "(VI_1) track script chk not found, ignoring...",
    ]


def test_a_refused_real_servers_block_is_not_read(tmp_path: Path) -> None:
    """An invalid real server address or port: keepalived skips the server's block, so
    what is wrong inside it is never said (keepalived -t on the audit's file)."""
    text = (
        "virtual_server 10.0.0.1 80 {\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n"
        "    real_server 10.0.0.2 70000 {\n        weight -1\n        TCP_CHECK {\n"
        "            connect_timeout 0\n        }\n    }\n"
        "    real_server 10.0.0.3 80 {\n        weight 100000\n    }\n}\n"
    )
    status, said = _messages(tmp_path, text)
    assert (status, said) == (
        5,
        [
            "number '70000' outside range [1, 65535]",
            "Invalid real server ip address/port 10.0.0.2/70000 - skipping",
        ],
    )


def test_a_groups_ports_are_checked_entry_by_entry(tmp_path: Path) -> None:
    """keepalived's checks of a virtual_server_group's ports, each said as keepalived -t
    said it, the sorry server's once per address entry; a group that is not configured
    drops its virtual server before any check (logged only)."""
    text = (
        "virtual_server_group G1 {\n    10.0.0.1 80\n    10.0.0.2-10 8080\n"
        "    10.0.1.0/30 80\n}\n"
        "virtual_server group G1 {\n    lb_algo rr\n    lb_kind DR\n    protocol TCP\n"
        "    sorry_server 10.0.2.9 81\n"
        "    real_server 10.0.1.1 80 {\n        TCP_CHECK {\n        }\n    }\n"
        "    real_server 10.0.1.2 {\n        TCP_CHECK {\n        }\n    }\n}\n"
        "virtual_server_group G2 {\n    fwmark 3\n    10.0.3.1 80\n}\n"
        "virtual_server group G2 {\n    lb_algo rr\n    lb_kind TUN\n    protocol TCP\n"
        "    real_server 10.0.1.3 80 {\n        weight 1\n    }\n}\n"
        "virtual_server group NOSUCH {\n    lb_algo rr\n}\n"
    )
    conf = tmp_path / "keepalived.conf"
    conf.write_text(text)
    cfg, diags = load_config(conf, interfaces=["eth0"], check_scripts=False)
    sorry = (
        "WARNING - virtual server [G1]:0, sorry server has port specified - port will be ignored"
    )
    assert [d.message for d in diags if d.printed_by_test] == [
        sorry,
        "virtual server [G1]:0:[10.0.0.2-10.0.0.10,8080] and real server [10.0.1.1]:tcp:80"
        " ports don't match",
        sorry,
        sorry,
        "WARNING - fwmark virtual server [G2]:0, real server [10.0.1.3]:tcp:80 has port"
        " specified - port will be ignored",
    ]
    assert config_test_exit_status(diags) == 5
    assert [vs.group for vs in cfg.virtual_servers] == ["G1", "G2"]
