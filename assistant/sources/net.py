"""Which addresses a source may be fetched from: public ones, and the ranges the operator allows.

A source URL added over REST or the web chat must not make the server fetch from itself or its
network (server-side request forgery), so every host is resolved and every address it resolves to
is checked, on each request and on each redirect; the fetch then connects to a checked address.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

from assistant.errors import UsageError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]


class AddressRefused(UsageError):
    """A source URL whose host is, or resolves to, an address sources may not be fetched from."""


def allowed_networks(setting: str) -> list[Network]:
    """ASSISTANT_SOURCES_ALLOW_NETWORKS as networks; a bad range is a UsageError naming it."""
    networks = []
    for part in (piece.strip() for piece in setting.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise UsageError(
                f"ASSISTANT_SOURCES_ALLOW_NETWORKS holds '{part}', which is not an address range; "
                "write ranges such as 127.0.0.1/32 or 10.0.0.0/8, separated by commas."
            ) from None
    return networks


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UsageError(f"The host '{host}' could not be resolved ({exc.strerror}); check the URL.") from None
    return [str(info[4][0]) for info in infos]


def checked_address(host: str, port: int, networks: list[Network], resolve: Resolver = system_resolver) -> str:
    """The address to connect to for host: all it resolves to must be public or in networks."""
    try:
        addresses = [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        addresses = [ipaddress.ip_address(value.split("%")[0]) for value in resolve(host, port)]
    if not addresses:
        raise UsageError(f"The host '{host}' resolves to no address; check the URL.")
    for address in addresses:
        if not _allowed(address, networks):
            raise AddressRefused(
                f"The host '{host}' is at {address}, a {_kind(address)} address that sources may not fetch from; "
                "an operator who means it can allow that range in ASSISTANT_SOURCES_ALLOW_NETWORKS."
            )
    return str(addresses[0])


def _allowed(address: Address, networks: list[Network]) -> bool:
    if any(address in network for network in networks if network.version == address.version):
        return True
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is 127.0.0.1
    if mapped is not None:
        return _allowed(mapped, networks)
    return address.is_global and not address.is_multicast


def _kind(address: Address) -> str:
    for name in ("loopback", "link_local", "private", "multicast", "reserved", "unspecified"):
        if getattr(address, f"is_{name}"):
            return name.replace("_", "-")
    return "non-public"
