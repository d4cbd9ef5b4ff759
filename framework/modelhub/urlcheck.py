"""The checks a URL passes before anything is fetched from it: scheme, host allowlist, public addresses.

Every address the host resolves to must be globally routable (loopback, private, link-local,
metadata, unspecified and IPv4-in-IPv6 forms of them are refused); :func:`resolve_checked` returns
the checked addresses, so the connection goes to exactly those (no second DNS lookup).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .errors import BadRequest, Forbidden

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., list[tuple[Any, ...]]]

_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-_:")  # ':' for IPv6 literals


@dataclass(frozen=True)
class FetchPolicy:
    enabled: bool = False
    # Host names, exact and case-insensitive; an entry ".example.org" allows the subdomains of example.org.
    allowlist: tuple[str, ...] = ()
    timeout: float = 10.0  # connect and per-read timeout; the whole fetch may take 3x this
    max_bytes: int = 20 * 1024 * 1024
    max_redirects: int = 3


def is_public_address(ip: IPAddress) -> bool:
    """True only for globally routable unicast addresses (checks embedded IPv4 in IPv6 forms)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return is_public_address(ip.ipv4_mapped)
        if ip.sixtofour is not None and not is_public_address(ip.sixtofour):
            return False
        if ip.teredo is not None and not all(is_public_address(part) for part in ip.teredo):
            return False
        if ip.is_site_local:
            return False
    return ip.is_global and not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    )


def host_allowed(host: str, allowlist: tuple[str, ...]) -> bool:
    host = host.lower().rstrip(".")
    for entry in allowlist:
        entry = entry.strip().lower().rstrip(".")
        if not entry or entry == ".":
            continue
        if entry.startswith("."):
            if host.endswith(entry) and len(host) > len(entry):
                return True
        elif host == entry:
            return True
    return False


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent in the request line
    addresses: tuple[tuple[int, tuple[Any, ...]], ...]  # (family, sockaddr), all checked


def resolve_checked(
    url: str, policy: FetchPolicy, resolver: Resolver, address_allowed: Callable[[IPAddress], bool]
) -> Target:
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise BadRequest("the URL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BadRequest(f"the URL is not valid: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise BadRequest(f"only http and https URLs can be fetched, not {scheme + ':' if scheme else 'this URL'}")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise BadRequest("URLs with a user name or password are not accepted")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise BadRequest("the URL has no host name")
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise BadRequest("the URL's host name is not valid") from None
    if not set(host) <= _HOST_CHARS:
        raise BadRequest("the URL's host name is not valid")
    if not host_allowed(host, policy.allowlist):
        raise Forbidden(f"fetching from host {host!r} is not allowed; it is not on this server's URL allowlist")
    port = port or (443 if scheme == "https" else 80)
    try:
        infos = resolver(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise BadRequest(f"the host name {host!r} could not be resolved") from None
    addresses: list[tuple[int, tuple[Any, ...]]] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        try:
            ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        except ValueError:
            raise Forbidden(f"the host {host!r} resolves to an address that cannot be checked") from None
        if not address_allowed(ip):
            raise Forbidden(f"the host {host!r} resolves to a private/loopback/link-local address; refusing to fetch")
        addresses.append((family, tuple(sockaddr)))
    if not addresses:
        raise BadRequest(f"the host name {host!r} could not be resolved")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, host, port, path, tuple(addresses))
