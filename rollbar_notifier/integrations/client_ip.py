"""Which address a request came from, and how much of it may be sent.

The peer of the connection is the client unless it is one of the ``trusted_proxies``:
only then are ``X-Forwarded-For`` and ``X-Real-Ip`` believed, since anyone can send
them. ``X-Forwarded-For`` is read from the right, skipping trusted proxies, because
each proxy appends the address it saw and only the part added by our own proxies is
true. An address is personal data, so by default it is anonymised (``capture_ip``:
``"anonymize"``) by zeroing the last IPv4 octet or the last 80 bits of IPv6, and the
forwarding headers that repeat it are anonymised or dropped the same way.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from typing import Dict, Iterable, List, Mapping, Optional, Tuple, Union

log = logging.getLogger(__name__)

Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
CaptureIp = Union[bool, str]

ANONYMIZE = "anonymize"
IPV4_KEPT_BITS = 24
IPV6_KEPT_BITS = 48
"""The last 80 bits of an IPv6 address name a host inside a site: they go."""
LIST_HEADERS = ("X-Forwarded-For", "X-Real-Ip", "True-Client-Ip", "Cf-Connecting-Ip",
                "X-Client-Ip")
"""Headers holding a comma-separated list of addresses: anonymised hop by hop."""
DROPPED_HEADERS = ("Forwarded",)
"""Headers holding addresses in a syntax of their own: sent only with ``capture_ip=True``."""


def parse(text: str) -> Optional[Address]:
    """An address as proxies write it: bare, ``[v6]:port`` or ``v4:port``; ``None`` if not one."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@functools.lru_cache(maxsize=16)
def _networks(trusted: Tuple[str, ...]) -> Tuple[Network, ...]:
    networks = []
    for entry in trusted:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            log.warning("rollbar_notifier: trusted_proxies entry %r is not an address or a "
                        "network; ignored", entry)
    return tuple(networks)


def _is_trusted(address: Optional[Address], trusted: Tuple[str, ...]) -> bool:
    return address is not None and any(address in network for network in _networks(trusted))


def client_address(peer: Optional[str], headers: Mapping[str, str],
                   trusted: Tuple[str, ...]) -> Optional[str]:
    """The client's address as text: the peer's, or what trusted proxies say it was."""
    if not peer or not trusted or not _is_trusted(parse(peer), trusted):
        return peer or None
    hops = [hop.strip() for hop in headers.get("X-Forwarded-For", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(parse(hop), trusted):
            return hop
    if hops:
        return hops[0]
    real = headers.get("X-Real-Ip", "").strip()
    return real or peer


def anonymized(address: Address) -> str:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    kept = IPV4_KEPT_BITS if address.version == 4 else IPV6_KEPT_BITS
    return str(ipaddress.ip_network(f"{address}/{kept}", strict=False).network_address)


def shown(text: Optional[str], capture_ip: CaptureIp) -> Optional[str]:
    """``text`` as ``capture_ip`` allows it to be sent; an unparsable one is not anonymised
    but left out."""
    if not text or capture_ip is False:
        return None
    if capture_ip != ANONYMIZE:
        return text
    address = parse(text)
    return None if address is None else anonymized(address)


def user_ip(peer: Optional[str], headers: Mapping[str, str], trusted: Tuple[str, ...],
            capture_ip: CaptureIp) -> Optional[str]:
    """``data.request.user_ip``: the client's address as ``capture_ip`` allows."""
    return shown(client_address(peer, headers, trusted), capture_ip)


def hide_in_headers(headers: Dict[str, str], capture_ip: CaptureIp) -> None:
    """Make the headers that repeat addresses tell no more than ``user_ip`` does."""
    if capture_ip is True:
        return
    for name in DROPPED_HEADERS:
        headers.pop(name, None)
    for name in LIST_HEADERS:
        value = headers.pop(name, None)
        if value is not None and capture_ip is not False:
            hops = _shown_hops(value.split(","), capture_ip)
            if hops:
                headers[name] = ", ".join(hops)


def _shown_hops(hops: Iterable[str], capture_ip: CaptureIp) -> List[str]:
    return [text for text in (shown(hop, capture_ip) for hop in hops) if text]
