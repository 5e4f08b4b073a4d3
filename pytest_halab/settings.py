"""The plugin's settings, resolved once per run by one function.

Every setting is read the same way: the command line, then the environment, then the ini
file, then its default. ``resolve(config)`` returns one frozen ``HalabSettings`` (kept under
``SETTINGS_KEY`` in ``config.stash``) in which every value remembers where it came from; a bad
value is a ``pytest.UsageError`` that names that place (``--hal-vrrp``, ``environment
HALAB_VRRP``, ``ini option halab_vrrp``) before anything has started.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import pytest

from . import engines
from .baseline import DEFAULT_MAX_REGRESSION_PCT, parse_percent
from .errors import HalabError

if TYPE_CHECKING:  # the topology module (YAML, schema) is loaded when a topology is named
    from .topology import Topology

T = TypeVar("T")

DEFAULT = "default"  # the source of a value nobody set


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One setting: the places it is read from, in order, and how text becomes its value.

    ``parse`` raises ValueError saying what is wrong with the text; the resolver adds where
    the text came from.
    """

    name: str  # field of HalabSettings
    dest: str  # the command-line option's dest, e.g. "hal_vrrp" for --hal-vrrp
    env: str
    ini: str
    what: str  # what the value is, in messages
    parse: Callable[[str], T]
    default: T
    # a relative path in the ini file is the ini file's directory's, as with pytest's own
    # path options (a file that lives in the project beside it); else the current directory's
    ini_beside: bool = False

    @property
    def option(self) -> str:
        """The command-line option, e.g. ``--hal-vrrp``."""
        return "--" + self.dest.replace("_", "-")


def parse_topology(text: str) -> Topology:
    """A topology name (in lab/topologies) or path, loaded and validated."""
    from . import topology as topology_mod

    try:
        return topology_mod.load(text)
    except HalabError as exc:
        raise ValueError(str(exc)) from None


DOCKER_SCHEMES = ("unix://", "tcp://", "ssh://")


def parse_docker_hosts(text: str) -> tuple[str, ...]:
    """Docker engine URLs (unix://, tcp://, ssh://), separated by spaces, commas or lines."""
    urls = tuple(u for u in text.replace(",", " ").split() if u)
    if not urls:
        raise ValueError("no URL given")
    for url in urls:
        if not url.startswith(DOCKER_SCHEMES) or len(url) <= len(url.split("://")[0]) + 3:
            raise ValueError(f"{url!r} is not a Docker engine URL ({', '.join(DOCKER_SCHEMES)}...)")
    if len(set(urls)) != len(urls):
        raise ValueError(f"{' '.join(urls)!r} names an engine twice")
    return urls


def parse_engine(text: str) -> str:
    """The name of a registered VRRP engine."""
    if text not in engines.names():
        raise ValueError(f"{text!r} is not one of {', '.join(engines.names())}")
    return text


PROBE_INTERVAL_MS = 20.0  # observe.PROBE_INTERVAL_S, in ms (observe loads docker: not here)
PROBE_INTERVAL_RANGE_MS = (1.0, 1000.0)


def parse_probe_interval(text: str) -> float:
    """Milliseconds between the starts of the client probe's requests, 1 to 1000."""
    try:
        ms = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of milliseconds") from None
    low, high = PROBE_INTERVAL_RANGE_MS
    if not low <= ms <= high:  # NaN too
        raise ValueError(f"{text!r}: the probe interval is {low:g} to {high:g} ms")
    return ms


_TRUE = ("1", "true", "yes")
_FALSE = ("0", "false", "no")


def parse_bool(text: str) -> bool:
    """1/0, true/false, yes/no (any case)."""
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"{text!r} is not a boolean (1/0, true/false, yes/no)")


def parse_directory(text: str) -> Path:
    """A directory, made when first written to; refused when something else is there."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{text!r} exists and is not a directory")
    return path


def parse_input_file(text: str) -> Path:
    """A file to read later (its content is checked by whoever reads it)."""
    return Path(text)


def parse_durations(text: str) -> Mapping[str, float]:
    """A file of the tests' durations, read now: a JSON object of test ids and seconds, what
    a run records in pytest's cache (``.pytest_cache/v/halab/durations``)."""
    try:
        raw = Path(text).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{text!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{text!r}: not UTF-8 text ({exc.reason})") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{text}: line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{text}: an object of test ids and seconds, not a {type(data).__name__}")
    for key, value in data.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            line = raw.count("\n", 0, max(raw.find(json.dumps(key)), 0)) + 1
            raise ValueError(f"{text}: line {line}: {key}: seconds (a number >= 0), not {value!r}")
    return MappingProxyType({str(k): float(v) for k, v in data.items()})


def parse_output_file(text: str) -> Path:
    """A file to write at the end of the run, checked now so that a long run is not lost to
    a typo: not a directory, in an existing directory we may write to. Creates nothing,
    truncates nothing (several pytest-xdist workers check it at once)."""
    path = Path(text)
    if path.is_dir():
        raise ValueError(f"{text!r} is a directory")
    parent = path.parent
    if not parent.is_dir():
        raise ValueError(f"{text!r}: no directory {str(parent)!r} to write it in")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise ValueError(f"{text!r} exists and cannot be written")
    elif not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{text!r} cannot be created: directory {str(parent)!r} is not writable")
    return path


