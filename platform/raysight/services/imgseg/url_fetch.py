"""Fetch an image URL without becoming an SSRF proxy.

- http and https only;
- every address the host resolves to is checked, and the connection goes to that checked address
  (the Host header and TLS SNI keep the name), so DNS rebinding between check and connect fails;
- only globally routable unicast addresses (`is_global`) are fetched: private, loopback, link-local,
  carrier-grade NAT (100.64.0.0/10), multicast, reserved, documentation... are refused unless a host
  name or CIDR of settings.url_allowlist_entries allows them; an IPv4 address embedded in IPv6
  (IPv4-mapped, 6to4 2002::/16, Teredo, NAT64 64:ff9b::/96) must be global too;
- a refused address and a failed read (no such host, connection refused, HTTP error) answer alike:
  ReadFailed with one message, so a caller cannot map the internal network (the reason is logged);
- redirects are followed by hand (at most MAX_REDIRECTS), each target checked like the first URL;
- connect/read timeout settings.url_timeout_s, overall deadline 3x that; body limit settings.url_max_mb.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from raysight.services.imgseg.common import ReadFailed, ReadTimeout, UrlRefused
from raysight.settings import Settings

log = logging.getLogger(__name__)
MAX_REDIRECTS = 5
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def _allowlist(settings: Settings) -> tuple[set[str], list[ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    hosts: set[str] = set()
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for entry in settings.url_allowlist_entries:
        try:
            nets.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry.lower().rstrip("."))
    return hosts, nets


NAT64 = ipaddress.ip_network("64:ff9b::/96")
READ_FAILED = "cannot read the image URL"


def embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address reaches (IPv4-mapped, 6to4, Teredo server and client, NAT64)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if ip in NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def is_public(ip: IPAddress) -> bool:
    """A globally routable unicast address, and so is every IPv4 address it embeds."""
    for addr in (ip, *embedded_ipv4(ip)):
        if not addr.is_global or addr.is_multicast or addr.is_unspecified:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.is_site_local:
            return False
    return True


def _refused(reason: str) -> ReadFailed:
    log.info("image URL refused or unreadable: %s", reason)
    return ReadFailed(READ_FAILED)


def address_allowed(ip: IPAddress, host: str, settings: Settings) -> bool:
    if is_public(ip):
        return True
    hosts, nets = _allowlist(settings)
    if host.lower().rstrip(".") in hosts:
        return True
    candidates = [ip, *embedded_ipv4(ip)]
    return any(addr in net for addr in candidates for net in nets if net.version == addr.version)


async def _resolve(host: str, port: int) -> list[str]:
    try:
        literal = ipaddress.ip_address(host)
        return [str(literal)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise _refused(f"cannot resolve host '{host}'") from exc
    return list(dict.fromkeys(info[4][0] for info in infos))


async def check_url(url: str, settings: Settings) -> Target:
    """The URL's scheme, host, port and resolved addresses, or UrlRefused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"malformed URL: {url!r}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlRefused(f"only http and https URLs are accepted, not '{scheme or 'none'}'")
    host = (parts.hostname or "").strip()
    if not host:
        raise UrlRefused("the URL has no host")
    if parts.username or parts.password:
        raise UrlRefused("URLs with credentials are not accepted")
    port = port or (443 if scheme == "https" else 80)
    addresses = await _resolve(host, port)
    if not addresses:
        raise _refused(f"host '{host}' has no address")
    for addr in addresses:
        ip = ipaddress.ip_address(addr.split("%", 1)[0])
        if not address_allowed(ip, host, settings):
            raise _refused(f"'{host}' resolves to {addr}, not a global address (RAYSIGHT_URL_ALLOWLIST)")
    return Target(scheme=scheme, host=host, port=port, addresses=tuple(addresses))


def _pinned(url: str, target: Target) -> tuple[str, dict[str, str], dict[str, str]]:
    """The URL rewritten to connect to the checked address, with Host header and SNI extension."""
    parts = urlsplit(url)
    addr = target.addresses[0]
    ip_host = f"[{addr}]" if ":" in addr else addr
    default = 443 if target.scheme == "https" else 80
    netloc = ip_host if target.port == default else f"{ip_host}:{target.port}"
    pinned = parts._replace(netloc=netloc).geturl()
    host_header = target.host if target.port == default else f"{target.host}:{target.port}"
    ext = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return pinned, {"Host": host_header}, ext


async def _get(client: httpx.AsyncClient, url: str, settings: Settings) -> tuple[int, str | None, bytes]:
    target = await check_url(url, settings)
    pinned, headers, ext = _pinned(url, target)
    limit = settings.url_max_mb * 1024 * 1024
    request = client.build_request("GET", pinned, headers=headers, extensions=ext)
    response = await client.send(request, stream=True)
    try:
        if response.is_redirect:
            return response.status_code, response.headers.get("location"), b""
        if response.status_code != 200:
            raise _refused(f"HTTP {response.status_code}")
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise ReadFailed(f"the image is larger than {settings.url_max_mb} MB")
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise ReadFailed(f"the image is larger than {settings.url_max_mb} MB")
            chunks.append(chunk)
        return 200, None, b"".join(chunks)
    finally:
        await response.aclose()


async def fetch(url: str, *, settings: Settings) -> bytes:
    """The body of `url` (an image, presumably), under every rule of this module."""
    timeout = httpx.Timeout(settings.url_timeout_s)
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            async with asyncio.timeout(settings.url_timeout_s * 3):
                current = url
                for _ in range(MAX_REDIRECTS + 1):
                    status, location, body = await _get(client, current, settings)
                    if status == 200:
                        return body
                    if not location:
                        raise _refused(f"redirect (HTTP {status}) without a location")
                    current = urljoin(current, location)
                raise _refused(f"more than {MAX_REDIRECTS} redirects")
    except (UrlRefused, ReadFailed):
        raise
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise ReadTimeout(f"reading the image URL took longer than {settings.url_timeout_s:g} s") from exc
    except httpx.HTTPError as exc:
        raise _refused(f"{type(exc).__name__}") from exc
