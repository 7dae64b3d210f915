"""Issue 9 row 6: image URLs reach only globally routable addresses (IPv4 embedded in IPv6 unwrapped),
and a refused address answers exactly like an unreadable URL. No traffic leaves 127.0.0.0/8."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import pytest

from raysight.services.imgseg import url_fetch
from raysight.services.imgseg.common import ReadFailed
from raysight.settings import Settings


@pytest.mark.parametrize("addr", [
    "100.64.0.1", "100.100.100.200",       # carrier-grade NAT (Alibaba Cloud's metadata service)
    "2002:7f00:1::1", "2002:a9fe:a9fe::",  # 6to4 of 127.0.0.1 and 169.254.169.254
    "2002:0a00:0001::1",                   # 6to4 of 10.0.0.1
    "64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1",  # NAT64 of the metadata service, of loopback
    "::ffff:10.0.0.1", "::ffff:100.64.0.1",   # IPv4-mapped
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",   # Teredo
    "192.0.2.1", "198.18.0.1", "240.0.0.1", "224.0.0.1", "255.255.255.255", "0.0.0.0", "::",
    "ff02::1", "fc00::1", "fe80::1", "fec0::1", "2001:db8::1", "169.254.169.254", "127.0.0.1", "::1",
])
def test_non_global_addresses_are_refused(addr: str) -> None:
    assert not url_fetch.is_public(ipaddress.ip_address(addr))
    assert not url_fetch.address_allowed(ipaddress.ip_address(addr), "h.example", Settings())


@pytest.mark.parametrize("addr", ["93.184.216.34", "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946",
                                  "2002:5db8:d822::1", "64:ff9b::808:808"])
def test_global_addresses_pass(addr: str) -> None:
    assert url_fetch.is_public(ipaddress.ip_address(addr))


def test_allowlist_applies_to_the_embedded_address() -> None:
    s = Settings(url_allowlist="10.0.0.0/8")
    assert url_fetch.address_allowed(ipaddress.ip_address("2002:0a00:0001::1"), "x", s)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _error(url: str, **settings: object) -> str:
    with pytest.raises(ReadFailed) as info:
        asyncio.run(url_fetch.fetch(url, settings=Settings(url_timeout_s=5, **settings)))  # type: ignore[arg-type]
    return info.value.message


def test_refused_and_failed_reads_answer_alike() -> None:
    port = _closed_port()
    refused = _error(f"http://127.0.0.2:{port}/x.png")                         # never connected
    closed = _error(f"http://127.0.0.2:{port}/x.png", url_allowlist="127.0.0.0/8")  # connection refused
    assert refused == closed == url_fetch.READ_FAILED
    assert str(port) not in refused and "127.0.0.2" not in refused