TOPOLOGY = Setting["Topology | None"](
    name="topology",
    dest="hal_topology",
    env="HALAB_TOPOLOGY",
    ini="halab_topology",
    what="topology",
    parse=parse_topology,
    default=None,
)
VRRP = Setting[str | None](
    name="vrrp",
    dest="hal_vrrp",
    env="HALAB_VRRP",
    ini="halab_vrrp",
    what="VRRP engine",
    parse=parse_engine,
    default=None,
)
KEEP = Setting[bool](
    name="keep",
    dest="hal_keep",
    env="HALAB_KEEP",
    ini="halab_keep",
    what="keep setting",
    parse=parse_bool,
    default=False,
)
REPORT = Setting[Path | None](
    name="report_dir",
    dest="hal_report",
    env="HALAB_REPORT",
    ini="halab_report",
    what="report directory",
    parse=parse_directory,
    default=None,
)

DOCKER_HOSTS = Setting[tuple[str, ...]](
    name="docker_hosts",
    dest="hal_docker_host",
    env="HALAB_DOCKER_HOST",
    ini="halab_docker_host",
    what="Docker engine",
    parse=parse_docker_hosts,
    default=(),
)

# The failover regression gate (pytest_halab.gate): the baseline to compare with (loaded and
# checked by the gate at configure time), the one to write, and the allowed rise of a median.
BASELINE = Setting[Path | None](
    name="baseline",
    dest="hal_baseline",
    env="HALAB_BASELINE",
    ini="halab_baseline",
    what="baseline",
    parse=parse_input_file,
    default=None,
)
SAVE_BASELINE = Setting[Path | None](
    name="save_baseline",
    dest="hal_save_baseline",
    env="HALAB_SAVE_BASELINE",
    ini="halab_save_baseline",
    what="baseline to save",
    parse=parse_output_file,
    default=None,
)
MAX_REGRESSION = Setting[float](
    name="max_regression_pct",
    dest="hal_max_regression",
    env="HALAB_MAX_REGRESSION",
    ini="halab_max_regression",
    what="maximum regression",
    parse=parse_percent,
    default=DEFAULT_MAX_REGRESSION_PCT,
)

# The client probe of every scenario: a request per interval to each VIP, a fresh connection
# each (observe.py). The client outage is resolved to it, and its CPU grows with its rate.
PROBE_INTERVAL = Setting[float](
    name="probe_interval_ms",
    dest="hal_probe_interval",
    env="HALAB_PROBE_INTERVAL",
    ini="halab_probe_interval",
    what="probe interval",
    parse=parse_probe_interval,
    default=PROBE_INTERVAL_MS,
)

# The order of the tests under pytest-xdist (distribute.longest_first) from what each took,
# where pytest's cache has not recorded it: a fresh clone in CI has no cache.
DURATIONS = Setting["Mapping[str, float] | None"](
    name="durations",
    dest="hal_durations",
    env="HALAB_DURATIONS",
    ini="halab_durations",
    what="durations file",
    parse=parse_durations,
    default=None,
    ini_beside=True,
)

SETTINGS: tuple[Setting[Any], ...] = (
    TOPOLOGY,
    VRRP,
    KEEP,
    REPORT,
    DOCKER_HOSTS,
    BASELINE,
    SAVE_BASELINE,
    MAX_REGRESSION,
    PROBE_INTERVAL,
    DURATIONS,
)


@dataclass(frozen=True)
class HalabSettings:
    """The resolved settings of a run; ``source[name]`` says where each value came from
    (``--hal-vrrp``, ``environment HALAB_VRRP``, ``ini option halab_vrrp`` or ``default``)."""

    topology: Topology | None = None
    vrrp: str | None = None  # an engine name (pytest_halab.engines)
    keep: bool = False
    report_dir: Path | None = None
    docker_hosts: tuple[str, ...] = ()  # engine URLs; () is the environment's engine
    baseline: Path | None = None  # compare the run's failover figures with this file
    save_baseline: Path | None = None  # write the run's failover figures to this file
    max_regression_pct: float = DEFAULT_MAX_REGRESSION_PCT
    probe_interval_ms: float = PROBE_INTERVAL_MS  # the client probe's, in every scenario
    # test id -> seconds, for the order under xdist where the cache has none
    durations: Mapping[str, float] | None = None
    source: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def source_of(self, name: str) -> str:
        """Where the setting ``name`` came from."""
        return self.source.get(name, DEFAULT)


SETTINGS_KEY = pytest.StashKey[HalabSettings]()


def usage_error(setting: Setting[Any], source: str, problem: str) -> pytest.UsageError:
    """The error for a bad value of ``setting`` from ``source``, as every check words it:
    ``halab: baseline from --hal-baseline: ...``."""
    return pytest.UsageError(f"halab: {setting.what} from {source}: {problem}")


def resolve_one(config: pytest.Config, setting: Setting[T]) -> tuple[T, str]:
    """One setting's value and where it came from: the command line, the environment, the
    ini file, or its default. An empty string counts as not set."""
    given: Any = config.getoption(setting.dest)
    if isinstance(given, list):  # a repeatable option (--hal-docker-host)
        given = " ".join(given)
    if given is not None and given != "":
        source = setting.option
    elif os.environ.get(setting.env):
        given, source = os.environ[setting.env], f"environment {setting.env}"
    elif config.getini(setting.ini):
        given, source = config.getini(setting.ini), f"ini option {setting.ini}"
        inipath = getattr(config, "inipath", None)
        if setting.ini_beside and inipath is not None and isinstance(given, str):
            given = str(Path(inipath).parent / given)  # an absolute one stays as it is
    else:
        return setting.default, DEFAULT
    if not isinstance(given, str):  # already typed by the option's action (--hal-keep)
        return cast(T, given), source
    try:
        return setting.parse(given), source
    except ValueError as exc:
        raise usage_error(setting, source, str(exc)) from None


def resolve(config: pytest.Config) -> HalabSettings:
    """Every setting, resolved; raises pytest.UsageError naming the source of a bad value."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for setting in SETTINGS:
        values[setting.name], sources[setting.name] = resolve_one(config, setting)
    return HalabSettings(**values, source=MappingProxyType(sources))
