"""Admin routes check the caller before they read a byte of body, and read bodies with a limit."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.procs import ServiceProcess
from tests.support.redis_server import rss_kib

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024


def json_document(size: int) -> tuple[Iterator[bytes], dict[str, str]]:
    """A valid JSON import document of `size` bytes, streamed in 1 MiB pieces, with its length."""
    head, tail = b'{"refresh_tokens": ["', b'"]}'
    filler = size - len(head) - len(tail)

    def pieces() -> Iterator[bytes]:
        yield head
        left = filler
        while left > 0:
            step = min(MiB, left)
            yield b"a" * step
            left -= step
        yield tail

    return pieces(), {"Content-Type": "application/json", "Content-Length": str(size)}


def test_unauthenticated_100_mib_import_is_refused_without_the_router_reading_it(
    router: ServiceProcess,
) -> None:
    assert router.proc is not None
    _, peak_before = rss_kib(router.proc.pid)
    content, headers = json_document(100 * MiB)
    r = httpx.post(router.url + "/admin/api/accounts/import", content=content, headers=headers, timeout=60)
    _, peak_after = rss_kib(router.proc.pid)
    grown_mib = (peak_after - peak_before) / 1024
    print(f"\nunauthenticated 100 MiB import: status {r.status_code}, router peak RSS +{grown_mib:.1f} MiB")
    assert r.status_code == 401, r.text
    assert grown_mib < 20, f"router peak RSS grew {grown_mib:.0f} MiB for a body it should never read"


def test_authenticated_admin_body_over_the_limit_gets_413(
    router: ServiceProcess, stack_env: dict[str, str]
) -> None:
    bearer = {"Authorization": f"Bearer {stack_env['ADMIN_API_KEY']}"}
    content, headers = json_document(5 * MiB)
    r = httpx.post(
        router.url + "/admin/api/accounts/import", content=content, headers={**headers, **bearer}, timeout=30
    )
    assert r.status_code == 413, r.text
    assert "bytes" in r.json()["detail"]

    # without a Content-Length (chunked), the limit holds while reading
    chunked, _ = json_document(5 * MiB)
    r = httpx.post(
        router.url + "/admin/api/accounts/import",
        content=chunked,
        headers={"Content-Type": "application/json", **bearer},
        timeout=30,
    )
    assert r.status_code == 413, r.text

    # a kiro-cli database may be larger than a JSON document, but not unbounded
    r = httpx.post(
        router.url + "/admin/api/accounts/import/kiro-cli",
        content=b"\0" * (33 * MiB),
        headers={"Content-Type": "application/octet-stream", **bearer},
        timeout=30,
    )
    assert r.status_code == 413, r.text

    # the login form is tiny: a megabyte "password" is refused before it is parsed
    r = httpx.post(router.url + "/admin/api/login", content=b"x" * MiB, timeout=30)
    assert r.status_code == 413, r.text

    # below the limits everything still works
    r = httpx.post(
        router.url + "/admin/api/accounts/import", json={"refresh_tokens": []}, headers=bearer, timeout=10
    )
    assert r.status_code == 200, r.text
