"""The settings resolver: command line > environment > ini > default, for every setting; a bad
value names where it came from. No Docker: a fake config object, and pytester in-process for
the real options."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from pytest_halab import engines
from pytest_halab.settings import (
    BASELINE,
    DOCKER_HOSTS,
    DURATIONS,
    KEEP,
    MAX_REGRESSION,
    PROBE_INTERVAL,
    REPORT,
    SAVE_BASELINE,
    SETTINGS,
    SETTINGS_KEY,
    TOPOLOGY,
    VRRP,
    HalabSettings,
    Setting,
    parse_bool,
    parse_durations,
    resolve,
)


class FakeConfig:
    """What the resolver reads of a pytest.Config: option values and ini values."""

    def __init__(
        self, options: dict[str, object] | None = None, ini: dict[str, str] | None = None
    ) -> None:
        self.options = options or {}
        self.ini = ini or {}

    def getoption(self, name: str) -> object:
        return self.options.get(name)

    def getini(self, name: str) -> str:
        return self.ini.get(name, "")

    inipath: Path | None = None


def resolve_fake(
    options: dict[str, object] | None = None, ini: dict[str, str] | None = None
) -> HalabSettings:
    return resolve(cast(pytest.Config, FakeConfig(options, ini)))


@pytest.fixture(autouse=True)
def _no_halab_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for setting in SETTINGS:
        monkeypatch.delenv(setting.env, raising=False)


@dataclass(frozen=True)
class Sample:
    """A distinct value for a setting at each place, and how to tell which one won."""

    setting: Setting[Any]
    cli: object
    env: str
    ini: str
    seen: dict[str, object]  # place -> what ``look`` gives when that place wins

    def look(self, settings: HalabSettings) -> object:
        value = getattr(settings, self.setting.name)
        return value.name if self.setting is TOPOLOGY and value is not None else value


SAMPLES = [
    Sample(
        TOPOLOGY,
        cli="nginx_dual_master",
        env="nginx_master_backup",
        ini="nginx_nopreempt",
        seen={
            "cli": "nginx_dual_master",
            "env": "nginx_master_backup",
            "ini": "nginx_nopreempt",
            "default": None,
        },
    ),
    Sample(
        VRRP,
        cli="halab",
        env="keepalived",
        ini="halab",
        seen={"cli": "halab", "env": "keepalived", "ini": "halab", "default": None},
    ),
    Sample(
        KEEP,
        cli=True,  # --hal-keep is a flag: argparse gives True
        env="no",
        ini="yes",
        seen={"cli": True, "env": False, "ini": True, "default": False},
    ),
    Sample(
        REPORT,
        cli="from-cli",
        env="from-env",
        ini="from-ini",
        seen={
            "cli": Path("from-cli"),
            "env": Path("from-env"),
            "ini": Path("from-ini"),
            "default": None,
        },
    ),
    Sample(
        DOCKER_HOSTS,
        cli=["tcp://127.0.0.1:2377", "unix:///var/run/docker.sock"],  # repeatable option
        env="tcp://10.0.0.5:2376,ssh://root@builder",
        ini="unix:///run/other.sock",
        seen={
            "cli": ("tcp://127.0.0.1:2377", "unix:///var/run/docker.sock"),
            "env": ("tcp://10.0.0.5:2376", "ssh://root@builder"),
            "ini": ("unix:///run/other.sock",),
            "default": (),
        },
    ),
    # The baseline is only a path here: the gate reads it at configure time (test_gate.py).
    Sample(
        BASELINE,
        cli="from-cli.json",
        env="from-env.json",
        ini="from-ini.json",
        seen={
            "cli": Path("from-cli.json"),
            "env": Path("from-env.json"),
            "ini": Path("from-ini.json"),
            "default": None,
        },
    ),
    Sample(
        SAVE_BASELINE,
        cli="save-cli.json",  # in the current directory: checked writable, never created
        env="save-env.json",
        ini="save-ini.json",
        seen={
            "cli": Path("save-cli.json"),
            "env": Path("save-env.json"),
            "ini": Path("save-ini.json"),
            "default": None,
        },
    ),
    Sample(
        MAX_REGRESSION,
        cli="25",
        env="5.5",
        ini="0",
        seen={"cli": 25.0, "env": 5.5, "ini": 0.0, "default": 10.0},
    ),
    Sample(
        PROBE_INTERVAL,
        cli="10",
        env="50",
        ini="2.5",
        seen={"cli": 10.0, "env": 50.0, "ini": 2.5, "default": 20.0},
    ),
]
PLACES = ["cli", "env", "ini", "default"]

# durations files for DURATIONS' sample, one per place (removed when the module is unloaded)
_DURATIONS_DIR = tempfile.TemporaryDirectory(prefix="halab-test-durations-")


def _durations_file(place: str, seconds: float) -> str:
    path = Path(_DURATIONS_DIR.name) / f"{place}.json"
    path.write_text(json.dumps({f"t.py::{place}": seconds}))
    return str(path)


SAMPLES.append(
    Sample(
        DURATIONS,
        cli=_durations_file("cli", 1),
        env=_durations_file("env", 2.5),
        ini=_durations_file("ini", 0),
        seen={
            "cli": {"t.py::cli": 1.0},
            "env": {"t.py::env": 2.5},
            "ini": {"t.py::ini": 0.0},
            "default": None,
        },
    )
)


def test_every_setting_has_a_sample() -> None:
    assert {s.setting for s in SAMPLES} == set(SETTINGS)


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.setting.name)
def test_the_highest_place_set_wins(
    sample: Sample, place: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Set at ``place`` and every place below it: ``place`` wins, and the settings say so."""
    below = PLACES[PLACES.index(place) :]
    s = sample.setting
    options = {s.dest: sample.cli} if "cli" in below else {}
    ini = {s.ini: sample.ini} if "ini" in below else {}
    if "env" in below:
        monkeypatch.setenv(s.env, sample.env)
    settings = resolve_fake(options, ini)
    assert sample.look(settings) == sample.seen[place]
    names = {
        "cli": s.option,
        "env": f"environment {s.env}",
        "ini": f"ini option {s.ini}",
        "default": "default",
    }
    assert settings.source_of(s.name) == names[place]


