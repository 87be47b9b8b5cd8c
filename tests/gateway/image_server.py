"""Test images (real PNG files of any size) and a local HTTPS image server with its own test CA."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import ssl
import struct
import tempfile
import threading
import time
import zlib
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.procs import free_port


def png(width: int, height: int) -> bytes:
    """A valid black 1-bit greyscale PNG (a 4000×3000 one is ~2 KB: its rows compress to nothing)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    rows = (b"\x00" + b"\x00" * ((width + 7) // 8)) * height
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


class TestCA:
    """A throwaway CA and a certificate for 127.0.0.1 and localhost signed by it."""

    def __init__(self, directory: Path) -> None:
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kiro-stack test CA")])
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        self.cert_file = directory / "cert.pem"
        self.cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        self.key_file = directory / "key.pem"
        self.key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


class _TLSServer(ThreadingHTTPServer):
    """TLS handshakes in the request threads, so a stalled client never holds up the accept loop."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], context: ssl.SSLContext
    ) -> None:
        super().__init__(address, handler)
        self.context = context

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # e.g. a client that gave up
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()


class ImageServer:
    """HTTPS on 127.0.0.1: `/img/<name>` serves `images[name]`; other paths misbehave on purpose.

    `/together/<name>` answers only two requests that wait there at the same time (else 503),
    `/redirect?to=URL` (302), `/endless` (an image/png body that never ends), `/declared-huge`
    (Content-Length of 1 GB), `/page` (text/html), `/fake.png` (image/png that is HTML), `/slow` (an
    image after 6 s). `hits` counts requests per path.
    """

    def __init__(self, images: dict[str, bytes]) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="image-server-")
        self.ca = TestCA(Path(self._dir.name))
        self.images = images
        self.hits: Counter[str] = Counter()
        self.together = threading.Barrier(2, timeout=1.5)
        self.port = free_port()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca.cert_file, self.ca.key_file)
        self._server = _TLSServer(("127.0.0.1", self.port), self._handler(), context)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}{path}"

    def start(self) -> ImageServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._dir.cleanup()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                server.hits[parts.path] += 1
                # the gateway hangs up on purpose at the size cap or the deadline
                with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    self._route(parts.path, parse_qs(parts.query))

            def _route(self, path: str, query: dict[str, list[str]]) -> None:
                if path.startswith("/img/") and path[5:] in server.images:
                    self._send(200, "image/png", server.images[path[5:]])
                elif path.startswith("/together/") and path[10:] in server.images:
                    try:  # served only when two requests wait here at once
                        server.together.wait()
                    except threading.BrokenBarrierError:
                        server.together.reset()
                        self._send(503, "text/plain", b"fetched alone")
                        return
                    self._send(200, "image/png", server.images[path[10:]])
                elif path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", query["to"][0])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif path == "/endless":
                    self.send_response(200)
                    self.send_header("Content-Type", "image/png")
                    self.end_headers()  # no length: the body ends when the connection does
                    self.wfile.write(b"\x89PNG\r\n\x1a\n")
                    for _ in range(10_000):
                        self.wfile.write(b"\x00" * 65536)
                elif path == "/declared-huge":
                    self.send_response(200)
                    self.send_header("Content-Type", "image/png")
                    self.send_header("Content-Length", str(1 << 30))
                    self.end_headers()
                    self.wfile.write(b"\x89PNG\r\n\x1a\n")
                elif path == "/page":
                    self._send(200, "text/html; charset=utf-8", b"<html>not an image</html>")
                elif path == "/fake.png":
                    self._send(200, "image/png", b"<html>not an image</html>")
                elif path == "/slow":
                    time.sleep(6)  # not sync: a server slower than the gateway's fetch timeout
                    self._send(200, "image/png", png(1, 1))
                else:
                    self._send(404, "text/plain", b"not found")

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
