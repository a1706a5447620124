"""Where a channel may point: resolve its host and refuse addresses a notice must not reach.

Checked when a channel is registered (``PUT /v1/clients/…``) and again before every send
(``delivery/channels.py::send``), so a name that resolves elsewhere after registration
(DNS rebinding, a changed record) is refused too. Every spelling of an address (decimal
``2130706433``, hex ``0x7f.1``, octal ``0177.0.0.1``, ``[::ffff:127.0.0.1]``, ``localhost``)
is caught by checking what the resolver returns, not the text of the URL.

- always refused: link-local and cloud metadata (169.254.0.0/16, fe80::/10,
  fd00:ec2::254), unspecified (0.0.0.0, ::), multicast, reserved and broadcast;
- refused with ``NOTIFIER_BLOCK_PRIVATE_TARGETS=1``: anything not globally routable
  (loopback, RFC 1918, unique-local, CGNAT, documentation ranges);
- only the Apprise schemes in ``ALLOWED_SCHEMES``; no custom methods, headers or
  query fields taken from a URL (Apprise's ``+``/``-``/``:`` prefixes, ``method=``).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Plain http(s) is our signed webhook. Of Apprise's services, those whose host is the
# receiver (json/form/xml, mail) are checked like webhooks; the SaaS ones talk only to
# their vendor's fixed API host, whatever the URL's "host" part (a token) says.
HOST_IS_TARGET = frozenset(
    {"http", "https", "json", "jsons", "form", "forms", "xml", "xmls", "mailto", "mailtos"}
)
VENDOR_HOSTED = frozenset({"slack", "discord", "msteams", "tgram", "pover", "pbul"})
ALLOWED_SCHEMES = HOST_IS_TARGET | VENDOR_HOSTED

_METADATA = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fd00:ec2::254/128"))
# Apprise reads these query keys as request shape, not as options: +Header, -param,
# :payload-field, and the HTTP method. A channel URL may not choose them.
_REQUEST_SHAPING = ("+", "-", ":")
_SHAPING_KEYS = frozenset({"method"})

GENERIC_REASON = "the receiver's address is not allowed"


class TargetRefused(ValueError):
    """The channel may not be used; ``str()`` is the detail, safe for admins (no URL)."""


@dataclass(frozen=True)
class TargetPolicy:
    """What channel URLs may reach; ``block_private`` is NOTIFIER_BLOCK_PRIVATE_TARGETS."""

    block_private: bool = False

    def check_url(self, url: str) -> None:
        """Refuse ``url`` unless its scheme, options and every address it resolves to pass."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            raise TargetRefused(f"the scheme {scheme or '(none)'}:// is not allowed")
        # Split by hand: parse_qsl would read "+Header" as " Header" (a plus is a space).
        for pair in parts.query.replace(";", "&").split("&"):
            key = unquote(pair.partition("=")[0]).strip()
            if key[:1] in _REQUEST_SHAPING or key.lower() in _SHAPING_KEYS:
                raise TargetRefused("custom methods, headers or fields in the URL are not allowed")
        if scheme in HOST_IS_TARGET:
            host = _target_host(url, scheme, parts.hostname)
            self.check_host(host, parts.port)

    def check_host(self, host: str | None, port: int | None = None) -> None:
        """Refuse ``host`` if it, or any address it resolves to, is not allowed."""
        if not host:
            raise TargetRefused("the URL names no host")
        for address in resolve(host, port):
            self.check_address(address)

    def check_address(self, address: IPAddress) -> None:
        refused = refusal(address, self.block_private)
        if refused:
            raise TargetRefused(f"the host resolves to {refused} ({address})")


def _target_host(url: str, scheme: str, hostname: str | None) -> str | None:
    """The host a send connects to: for mail, the SMTP server Apprise picks."""
    if scheme.startswith("mailto"):
        import apprise

        instance = apprise.Apprise.instantiate(url)
        smtp_host = getattr(instance, "smtp_host", None)
        return str(smtp_host) if smtp_host else hostname
    return hostname


def resolve(host: str, port: int | None = None) -> list[IPAddress]:
    """Every address ``host`` stands for, as the resolver reads it (all numeric spellings).

    A name that does not resolve has no address to refuse: the send fails on its own.
    """
    literal = _literal(host)
    if literal is not None:
        return [literal]
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        # RFC 6761: loopback by name, whatever this machine's resolver makes of it.
        return [ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv6Address("::1")]
    try:
        infos = socket.getaddrinfo(host, port or 0, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


def refusal(address: IPAddress, block_private: bool) -> str | None:
    """Say what kind of address ``address`` is if it is refused, else None."""
    if isinstance(address, ipaddress.IPv6Address):
        # ::ffff:a.b.c.d, ::a.b.c.d (IPv4-compatible), 2002::/16 and 64:ff9b::/96 all
        # reach an IPv4 host: judge that host.
        embedded = address.ipv4_mapped or address.sixtofour or _nat64_or_compat(address)
        if embedded is not None:
            return refusal(embedded, block_private)
    if any(address in network for network in _METADATA) or address.is_link_local:
        return "a link-local or cloud metadata address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_loopback:  # before "reserved": ::1 lies in the reserved ::/8
        return "a loopback address" if block_private else None
    if address.is_reserved or address == ipaddress.IPv4Address("255.255.255.255"):
        return "a reserved address"
    if block_private and not address.is_global:
        return "a private address"
    return None


def _nat64_or_compat(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    packed = address.packed
    if packed[:12] == bytes(12) and address > ipaddress.IPv6Address("::1"):
        return ipaddress.IPv4Address(packed[12:])
    if address in ipaddress.ip_network("64:ff9b::/96"):
        return ipaddress.IPv4Address(packed[12:])
    return None
