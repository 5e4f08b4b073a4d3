"""The checker's reload (SIGHUP; ``systemctl reload keepalived``): the state of the old
configuration carried into the new one, as keepalived 2.2.7's checker carries it
(check_daemon.c's reload_check_thread, ipwrapper.c's clear_diff_services,
migrate_checkers, check_new_rs_state and init_service_rs).

- A virtual server gone from the configuration is removed ("Removing Virtual Server ..."),
  its live real servers with it (their notify_down runs).
- A virtual server kept keeps its quorum state. A real server gone from it is removed
  ("service ... no longer exist"); one kept keeps whether it is alive and its weight, and
  each of its checkers that is the same checker as before (same kind, same options) keeps
  its state: up or down, whether it has run, its retries (capped by the new retry), a
  MISC_CHECK's dynamic weight. A kept server with no failed checker comes up; one with a
  failed checker leaves the pool. Its weight moves to the new configured one (plus the
  dynamic part), logged as any weight change.
- A sorry server kept keeps its state; one changed or gone leaves the pool.
- New real servers start as at start-up: in the pool unless a checker is alpha.

The plane is then given the whole new state in one apply: no packet meets half a pool.
Every checker starts again after keepalived's bootstrap delay (it re-registers them all).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..conf.model import ConfigItem
from .pools import RsState

if TYPE_CHECKING:
    from .runner import CheckerRun, Runner

__all__ = ["migrate"]

log = logging.getLogger("halab-vrrpd")


def _options(item: ConfigItem) -> tuple[object, ...]:
    """A checker block's keywords and values, wherever its lines are (keepalived compares
    what a checker does, not where it is written)."""
    return tuple((c.keyword, tuple(c.args), _options(c)) for c in item.children)


def _same_checker(old: CheckerRun, new: CheckerRun) -> bool:
    o, n = old.spec, new.spec
    return (
        o.kind == n.kind
        and _options(o.item) == _options(n.item)
        and (o.misc_script.argv if o.misc_script else None)
        == (n.misc_script.argv if n.misc_script else None)
    )


def migrate(new: Runner, old: Runner) -> None:
    """Carry `old`'s state into `new` (built from the new configuration, not started)."""
    pools = new.pools
    new_vs_by_name = {vs.name: vs for vs in pools.servers}
    old_vs_names = {vs.name for vs in old.pools.servers}
    before: dict[int, int] = {}  # id() of a kept real server -> its effective weight
    old_runs: dict[int, list[CheckerRun]] = {}
    for run in old.checkers:
        old_runs.setdefault(id(run.rs), []).append(run)
    new_runs: dict[int, list[CheckerRun]] = {}
    for run in new.checkers:
        new_runs.setdefault(id(run.rs), []).append(run)
    kept: list[RsState] = []

    for old_vs in old.pools.servers:
        new_vs = new_vs_by_name.get(old_vs.name)
        if new_vs is None:
            group = old_vs.spec.group
            log.info("Removing Virtual Server %s", f"Group [{group}]" if group else old_vs.name)
            for rs in old_vs.servers:
                _remove(new, rs)
            continue
        new_vs.quorum_up = old_vs.quorum_up
        by_name = {rs.name: rs for rs in new_vs.servers}
        for rs in old_vs.servers:
            same = by_name.get(rs.name)
            if same is None:
                log.info("service %s no longer exist", rs.name)
                _remove(new, rs)
                continue
            same.alive = rs.alive
            before[id(same)] = rs.effective_weight
            _migrate_checkers(same, old_runs.get(id(rs), []), new_runs.get(id(same), []))
            kept.append(same)
        sorry, new_sorry = old_vs.spec.sorry_server, new_vs.spec.sorry_server
        if sorry is not None and new_sorry is not None and sorry.name == new_sorry.name:
            new_vs.sorry_alive = old_vs.sorry_alive
        elif sorry is not None and old_vs.sorry_alive:
            log.info("Removing sorry server %s from VS %s", sorry.name, old_vs.name)

    # set_effective_weights: the configured weight plus each checker's dynamic part; a kept
    # server's change is logged as any weight change (init_service_rs)
    for vs in pools.servers:
        for rs in vs.servers:
            target = rs.spec.weight + sum(r.cur_weight for r in new_runs.get(id(rs), []))
            if id(rs) in before:
                rs.effective_weight = before[id(rs)]
                pools.set_weight(rs, target, update_quorum=False)
            else:
                rs.effective_weight = target
    # migrate_checkers' verdict, once every kept server has its state back
    for rs in kept:
        if not rs.num_failed_checkers and not rs.alive:
            pools.set_alive(rs, True, "reload", "no failed checker")
        elif rs.num_failed_checkers and rs.alive:
            pools.set_alive(rs, False, "reload", "a checker had failed")
    # new real servers start as at start-up: in the pool unless a checker is alpha
    for vs in pools.servers:
        for rs in vs.servers:
            if id(rs) not in before and not rs.num_failed_checkers:
                rs.alive = True
        pools.update_quorum(vs, init=vs.name not in old_vs_names)
    new.inherit_applied(old)


def _remove(new: Runner, rs: RsState) -> None:
    """keepalived's clear_service_rs (not stopping): logged when it was in the pool, its
    notify_down run (by the new configuration's script runner) when it was alive."""
    if not rs.in_pool:
        return
    inhibited = rs.spec.inhibit and not rs.alive
    log.info(
        "Removing %sservice %s from VS %s",
        "(inhibited) " if inhibited else "",
        rs.name,
        rs.vs.name,
    )
    if rs.alive:
        rs.alive = False
        new.scripts.notify(rs.spec.notify_down)


def _migrate_checkers(rs: RsState, old_runs: list[CheckerRun], new_runs: list[CheckerRun]) -> None:
    """keepalived's migrate_checkers: each new checker that is an old one takes its state;
    the others are judged by what the old ones found."""
    unused = list(old_runs)
    for run in new_runs:
        match = next((o for o in unused if _same_checker(o, run)), None)
        if match is None:
            # built down when alpha; keepalived decides below whether it stays so
            run.is_up = True
            continue
        unused.remove(match)
        run.is_up = match.is_up if match.has_run else True
        run.has_run = match.has_run
        if match.retry_it and run.spec.retry:
            run.retry_it = min(match.retry_it, run.spec.retry - 1)
        run.cur_weight = match.cur_weight
    failed = any(r.has_run and not r.is_up for r in new_runs)
    if failed or (not rs.alive and not any(r.has_run for r in new_runs)):
        for r in new_runs:
            if not r.has_run:
                if r.spec.alpha:
                    r.is_up = False
                r.retry_it = r.spec.retry  # one failure is enough
    rs.num_failed_checkers = sum(1 for r in new_runs if not r.is_up)
