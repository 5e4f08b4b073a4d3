"""An instance's advert counters, kept as keepalived keeps them, and its stats dump.

keepalived counts per VRRP instance what it sent and received and why it rejected adverts
(``vrrp_stats`` in keepalived/include/vrrp.h). It shows them in three places: the JSON
dump's ``stats`` object, the text file ``/tmp/keepalived.stats`` it writes on SIGUSR2
(``keepalived --signum=STATS``), and the SNMP tables. Operators read the text file to
diagnose a split brain ("Authentication Errors: Failure" counting up means the peers'
passwords differ), so halab-vrrpd keeps the same counters with the same meanings:

- ``advert_rcvd`` counts an advert that passed the header checks (length, TTL, version,
  authentication, interval, type, address count, multicast/unicast), even when its
  address list then turns out wrong or its unicast source is not a peer, as keepalived's
  ``vrrp_check_packet`` does;
- each error counter counts what keepalived counts under that name; rejections keepalived
  counts under no name (a wrong version, a v2 interval mismatch, a unicast source that is
  no peer) count under none here either;
- ``become_master``/``release_master`` count entering and leaving MASTER,
  ``pri_zero_rcvd``/``pri_zero_sent`` the priority-0 adverts (a master resigning).

``--signum=STATS_CLEAR`` (SIGRTMIN+29) writes the file and then zeroes the counters.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

STATS_PATH = "/tmp/keepalived.stats"  # keepalived's KA_TMP_DIR "/keepalived.stats"

# Why check_advert (packet.py) dropped an advert -> (keepalived's counter or None, whether
# keepalived had counted the advert in advert_rcvd before rejecting it).
_DROPS: dict[str, tuple[str | None, bool]] = {
    "ttl": ("ip_ttl_err", False),
    "version": (None, False),
    "auth_type": ("authtype_mismatch", False),
    "auth_password": ("auth_failure", False),
    "advert_interval": (None, False),
    "address_count": ("addr_list_err", False),
    "cast": ("addr_list_err", False),
    "address_list": ("addr_list_err", True),
    "unicast_source": (None, True),
    "other_vrid": (None, False),
}


@dataclass
class AdvertStats:
    """keepalived's per-instance counters, by keepalived's names (JSON order)."""

    advert_rcvd: int = 0
    advert_sent: int = 0
    become_master: int = 0
    release_master: int = 0
    packet_len_err: int = 0
    advert_interval_err: int = 0
    ip_ttl_err: int = 0
    invalid_type_rcvd: int = 0
    addr_list_err: int = 0
    invalid_authtype: int = 0
    authtype_mismatch: int = 0
    auth_failure: int = 0
    pri_zero_rcvd: int = 0
    pri_zero_sent: int = 0

    # Malformed packets whose VRID names an instance (packet.MalformedPacket.counter)
    MALFORMED: ClassVar[frozenset[str]] = frozenset(
        {"packet_len_err", "invalid_type_rcvd", "invalid_authtype"}
    )

    def received(self, priority: int) -> None:
        """An advert that passed every check."""
        self.advert_rcvd += 1
        if priority == 0:
            self.pri_zero_rcvd += 1

    def sent(self, priority: int) -> None:
        self.advert_sent += 1
        if priority == 0:
            self.pri_zero_sent += 1

    def dropped(self, code: str) -> None:
        """An advert check_advert rejected, by its drop code."""
        counter, counted = _DROPS.get(code, (None, False))
        if counted:
            self.advert_rcvd += 1
        if counter is not None:
            setattr(self, counter, getattr(self, counter) + 1)

    def malformed(self, counter: str) -> None:
        """A packet the decoder rejected for a reason keepalived counts (``MALFORMED``)."""
        if counter in self.MALFORMED:
            setattr(self, counter, getattr(self, counter) + 1)

    def clear(self) -> None:
        for f in fields(self):
            setattr(self, f.name, 0)

    def as_json(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def text(self, instance: str) -> str:
        """This instance's block of keepalived's stats file, line for line."""
        return (
            f"VRRP Instance: {instance}\n"
            "  Advertisements:\n"
            f"    Received: {self.advert_rcvd}\n"
            f"    Sent: {self.advert_sent}\n"
            f"  Became master: {self.become_master}\n"
            f"  Released master: {self.release_master}\n"
            "  Packet Errors:\n"
            f"    Length: {self.packet_len_err}\n"
            f"    TTL: {self.ip_ttl_err}\n"
            f"    Invalid Type: {self.invalid_type_rcvd}\n"
            f"    Advertisement Interval: {self.advert_interval_err}\n"
            f"    Address List: {self.addr_list_err}\n"
            "  Authentication Errors:\n"
            f"    Invalid Type: {self.invalid_authtype}\n"
            f"    Type Mismatch: {self.authtype_mismatch}\n"
            f"    Failure: {self.auth_failure}\n"
            "  Priority Zero:\n"
            f"    Received: {self.pri_zero_rcvd}\n"
            f"    Sent: {self.pri_zero_sent}\n"
        )
