"""The sources a head's security group admits SSH from (``--allow-cidr``), checked before anything exists.

A rule set is judged by its union, not rule by rule: ``0.0.0.0/1`` plus ``128.0.0.0/1`` opens as much as
``0.0.0.0/0``. remrepl refuses a set whose union holds more than ``OPEN_SHARE`` of either family's
public space: for IPv4 more than a /8's worth of public addresses (2**24, about 0.45% of the ~3.7 billion
public ones; private and reserved ranges do not count, so 10.0.0.0/8 plus 172.16.0.0/12 plus
192.168.0.0/16 is fine), for IPv6 the same share of global unicast 2000::/3, i.e. more than a /11's worth.
Such a set is accepted only with ``--allow-open-ssh`` (config ``allow_open_ssh = true``): the head then
relies on SSH keys alone against everyone in that range.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from .._exceptions import ConfigError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

OPEN_SHARE_BITS = 8  # refuse more than 1/2**8 of a family's public space: a /8 of IPv4
IPV4_NOT_PUBLIC = [
    ipaddress.IPv4Network(text)
    for text in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/3",  # multicast and reserved: never the source of a TCP connection
    )
]
IPV6_PUBLIC = ipaddress.IPv6Network("2000::/3")  # global unicast: all the IPv6 internet today
IPV4_PUBLIC_SIZE = 2**32 - sum(n.num_addresses for n in ipaddress.collapse_addresses(IPV4_NOT_PUBLIC))
LIMITS = {4: 2 ** (32 - OPEN_SHARE_BITS), 6: IPV6_PUBLIC.num_addresses >> OPEN_SHARE_BITS}
LIMIT_NAMES = {4: "a /8", 6: "a /11"}
PUBLIC_SIZES = {4: IPV4_PUBLIC_SIZE, 6: IPV6_PUBLIC.num_addresses}


def check_cidrs(cidrs: Iterable[str], allow_open_ssh: bool = False) -> list[str]:
    """The CIDRs normalised (``"1.2.3.4"`` → ``"1.2.3.4/32"``); ``ConfigError`` for a malformed one, for
    none at all, and (unless ``allow_open_ssh``) for a set whose union opens SSH to a large share of the
    internet (the module docstring), ``/0`` or split in pieces."""
    result: list[str] = []
    networks: list[IPNetwork] = []
    for text in cidrs:
        try:
            network = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            raise ConfigError(f"bad --allow-cidr {text!r}: expected an address or a CIDR like 203.0.113.7/32") from None
        if str(network) not in result:
            result.append(str(network))
            networks.append(network)
    if not result:
        raise ConfigError("no --allow-cidr: the security group must admit SSH from somewhere")
    if not allow_open_ssh:
        for version in (4, 6):
            _refuse_open(version, [n for n in networks if n.version == version])
    return result


def opens_widely(cidrs: Iterable[str]) -> bool:
    """Whether normalised ``cidrs`` are more than ``check_cidrs`` accepts without ``allow_open_ssh``."""
    try:
        check_cidrs(cidrs)
    except ConfigError:
        return True
    return False


def public_addresses(version: int, networks: Iterable[IPNetwork]) -> int:
    """How many public addresses of family ``version`` the union of ``networks`` holds."""
    union = list(ipaddress.collapse_addresses(networks))  # type: ignore[type-var]  # one family at a time
    if version == 4:
        total = sum(n.num_addresses for n in union)
        for private in IPV4_NOT_PUBLIC:  # collapsed: each address lies in at most one network of the union
            total -= sum(_overlap(n, private) for n in union)
        return total
    return sum(_overlap(n, IPV6_PUBLIC) for n in union)


def _overlap(a: IPNetwork, b: IPNetwork) -> int:
    """Addresses in both: CIDR blocks either nest or are disjoint."""
    if a.version != b.version or not a.overlaps(b):
        return 0
    return min(a.num_addresses, b.num_addresses)


def _refuse_open(version: int, networks: list[IPNetwork]) -> None:
    if not networks:
        return
    count = public_addresses(version, networks)
    if count <= LIMITS[version]:
        return
    given = ", ".join(str(n) for n in networks)
    whole = count >= PUBLIC_SIZES[version]  # 0.0.0.0/0, or the same in pieces
    wide = f"more than {LIMIT_NAMES[version]}'s worth of public IPv{version} addresses"
    scope = "the whole internet" if whole else wide
    raise ConfigError(
        f"--allow-cidr {given} would open SSH to {scope}; remrepl refuses that. Give your own address "
        "(e.g. 203.0.113.7/32) or your network's range, or pass --allow-open-ssh (config allow_open_ssh = true) "
        "to open SSH to that range anyway (the head is then protected by its SSH key alone)"
    )
