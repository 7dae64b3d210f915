"""SSRF-safe URL fetching: schemes, private addresses, allowlist, redirects, size limit."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator

import pytest

from raysight.services.imgseg import url_fetch
from raysight.services.imgseg.common import ReadFailed, UrlRefused
from raysight.settings import Settings

PNG = b"\x89PNG\r\n\x1a\n" + b"x" * 100


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/img.png":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG)
        elif self.path == "/big":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"0" * (2 * 1024 * 1024 + 10))
        elif self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
        elif self.path == "/hop":
            self.send_response(302)
            self.send_header("Location", "/img.png")
            self.end_headers()
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def local_server() -> Iterator[str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def fetch(url: str, **settings: object) -> bytes:
    return asyncio.run(url_fetch.fetch(url, settings=Settings(**settings)))


@pytest.mark.parametrize("url", [
    "ftp://example.com/a.png", "file:///etc/passwd", "gopher://x", "http:///nohost",
    "http://user:pw@example.com/a.png",
])
def test_refused(url: str) -> None:
    with pytest.raises(UrlRefused):
        fetch(url)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/a.png", "http://localhost/a.png", "http://10.1.2.3/a.png", "http://172.16.0.1/",
    "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/a.png",
    "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/",
])
def test_private_addresses_read_as_unreadable(url: str) -> None:
    with pytest.raises(ReadFailed, match=f"^{url_fetch.READ_FAILED}$"):
        fetch(url)


def test_loopback_refused_then_allowed_by_allowlist(local_server: str) -> None:
    with pytest.raises(ReadFailed):
        fetch(f"{local_server}/img.png")
    assert fetch(f"{local_server}/img.png", url_allowlist="127.0.0.0/8") == PNG
    assert fetch(f"{local_server}/img.png", url_allowlist="127.0.0.1") == PNG


def test_redirects_are_checked(local_server: str) -> None:
    assert fetch(f"{local_server}/hop", url_allowlist="127.0.0.1") == PNG
    with pytest.raises(ReadFailed):
        fetch(f"{local_server}/redirect", url_allowlist="127.0.0.1")


def test_size_limit_and_http_errors(local_server: str) -> None:
    with pytest.raises(ReadFailed):
        fetch(f"{local_server}/big", url_allowlist="127.0.0.1", url_max_mb=1)
    with pytest.raises(ReadFailed):
        fetch(f"{local_server}/missing", url_allowlist="127.0.0.1")


def test_public_address_check() -> None:
    import ipaddress

    s = Settings(url_allowlist="10.0.0.0/8,internal.example")
    assert url_fetch.address_allowed(ipaddress.ip_address("93.184.216.34"), "example.com", s)
    assert url_fetch.address_allowed(ipaddress.ip_address("10.2.3.4"), "x", s)
    assert url_fetch.address_allowed(ipaddress.ip_address("192.168.0.5"), "internal.example", s)
    assert not url_fetch.address_allowed(ipaddress.ip_address("192.168.0.5"), "other", s)
    assert not url_fetch.address_allowed(ipaddress.ip_address("fe80::1"), "other", s)
