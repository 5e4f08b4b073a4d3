"""Topology files: the shipped ones load; bad ones are refused naming file, line and field."""

from __future__ import annotations

import ipaddress
import json
import textwrap
from pathlib import Path

import pytest

from pytest_halab import topology
from pytest_halab.errors import TopologyError

SHIPPED = ["nginx_dual_master", "nginx_master_backup", "nginx_nopreempt"]

GOOD = """\
name: mini
nodes:
  client: {role: client, host: 100}
  lb1:
    role: balancer
    host: 10
    files:
      /etc/keepalived/keepalived.conf: ka.conf
  web1: {role: web, host: 20, body: "1111"}
vips:
  VI_1: {host: 3, master: lb1}
"""


def write(tmp_path: Path, text: str, ka: str | None = None) -> Path:
    ka = KA if ka is None else ka
    (tmp_path / "ka.conf").write_text(ka)
    p = tmp_path / "mini.yaml"
    p.write_text(textwrap.dedent(text))
    return p


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_topologies_load(name: str) -> None:
    t = topology.load(name)
    assert t.name == name
    assert sorted(t.spec.nodes) == ["client", "lb1", "lb2", "web1", "web2"]
    hosts = {n: s.host for n, s in t.spec.nodes.items()}
    assert hosts == {"client": 100, "lb1": 10, "lb2": 11, "web1": 20, "web2": 30}
    assert t.balancers == ["lb1", "lb2"]
    assert t.spec.nodes["web1"].body == "1111" and t.spec.nodes["web2"].body == "2222"


def test_available_lists_shipped() -> None:
    assert set(SHIPPED) <= set(topology.available())


def test_rendering_fills_lab_addresses() -> None:
    t = topology.load("nginx_dual_master")
    addr = t.addressing(ipaddress.IPv4Network("10.213.7.0/24"))
    files = t.render_files("lb2", addr)
    ka = files["/etc/keepalived/keepalived.conf"].data.decode()
    assert "{{" not in ka
    assert "mcast_src_ip 10.213.7.11" in ka
    assert "10.213.7.3" in ka and "10.213.7.4" in ka
    ng = files["/etc/nginx/conf.d/halab.conf"].data.decode()
    assert "server 10.213.7.20:80" in ng and "server 10.213.7.30:80" in ng


def test_dual_master_vips() -> None:
    t = topology.load("nginx_dual_master")
    assert {v: s.master for v, s in t.spec.vips.items()} == {"VI_1": "lb1", "VI_2": "lb2"}


def test_good_file_by_path(tmp_path: Path) -> None:
    t = topology.load(write(tmp_path, GOOD))
    assert t.name == "mini"
    assert t.spec.vrrp_engine == "keepalived"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ("  web1: {role: web, host: 20", "  web1: {role: web, hots: 20"),
            r"mini.yaml:9: nodes.web1.hots: unknown field",
        ),
        (
            ("    host: 10\n", "    host: 300\n"),
            r"mini.yaml:6: nodes.lb1.host: Input should be less than",
        ),
        (
            ("    host: 10\n", "    host: 1\n"),
            r"mini.yaml:6: nodes.lb1.host: Input should be greater than",
        ),
        (("role: balancer", "role: router"), r"mini.yaml:5: nodes.lb1.role: Input should be"),
        (
            ("master: lb1", "master: web1"),
            r"mini.yaml:11: vips.VI_1.master: master 'web1' is a web node, not a balancer "
            "(balancers: lb1)",
        ),
        (
            ("master: lb1", "master: lb3"),
            r"mini.yaml:11: vips.VI_1.master: master 'lb3' is not a node here (balancers: lb1)",
        ),
        (("host: 20,", "host: 10,"), r"mini.yaml:9: nodes.web1.host: nodes lb1 and web1 share"),
        (("{host: 3,", "{host: 20,"), r"mini.yaml:11: vips.VI_1.host: vip VI_1 uses host number"),
        (("name: mini", "name: Mini Lab"), r"mini.yaml:1: name: String should match pattern"),
        (("  client: {role: client, host: 100}\n", ""), r"exactly one client node"),
        (
            ("/etc/keepalived/keepalived.conf: ka.conf", "etc/keepalived.conf: ka.conf"),
            "mini.yaml:7: nodes.lb1.files: destination 'etc/keepalived.conf' must be an "
            "absolute path",
        ),
        (
            ("ka.conf", "missing.conf"),
            r"mini.yaml:8: nodes.lb1.files./etc/keepalived/keepalived.conf: no such file",
        ),
        (("vips:", "vips: [oops"), "invalid YAML"),
    ],
)
def test_bad_files_are_refused_with_location(
    tmp_path: Path, edit: tuple[str, str], expected: str
) -> None:
    assert edit[0] in GOOD
    p = write(tmp_path, GOOD.replace(edit[0], edit[1], 1))
    with pytest.raises(TopologyError) as info:
        topology.load(p)
    msg = str(info.value)
    assert str(p) in msg
    assert expected in msg, msg


