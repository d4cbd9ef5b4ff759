"""The settings that end up in response headers and URLs, or decide whom to trust: their checks."""

from __future__ import annotations

import ipaddress
import re
from typing import Protocol
from urllib.parse import urlsplit

from .errors import ConfigError


class HttpSettings(Protocol):
    """The settings checked here (modelhub.settings.Settings has them)."""

    @property
    def allow_origin(self) -> str: ...
    @property
    def public_url(self) -> str: ...
    @property
    def allowed_hosts(self) -> tuple[str, ...]: ...
    @property
    def trusted_proxies(self) -> tuple[str, ...]: ...


_LABEL = r"[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?"
_HOST_NAME = re.compile(rf"\.?{_LABEL}(\.{_LABEL})*")  # an allowed_hosts entry: a name or IPv4 address, no port
_ORIGIN = re.compile(r"https?://[^/?#@\s]+")


def validate_http(s: HttpSettings) -> None:
    """The settings that end up in response headers and URLs, or decide whom to trust."""
    origin = s.allow_origin
    if origin not in ("", "*", "null") and not _ORIGIN.fullmatch(origin):
        raise ConfigError(
            f"invalid setting: allow_origin must be *, empty, or one origin such as "
            f"https://app.example.org (scheme, host, optional port; no path, no list), not {origin!r}"
        )
    if s.public_url and not _base_url(s.public_url):
        raise ConfigError(
            f"invalid setting: public_url must be an http(s) URL without user, query or "
            f"fragment, such as https://models.example.org/mobilenet/, not {s.public_url!r}"
        )
    for name in s.allowed_hosts:
        if not _HOST_NAME.fullmatch(name):
            raise ConfigError(
                f"invalid setting: allowed_hosts: {name!r} is not a host name (no port, no scheme; "
                f"a leading '.' allows subdomains)"
            )
    trusted_networks(s)


def _base_url(text: str) -> bool:
    try:
        url = urlsplit(text)
        url.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:  # also "[::1" and other broken IPv6 literals
        return False
    return (
        url.scheme in ("http", "https")
        and bool(url.hostname)
        and "@" not in url.netloc
        and not url.query
        and not url.fragment
        and " " not in text
    )


def trusted_networks(s: HttpSettings) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """``trusted_proxies`` as networks (an address is a network of one)."""
    networks = []
    for entry in s.trusted_proxies:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ConfigError(
                f"invalid setting: trusted_proxies: {entry!r} is not an IP address or network "
                f"(such as 10.0.0.5 or 10.0.0.0/24)"
            ) from None
    return networks
