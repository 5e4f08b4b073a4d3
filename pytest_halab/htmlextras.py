"""Each test's timeline picture and measures in pytest-html's report (``--html=FILE``).

Registered by ``plugin.pytest_configure`` only when pytest-html is installed and its report
is asked for; pytest-halab works without it. The session draws each test's picture when
its scenario ends (:meth:`session.HalabRun.take_pictures`); the teardown report of the
test carries it to pytest-html as an ``html`` extra (pytest-html gathers the extras of all
three phases into the test's row). The PNG is embedded as a data URL at its own size, not
as pytest-html's image extra, which shows images as a 320x240 thumbnail.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .session import HalabRun

__all__ = ["HTML_PLUGIN", "HtmlExtras", "TestPicture", "picture_html", "wanted"]

HTML_PLUGIN = "halab-html"


@dataclass(frozen=True)
class TestPicture:
    """One scenario's picture of one test, and its measures in words."""

    __test__ = False  # not a pytest test class, whatever its name

    title: str
    png: bytes
    lines: tuple[str, ...]


def wanted(config: pytest.Config) -> bool:
    """pytest-html is installed and its report asked for (``--html``)."""
    return config.pluginmanager.hasplugin("html") and bool(getattr(config.option, "htmlpath", None))


def picture_html(pictures: Sequence[TestPicture]) -> str:
    """The HTML of a test's pictures: per scenario its measures as a list, then its
    picture, embedded."""
    # pytest-html greys its extras' text: the measures are what the row is read for
    parts = ['<div class="halab" style="color:#1a1a1a;font-size:13px">']
    for pic in pictures:
        parts.append(f'<h4 style="margin:6px 0">halab: {html.escape(pic.title)}</h4>')
        if pic.lines:
            items = "".join(f"<li>{html.escape(line)}</li>" for line in pic.lines)
            parts.append(f'<ul class="halab-measures">{items}</ul>')
        else:
            parts.append('<p class="halab-measures">no measures taken</p>')
        data = base64.b64encode(pic.png).decode("ascii")
        alt = html.escape(f"timeline of {pic.title}", quote=True)
        parts.append(
            f'<img class="halab-timeline" alt="{alt}" style="max-width:100%" '
            f'src="data:image/png;base64,{data}"/>'
        )
    parts.append("</div>")
    return "".join(parts)


class HtmlExtras:
    """The pytest-html side: attaches a test's pictures to its teardown report."""

    def __init__(self, run: HalabRun) -> None:
        self.run = run

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, Any, Any]:
        report = yield
        if report.when == "teardown":
            pictures = self.run.take_pictures(item.nodeid)
            if pictures:
                from pytest_html import extras

                report.extras = [
                    *getattr(report, "extras", []),
                    extras.html(picture_html(pictures)),
                ]
        return report