def test_unknown_placeholder_names_template_line(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD, ka="! ok line\nvirtual {{ vip.VI_9 }}\n")
    with pytest.raises(TopologyError, match=r"ka.conf:2: unknown placeholder \{\{ vip.VI_9 \}\}"):
        topology.load(p)


def test_not_a_mapping(tmp_path: Path) -> None:
    p = tmp_path / "x.yaml"
    p.write_text("- a\n- b\n")
    with pytest.raises(TopologyError, match=r"x.yaml:1: a topology file must be a mapping"):
        topology.load(p)


def test_unknown_name_lists_available() -> None:
    with pytest.raises(TopologyError, match=r"unknown topology 'nope'; available: .*nginx_dual"):
        topology.load("nope")


def test_json_schema_describes_fields() -> None:
    schema = json.loads(topology.json_schema())
    assert schema["title"] == "pytest-halab topology"
    assert {"name", "nodes", "vips"} <= set(schema["properties"])
    assert "NodeSpec" in schema["$defs"]


KA = """\
vrrp_instance VI_1 {
    state MASTER
    interface {{ interface }}
    virtual_router_id 50
    priority 150
    advert_int 1
    virtual_ipaddress {
        {{ vip.VI_1 }}
    }
}
"""


def test_keepalived_conf_checked_before_start(tmp_path: Path) -> None:
    assert topology.load(write(tmp_path, GOOD, ka=KA)).name == "mini"


def test_keepalived_conf_error_names_template_line(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD, ka=KA.replace("virtual_router_id 50", "virtual_router_id 300"))
    with pytest.raises(TopologyError) as info:
        topology.load(p)
    msg = str(info.value)
    assert "nodes.lb1.files./etc/keepalived/keepalived.conf" in msg
    assert "keepalived -t would exit 5" in msg
    assert f"{tmp_path / 'ka.conf'}:4: " in msg, msg


def test_a_file_keepalived_runs_despite_t_errors_runs_when_the_topology_says_so(
    tmp_path: Path,
) -> None:
    """nopreempt with state MASTER: keepalived -t exits 5, keepalived runs it (cleared)."""
    faulted = KA.replace("    advert_int 1\n", "    advert_int 1\n    nopreempt\n")
    with pytest.raises(TopologyError, match="would exit 5") as info:
        topology.load(write(tmp_path, GOOD, ka=faulted))
    assert "nopreempt will not work with initial state MASTER" in str(info.value)
    runs = GOOD.replace("name: mini\n", "name: mini\nconfig_errors: run\n")
    assert "config_errors: run" in runs
    loaded = topology.load(write(tmp_path, runs, ka=faulted))
    assert loaded.spec.config_errors is topology.ConfigErrors.RUN
    # a file keepalived would not run (its VRRP process stops: no such interface) and
    # one keepalived stops reading (a keyword without its value: -t exits 2) stay refused
    fatal = faulted.replace("{{ interface }}", "nosuch0")
    with pytest.raises(TopologyError, match="Non-existent interface"):
        topology.load(write(tmp_path, runs, ka=fatal))
    fatal = faulted.replace("    priority 150\n", "    priority\n")
    with pytest.raises(TopologyError, match="would exit 2"):
        topology.load(write(tmp_path, runs, ka=fatal))
    bad = GOOD.replace("name: mini\n", "name: mini\nconfig_errors: ignore\n")
    with pytest.raises(TopologyError, match="config_errors"):
        topology.load(write(tmp_path, bad, ka=KA))


