"""The lab's wire, captured in the client for as long as it runs.

``halab-observe --capture eth0`` in the client records every VRRP advert, gratuitous ARP and
unsolicited IPv6 neighbour advertisement on the lab's network, stamped by the kernel on
receipt. One capture runs per client run, streamed back live (``livestream``), and its lines
are kept across the client's restarts: a test's observation takes the wire's events since
its start from there, instead of starting a capture of its own for each test (a Python
process, about 50 ms of CPU to start, and a wait until it listens).
"""

from __future__ import annotations

from .livestream import StreamWatch, Watches

CAPTURED = frozenset({"advert", "garp", "na"})


class WireWatch(StreamWatch):
    """The client's capture of the lab's wire (see the module's text)."""

    AGENT = ("halab-observe", "--capture", "eth0", "--until-eof", "--duration", "0")
    KEPT = CAPTURED  # synced: its observer_ready line (it listens from then on)


class WireCapture(Watches[WireWatch]):
    """The capture of each client of a lab (there is one), kept across its restarts."""

    def __init__(self) -> None:
        super().__init__(WireWatch)
