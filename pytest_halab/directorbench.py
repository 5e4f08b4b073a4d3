"""Figures of an LVS director itself, beside the pool bench (``halab bench TOPOLOGY
--measure latency,churn``):

- ``latency``: what the director adds to a request. The client sends `requests` requests
  to the VIP and as many straight to the real servers (web1, web2 in turn), alternating
  one by one (VIP then direct, direct then VIP, ...), each on a fresh connection (connect,
  ``GET /`` HTTP/1.0, read to the close), timed inside the client node by one Python
  process (no ``docker exec`` per request). p50 and p99 of both, and their difference:
  the issue's goal is a p50 overhead under 0.2 ms (:data:`LATENCY_GOAL_S`). In NAT mode a
  real server's route to the client goes through the VIP (its replies must be un-NATed),
  so even a "direct" request's replies cross the director: the overhead measured there is
  the forward path's (DNAT, one more hop). In DR mode the direct path is direct.
- ``churn``: connections reset by pool updates. The client keeps
  :data:`CHURN_CONNECTIONS` connections to the VIP in flight (one HTTP/1.0 request each,
  keep-alive off): each worker connects, holds the connection :data:`CHURN_HOLD_S`, then
  sends its request and reads the answer, again and again, while the director's pool
  changes `changes` times each way: the target's health checks are refused
  (``refuse_checks``: the balancers' connections only), the checker takes it out, the
  rule is deleted, the checker puts it back. No server fails meanwhile, so any failed
  request, whether its connection was to a surviving server or to the leaving one, was
  caused by a pool update. Reports the requests, the failed ones (resets among them), the
  pool updates the director applied, and the requests whose connection was open at an
  update's instant (the issue asks for 1,000 of them without a reset).

The director's failover (the client's outage while the VIP moves) is the failover bench's:
``halab bench lvs_nat --fault crash_node --vrrp keepalived,halab``.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import waits
from .errors import HalabError
from .lab import Lab
from .nodes import ExecResult
from .poolbench import WAIT_MARGIN_S, config_bounds
from .poolmeasures import PoolChange
from .scenario import Scenario
from .stats import percentile
from .timeline import EventKind
from .topology import Topology

__all__ = [
    "LATENCY_GOAL_S",
    "MEASURES",
    "ChurnRequest",
    "ChurnResult",
    "DirectorResult",
    "LatencyResult",
    "churn_figures",
    "run_director_bench",
]

MEASURES = ("latency", "churn")
LATENCY_GOAL_S = 0.0002  # the goal: p50 overhead under 0.2 ms
LATENCY_REQUESTS = 500
LATENCY_WARMUP = 20  # requests each way before timing (ARP, page cache, apache's children)
CHURN_CHANGES = 5  # 10 pool updates: 1,000 connections open at one with 100 in flight
CHURN_CONNECTIONS = 100  # connections open at once: ~100 in flight at each pool update
CHURN_HOLD_S = 0.2  # how long each stays open before its request
CHURN_TARGET = "web2"
CHURN_LIMIT_S = 600  # the client's loop stops by itself after this, whatever happens

# Run in the client by python3: alternate requests to the VIP and to the real servers,
# each on a fresh connection, timed with perf_counter; one JSON line at the end.
_LATENCY = r"""
import json, socket, sys, time
vip, direct = sys.argv[1], sys.argv[2].split(",")
n, warm, port = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
def one(host):
    t0 = time.perf_counter()
    try:
        s = socket.create_connection((host, port), timeout=2)
        s.sendall(b"GET / HTTP/1.0\r\nHost: " + host.encode() + b"\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        s.close()
    except OSError as exc:
        return None, type(exc).__name__
    dt = time.perf_counter() - t0
    return (dt, "") if data[:12] in (b"HTTP/1.1 200", b"HTTP/1.0 200") else (None, "status")
out = {"vip": [], "direct": [], "errors": []}
for i in range(warm + n):
    pair = [("vip", vip), ("direct", direct[i % len(direct)])]
    if i % 2:
        pair.reverse()
    for kind, host in pair:
        dt, err = one(host)
        if i < warm:
            continue
        if dt is None:
            out["errors"].append(f"{kind} {host}: {err}")
        else:
            out[kind].append(round(dt, 7))
print(json.dumps(out))
"""


# Run in the client by python3: `workers` threads, each connecting to the VIP, holding the
# connection `hold` s, sending one request and reading the answer, until the file `stop`
# exists (or `limit` s). One JSON line at the end: [start, end, ok, body, error] each.
_CHURN = r"""
import json, os, socket, sys, threading, time
vip, port, workers, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
stop, deadline = sys.argv[5], time.time() + float(sys.argv[6])
recs, lock = [], threading.Lock()
def worker():
    while not os.path.exists(stop) and time.time() < deadline:
        t0, ok, body, err = time.time(), False, "", ""
        try:
            s = socket.create_connection((vip, port), timeout=2)
            s.settimeout(2)
            time.sleep(hold)
            s.sendall(b"GET / HTTP/1.0\r\nHost: " + vip.encode() + b"\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            s.close()
            head, _, rest = data.partition(b"\r\n\r\n")
            ok = head[:12] in (b"HTTP/1.1 200", b"HTTP/1.0 200")
            body = rest.decode(errors="replace").strip()[:20]
            err = "" if ok else "HTTP " + head[9:12].decode(errors="replace")
        except OSError as exc:
            err = type(exc).__name__
        with lock:
            recs.append([round(t0, 6), round(time.time(), 6), ok, body, err])
threads = [threading.Thread(target=worker) for _ in range(workers)]
for t in threads:
    t.start()
    time.sleep(hold / workers)
print("started", flush=True)
for t in threads:
    t.join()
print(json.dumps(recs))
"""


@dataclass(frozen=True)
class ChurnRequest:
    """One request of the churn client: its connection's open and close times."""

    start: float
    end: float
    ok: bool
    body: str = ""
    error: str = ""

    def open_at(self, ts: float) -> bool:
        return self.start <= ts <= self.end


@dataclass(frozen=True)
class LatencyResult:
    """Request times (seconds) to the VIP and straight to the real servers."""

    engine: str
    via_vip: tuple[float, ...]
    direct: tuple[float, ...]
    errors: tuple[str, ...] = ()

    def pct(self, which: str, q: float) -> float | None:
        vals = sorted(self.via_vip if which == "vip" else self.direct)
        return percentile(vals, q) if vals else None

    def overhead(self, q: float) -> float | None:
        """The VIP's q-th percentile minus the direct one's."""
        a, b = self.pct("vip", q), self.pct("direct", q)
        return None if a is None or b is None else a - b

    @property
    def within_goal(self) -> bool | None:
        o = self.overhead(50)
        return None if o is None else o < LATENCY_GOAL_S

    def as_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "requests": {"vip": len(self.via_vip), "direct": len(self.direct)},
            **{f"{w}_p{q}_s": self.pct(w, q) for w in ("vip", "direct") for q in (50, 99)},
            "overhead_p50_s": self.overhead(50),
            "overhead_p99_s": self.overhead(99),
            "within_goal": self.within_goal,
            "errors": list(self.errors),
        }


@dataclass(frozen=True)
class ChurnResult:
    """The client's requests while the pool changed (see :func:`churn_figures`)."""

    engine: str
    target: str
    requests: int
    failed: int
    resets: int
    pool_updates: int
    in_flight_at_updates: int
    changes: list[PoolChange] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return all(c.happened for c in self.changes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "target": self.target,
            "seconds": self.seconds,
            "requests": self.requests,
            "failed": self.failed,
            "resets": self.resets,
            "errors": self.errors,
            "pool_updates": self.pool_updates,
            "requests_in_flight_at_updates": self.in_flight_at_updates,
            "changes": [c.summary() for c in self.changes],
        }


def churn_figures(
    requests: Sequence[ChurnRequest],
    pool_updates: Sequence[float],
    engine: str,
    target: str,
    changes: Sequence[PoolChange] = (),
) -> ChurnResult:
    """The churn client's `requests` against the instants the director applied a pool
    (`pool_updates`): failed requests by error (resets: the connection reset or closed
    mid-answer), and the requests whose connection was open at an update."""
    errors: dict[str, int] = {}
    for r in requests:
        if not r.ok:
            errors[r.error or "?"] = errors.get(r.error or "?", 0) + 1
    span = (min(r.start for r in requests), max(r.end for r in requests)) if requests else None
    return ChurnResult(
        engine,
        target,
        len(requests),
        sum(1 for r in requests if not r.ok),
        sum(n for k, n in errors.items() if k in RESETS),
        len(pool_updates),
        sum(1 for r in requests if any(r.open_at(ts) for ts in pool_updates)),
        list(changes),
        errors,
        round(span[1] - span[0], 3) if span else 0.0,
    )


RESETS = ("ConnectionResetError", "BrokenPipeError", "ConnectionAbortedError")


@dataclass
class DirectorResult:
    topology: str
    vip: str
    latency: list[LatencyResult] = field(default_factory=list)
    churn: list[ChurnResult] = field(default_factory=list)
    lab_start_s: dict[str, float] = field(default_factory=dict)
    churn_connections: int = CHURN_CONNECTIONS
    latency_goal_s: float = LATENCY_GOAL_S

    @property
    def clean(self) -> bool:
        """No request failed in the churn, every change came, every latency request got
        its answer."""
        return all(c.failed == 0 and c.complete for c in self.churn) and not any(
            lat.errors for lat in self.latency
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "bench": "director",
            "topology": self.topology,
            "vip": self.vip,
            "lab_start_s": self.lab_start_s,
            "latency_goal_s": self.latency_goal_s,
            "churn_connections": self.churn_connections,
            "churn_hold_s": CHURN_HOLD_S,
            "latency": [lat.as_dict() for lat in self.latency],
            "churn": [c.as_dict() for c in self.churn],
        }


def run_director_bench(
    topology: Topology,
    engines: list[str],
    measures: list[str],
    *,
    vip: str | None = None,
    target: str | None = None,
    requests: int = LATENCY_REQUESTS,
    changes: int = CHURN_CHANGES,
    connections: int = CHURN_CONNECTIONS,
    progress: Callable[[str], None] = lambda _m: None,
) -> DirectorResult:
    unknown = [m for m in measures if m not in MEASURES]
    if unknown:
        raise ValueError(f"unknown measure(s) {unknown}; known: {', '.join(MEASURES)}")
    vip = vip or next(iter(topology.spec.vips))
    target = target or CHURN_TARGET
    bounds = config_bounds(topology, vip, target)  # before any lab: refuse a non-director
    result = DirectorResult(topology.name, vip, churn_connections=connections)
    for engine in engines:
        t0 = time.monotonic()
        with Lab(topology, engine=engine) as lab:
            result.lab_start_s[engine] = round(time.monotonic() - t0, 3)
            progress(f"{engine}: lab {lab.lab_id} up in {result.lab_start_s[engine]} s")
            if "latency" in measures:
                lat = measure_latency(lab, engine, vip, requests)
                result.latency.append(lat)
                progress(_latency_line(lat))
            if "churn" in measures:
                timeout = (bounds.removal_s, bounds.readd_s)
                ch = measure_churn(lab, engine, vip, target, changes, connections, timeout)
                result.churn.append(ch)
                progress(
                    f"{engine} churn: {ch.failed} of {ch.requests} requests failed "
                    f"({ch.resets} resets) over {ch.pool_updates} pool updates"
                )
    return result


def measure_latency(lab: Lab, engine: str, vip: str, requests: int) -> LatencyResult:
    """`requests` requests to the VIP and as many to the real servers, alternating."""
    addr = str(lab.vip_addresses()[vip])
    port = lab.layout.vips[vip].port if lab.layout else 80
    direct = ",".join(str(w.ip) for w in lab.webs())
    argv = ["python3", "-c", _LATENCY, addr, direct, str(requests), str(LATENCY_WARMUP), str(port)]
    res = lab.client_node().exec(argv)
    lines = [ln for ln in res.output.splitlines() if ln.startswith("{")]
    if not res.ok or not lines:
        raise HalabError(f"{lab.lab_id}: the latency loop failed in the client: {res.output}")
    doc = json.loads(lines[-1])
    return LatencyResult(engine, tuple(doc["vip"]), tuple(doc["direct"]), tuple(doc["errors"][:20]))


def measure_churn(
    lab: Lab,
    engine: str,
    vip: str,
    target: str,
    changes: int,
    connections: int,
    bounds: tuple[float, float],
) -> ChurnResult:
    """`changes` times: `target`'s checks refused until the director takes it out, then
    allowed until it is back; the churn client's connections to the VIP all along."""
    client = lab.client_node()
    addr = str(lab.vip_addresses()[vip])
    port = lab.layout.vips[vip].port if lab.layout else 80
    stop = f"/tmp/halab-churn-stop-{secrets.token_hex(4)}"
    argv = ["python3", "-c", _CHURN, addr, str(port), str(connections), str(CHURN_HOLD_S)]
    argv += [stop, str(CHURN_LIMIT_S)]
    ran: list[ExecResult] = []
    loop = threading.Thread(target=lambda: ran.append(client.exec(argv)), daemon=True)
    done: list[PoolChange] = []
    with Scenario(lab) as hal:
        held = lab.vip_holders().get(vip, [])
        director = held[0] if len(held) == 1 else None
        loop.start()
        try:
            waits.until(
                f"the churn client's {connections} connections to {vip}",
                lambda: client.exec(["pgrep", "-f", stop]).ok or None,
                10,
                0.2,
            )
            t0 = time.time()
            time.sleep(2 * CHURN_HOLD_S)  # one wait: every worker has a connection open
            for _ in range(changes):
                f = hal.faults.refuse_checks(target)
                out = hal.pool_change(vip, f, target, timeout=bounds[0] + WAIT_MARGIN_S)
                hal.revert(f)
                done.append(out)
                if not out.happened:
                    break
                back = hal.pool_change(
                    vip, f, target, removed=False, timeout=bounds[1] + WAIT_MARGIN_S
                )
                done.append(back)
                if not back.happened:
                    break
        finally:
            client.exec(["touch", stop])
            loop.join(CHURN_LIMIT_S)
            client.exec(["rm", "-f", stop])
        tl = hal.timeline()
    lines = [ln for r in ran for ln in r.output.splitlines() if ln.startswith("[")]
    if not lines:
        raise HalabError(f"{lab.lab_id}: the churn client gave no result: {ran}")
    requests = [ChurnRequest(*rec) for rec in json.loads(lines[-1])]
    updates = [
        e.ts
        for e in tl.between(t0, None).of_kind(EventKind.CHECKER.value)
        if e.get("event") == "pool" and (director is None or e.node == director)
    ]
    return churn_figures(requests, updates, engine, target, done)


def _latency_line(lat: LatencyResult) -> str:
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v * 1000:.3f} ms"

    return (
        f"{lat.engine} latency: VIP p50 {ms(lat.pct('vip', 50))} p99 {ms(lat.pct('vip', 99))}, "
        f"direct p50 {ms(lat.pct('direct', 50))} p99 {ms(lat.pct('direct', 99))}, overhead "
        f"p50 {ms(lat.overhead(50))}"
    )