def test_keepalived_conf_must_hold_the_topology_vips(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD, ka=KA.replace("{{ vip.VI_1 }}", "{{ lb1.ip }}"))
    with pytest.raises(
        TopologyError,
        match=r"vips.VI_1: address .* is in no virtual_ipaddress "
        r"block of lb1's ka.conf",
    ):
        topology.load(p)


TWO_BALANCERS = """\
name: pair
nodes:
  client: {role: client, host: 100}
  lb1:
    role: balancer
    host: 10
    files: {/etc/keepalived/keepalived.conf: lb1.conf}
  lb2:
    role: balancer
    host: 11
    files: {/etc/keepalived/keepalived.conf: lb2.conf}
vips:
  VI_1: {host: 3, master: lb1}
  VI_2:
    host: 4
    master: lb2
"""


def write_pair(tmp_path: Path, lb1: list[str], lb2: list[str]) -> Path:
    """A two-balancer topology whose keepalived.conf files carry the VIPs named."""
    for name, vips, vrid in (("lb1", lb1, 50), ("lb2", lb2, 51)):
        addresses = "\n".join(f"        {{{{ vip.{v} }}}}" for v in vips) or "        {{ self.ip }}"
        (tmp_path / f"{name}.conf").write_text(
            KA.replace("virtual_router_id 50", f"virtual_router_id {vrid}").replace(
                "        {{ vip.VI_1 }}", addresses
            )
        )
    p = tmp_path / "pair.yaml"
    p.write_text(TWO_BALANCERS)
    return p


def test_a_vip_missing_from_several_balancers_is_one_error_at_its_line(tmp_path: Path) -> None:
    p = write_pair(tmp_path, ["VI_1"], ["VI_1"])
    with pytest.raises(TopologyError) as info:
        topology.load(p)
    assert str(info.value) == (
        f"{p}:14: vips.VI_2: address {{{{ vip.VI_2 }}}} is in no virtual_ipaddress block of "
        "lb1's lb1.conf, lb2's lb2.conf"
    )


def test_every_missing_vip_is_reported(tmp_path: Path) -> None:
    p = write_pair(tmp_path, ["VI_2"], [])
    with pytest.raises(TopologyError) as info:
        topology.load(p)
    assert str(info.value).splitlines() == [
        f"{p}:13: vips.VI_1: address {{{{ vip.VI_1 }}}} is in no virtual_ipaddress block of "
        "lb1's lb1.conf, lb2's lb2.conf",
        f"{p}:14: vips.VI_2: address {{{{ vip.VI_2 }}}} is in no virtual_ipaddress block of "
        "lb2's lb2.conf",
    ]


def test_each_vip_is_bound_to_its_masters_instance(tmp_path: Path) -> None:
    t = topology.load(write_pair(tmp_path, ["VI_1", "VI_2"], ["VI_1", "VI_2"]))
    assert {v: (b.instance, b.vrid) for v, b in t.vrrp.items()} == {
        "VI_1": ("VI_1", 50),
        "VI_2": ("VI_1", 51),
    }


def test_keepalived_conf_errors_name_the_files_line(tmp_path: Path) -> None:
    p = write_pair(tmp_path, ["VI_1", "VI_2"], ["VI_1", "VI_2"])
    (tmp_path / "lb2.conf").write_text(
        (tmp_path / "lb2.conf")
        .read_text()
        .replace("advert_int 1", "advert_int 1\n    authentication { auth_type PASS auth_pass 1 }")
    )
    with pytest.raises(TopologyError) as info:
        topology.load(p)
    assert str(info.value).splitlines() == [
        f"{p}:11: nodes.lb2.files./etc/keepalived/keepalived.conf: keepalived.conf has errors "
        "(keepalived -t would exit 5):",
        f"{tmp_path / 'lb2.conf'}:7: (VI_1) Authentication specified but no password given. "
        "Ignoring",
    ]


def test_a_real_time_budget_is_bounded(tmp_path: Path) -> None:
    ok = GOOD.replace("    host: 10\n", "    host: 10\n    rt_runtime_us: 100000\n")
    assert topology.load(write(tmp_path, ok, ka=KA)).spec.nodes["lb1"].rt_runtime_us == 100000
    for bad in ("0", "999", "600000", "lots"):
        text = GOOD.replace("    host: 10\n", f"    host: 10\n    rt_runtime_us: {bad}\n")
        with pytest.raises(TopologyError, match="rt_runtime_us"):
            topology.load(write(tmp_path, text, ka=KA))