def test_sources_are_named_as_in_messages() -> None:
    assert VRRP.option == "--hal-vrrp"
    assert (KEEP.option, KEEP.env, KEEP.ini) == ("--hal-keep", "HALAB_KEEP", "halab_keep")
    assert (REPORT.option, REPORT.env, REPORT.ini) == (
        "--hal-report",
        "HALAB_REPORT",
        "halab_report",
    )
    assert (BASELINE.option, BASELINE.env, BASELINE.ini) == (
        "--hal-baseline",
        "HALAB_BASELINE",
        "halab_baseline",
    )
    assert (SAVE_BASELINE.option, SAVE_BASELINE.env, SAVE_BASELINE.ini) == (
        "--hal-save-baseline",
        "HALAB_SAVE_BASELINE",
        "halab_save_baseline",
    )
    assert (MAX_REGRESSION.option, MAX_REGRESSION.env, MAX_REGRESSION.ini) == (
        "--hal-max-regression",
        "HALAB_MAX_REGRESSION",
        "halab_max_regression",
    )


def test_empty_strings_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALAB_VRRP", "")
    settings = resolve_fake({"hal_topology": ""}, {"halab_vrrp": "halab"})
    assert settings.topology is None and settings.source_of("topology") == "default"
    assert settings.vrrp == "halab" and settings.source_of("vrrp") == "ini option halab_vrrp"


def test_defaults() -> None:
    assert resolve_fake() == HalabSettings(
        source={s.name: "default" for s in SETTINGS},
    )


def test_settings_are_frozen() -> None:
    settings = resolve_fake()
    with pytest.raises(AttributeError):
        settings.keep = True  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.source["keep"] = "x"  # type: ignore[index]


# ------------------------------------------------------------ bad values


def _file(tmp_path: Path) -> str:
    f = tmp_path / "a-file"
    f.write_text("")
    return str(f)


BAD = [
    (TOPOLOGY, "no_such_topology", "unknown topology 'no_such_topology'"),
    (VRRP, "vrrpd2", "'vrrpd2' is not one of keepalived, halab"),
    (KEEP, "maybe", "'maybe' is not a boolean (1/0, true/false, yes/no)"),
    (REPORT, "{file}", "exists and is not a directory"),
    (SAVE_BASELINE, "{dir}", "is a directory"),
    (SAVE_BASELINE, "{dir}/no/such/dir/b.json", "no directory"),
    (MAX_REGRESSION, "-1", "expected a percentage >= 0, got '-1'"),
    (MAX_REGRESSION, "ten", "expected a percentage >= 0, got 'ten'"),
    (MAX_REGRESSION, "nan", "expected a percentage >= 0, got 'nan'"),
    (MAX_REGRESSION, "inf", "expected a percentage >= 0, got 'inf'"),
    (PROBE_INTERVAL, "0.5", "'0.5': the probe interval is 1 to 1000 ms"),
    (PROBE_INTERVAL, "2000", "'2000': the probe interval is 1 to 1000 ms"),
    (PROBE_INTERVAL, "nan", "'nan': the probe interval is 1 to 1000 ms"),
    (PROBE_INTERVAL, "20ms", "'20ms' is not a number of milliseconds"),
    (DURATIONS, "{dir}/none.json", "No such file or directory"),
    (DURATIONS, "{file}", "line 1 column 1: Expecting value"),
]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (
            '{\n  "t.py::a": 1,\n  "t.py::b": 2\n  "t.py::c": 3\n}',
            "line 4 column 3: Expecting ',' delimiter",
        ),
        ('["t.py::a", 1]', "an object of test ids and seconds, not a list"),
        (
            '{\n  "t.py::a": 1,\n  "t.py::b": -2\n}',
            "line 3: t.py::b: seconds (a number >= 0), not -2",
        ),
        ('{"t.py::a": "1"}', "line 1: t.py::a: seconds (a number >= 0), not '1'"),
        ('{"t.py::a": true}', "line 1: t.py::a: seconds (a number >= 0), not True"),
        ('{"t.py::a": NaN}', "line 1: t.py::a: seconds (a number >= 0), not nan"),
    ],
)
def test_a_bad_durations_file_is_named_with_its_line(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "durations.json"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        parse_durations(str(path))
    assert str(info.value) == f"{path}: {why}"


@pytest.mark.parametrize("place", ["cli", "env", "ini"])
@pytest.mark.parametrize(("setting", "text", "why"), BAD, ids=[s.name for s, _, _ in BAD])
def test_a_bad_value_names_where_it_came_from(
    setting: Setting[Any],
    text: str,
    why: str,
    place: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    text = text.format(file=_file(tmp_path), dir=tmp_path)
    options: dict[str, object] = {}
    ini: dict[str, str] = {}
    if place == "cli":
        options[setting.dest] = text  # argparse refuses a bad --hal-vrrp before us (choices)
        source = setting.option
    elif place == "env":
        monkeypatch.setenv(setting.env, text)
        source = f"environment {setting.env}"
    else:
        ini[setting.ini] = text
        source = f"ini option {setting.ini}"
    with pytest.raises(pytest.UsageError) as info:
        resolve_fake(options, ini)
    msg = str(info.value)
    assert msg.startswith(f"halab: {setting.what} from {source}: "), msg
    assert why in msg


def test_a_place_set_hides_the_places_below_even_a_bad_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HALAB_KEEP", "maybe")
    monkeypatch.setenv("HALAB_VRRP", "halab")
    settings = resolve_fake({"hal_keep": True}, {"halab_vrrp": "vrrpd2"})
    assert settings.keep is True and settings.vrrp == "halab"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", True),
        ("true", True),
        ("yes", True),
        ("0", False),
        ("false", False),
        ("no", False),
        ("YES", True),
        ("False", False),
        (" yes ", True),
    ],
)
def test_booleans(text: str, value: bool) -> None:
    assert parse_bool(text) is value


@pytest.mark.parametrize("text", ["2", "on", "off", "y", "maybe", "-"])
def test_other_words_are_not_booleans(text: str) -> None:
    with pytest.raises(ValueError, match="is not a boolean"):
        parse_bool(text)


def test_engine_names_come_from_the_registry() -> None:
    for name in engines.names():
        assert resolve_fake({"hal_vrrp": name}).vrrp == name


# ------------------------------------------------------------ the real options (in-process)


def test_real_options_reach_the_stash(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nhalab_keep = yes\nhalab_report = from-ini\nhalab_vrrp = halab\n")
    config = pytester.parseconfigure("--hal-vrrp=keepalived")
    settings = config.stash[SETTINGS_KEY]
    assert settings.vrrp == "keepalived" and settings.source_of("vrrp") == "--hal-vrrp"
    assert settings.keep is True and settings.source_of("keep") == "ini option halab_keep"
    assert settings.report_dir == Path("from-ini")


def test_real_keep_flag_beats_the_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HALAB_KEEP", "0")
    assert pytester.parseconfigure().stash[SETTINGS_KEY].keep is False
    settings = pytester.parseconfigure("--hal-keep").stash[SETTINGS_KEY]
    assert settings.keep is True and settings.source_of("keep") == "--hal-keep"


def test_real_vrrp_option_offers_the_registered_engines(pytester: pytest.Pytester) -> None:
    for name in engines.names():
        assert pytester.parseconfigure(f"--hal-vrrp={name}").stash[SETTINGS_KEY].vrrp == name
    with pytest.raises(pytest.UsageError, match="--hal-vrrp"):
        pytester.parseconfigure("--hal-vrrp=vrrpd2")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("http://x:2375", "is not a Docker engine URL"),
        ("tcp://", "is not a Docker engine URL"),
        ("tcp://a:1 tcp://a:1", "names an engine twice"),
        (" , ", "no URL given"),
    ],
)
def test_a_bad_docker_host_names_its_source(
    text: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DOCKER_HOSTS.env, text)
    with pytest.raises(pytest.UsageError) as info:
        resolve_fake()
    assert f"Docker engine from environment {DOCKER_HOSTS.env}: " in str(info.value)
    assert message in str(info.value)


def test_the_probe_interval_default_is_the_probes() -> None:
    """settings keeps the default in ms, without loading observe (which loads docker)."""
    from pytest_halab.observe import PROBE_INTERVAL_S

    assert PROBE_INTERVAL.default == PROBE_INTERVAL_S * 1000


def test_a_durations_file_in_the_ini_file_is_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ini file's relative path is its directory's, wherever pytest runs from; the
    command line's and the environment's are the current directory's."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "d.json").write_text('{"t.py::a": 4}')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = FakeConfig(ini={DURATIONS.ini: "tests/d.json"})
    config.inipath = tmp_path / "pyproject.toml"
    settings = resolve(cast(pytest.Config, config))
    assert settings.durations == {"t.py::a": 4.0}
    with pytest.raises(pytest.UsageError) as info:
        resolve_fake({DURATIONS.dest: "tests/d.json"})
    assert "from --hal-durations: 'tests/d.json': No such file" in str(info.value)
