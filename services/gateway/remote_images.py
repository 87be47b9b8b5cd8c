"""Image URLs in a request, fetched before the Kiro call: Kiro takes images as inline base64 bytes only.

Every fetch passes the SSRF guard (`ssrf`): https only unless IMAGE_FETCH_ALLOW_HTTP, no private,
loopback, link-local, multicast or reserved address (checked on the address connected to), each redirect
re-checked, at most IMAGE_FETCH_MAX_BYTES read (streamed, stopped at the cap), one deadline per image,
and the body must be a PNG, JPEG, GIF or WebP by its Content-Type and by its magic bytes. A URL that
fails any of these ends the request with a 400 naming the reason, before Kiro is called.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from yarl import URL

from services.gateway.settings import GatewaySettings
from services.gateway.ssrf import GuardedResolver, check_literal, normal_host, refused
from services.gateway.translate.image_size import sniff_media_type
from services.gateway.translate.ir import (
    ChatRequest,
    ImagePart,
    ImageUrlPart,
    Part,
    TextPart,
    ToolResultPart,
)
from shared.errors import ImageFetchError
from shared.logging import log_fields

logger = logging.getLogger(__name__)

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: distinct image URLs one request may ask for, and how many of them are fetched at once
MAX_REMOTE_IMAGES = 20
FETCH_CONCURRENCY = 8
_CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """The limits of the image fetcher, from the IMAGE_FETCH_* settings."""

    max_bytes: int
    timeout: float
    allow_http: bool
    max_redirects: int
    allowed_hosts: frozenset[str]

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> FetchPolicy:
        hosts = (normal_host(h.strip()) for h in settings.image_fetch_allow_hosts.split(","))
        return cls(
            max_bytes=settings.image_fetch_max_bytes,
            timeout=settings.image_fetch_timeout_seconds,
            allow_http=settings.image_fetch_allow_http,
            max_redirects=settings.image_fetch_max_redirects,
            allowed_hosts=frozenset(h for h in hosts if h),
        )


class ImageFetcher:
    """Fetches one image URL under a `FetchPolicy`; owns its aiohttp session (created in the lifespan)."""

    def __init__(self, policy: FetchPolicy, on_outcome: Callable[[str], None] = lambda _: None) -> None:
        self.policy = policy
        self._on_outcome = on_outcome  # "fetched", "refused" or "failed", for the metrics
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(policy.allowed_hosts), use_dns_cache=False, limit=100
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # nothing one client's fetch sets reaches another's
            trust_env=False,  # an environment proxy would connect on our behalf, unchecked
            headers={
                "User-Agent": "kiro-stack-gateway",
                "Accept": ", ".join(sorted(IMAGE_TYPES)),
                "Accept-Encoding": "identity",
            },
            # a compressed body could inflate past the size cap inside one chunk: read bytes as sent
            # (a compressed image then fails the magic-bytes check)
            auto_decompress=False,
            raise_for_status=False,
        )

    async def fetch(self, url: str) -> ImagePart:
        """The image at `url` as an inline ImagePart; ImageFetchError (400) naming why not."""
        try:
            image = await self._fetch(url)
        except ImageFetchError as exc:
            self._on_outcome("refused" if exc.refused else "failed")
            raise
        self._on_outcome("fetched")
        return image

    async def _fetch(self, url: str) -> ImagePart:
        try:
            async with asyncio.timeout(self.policy.timeout):
                return await self._follow(url)
        except TimeoutError:
            raise _failed(f"no complete answer within {self.policy.timeout:g} s") from None
        except aiohttp.InvalidURL:
            raise refused("not a valid URL") from None
        except aiohttp.ClientError as exc:
            raise _failed(_describe(exc)) from None

    async def _follow(self, raw_url: str) -> ImagePart:
        try:
            url = URL(raw_url)
        except ValueError:
            raise refused("not a valid URL") from None
        for _ in range(self.policy.max_redirects + 1):
            self._check(url)
            async with self._session.get(url, allow_redirects=False) as response:
                location = response.headers.get("Location")
                if response.status in REDIRECT_STATUSES and location:
                    url = _redirect_target(response.url, location)
                    continue
                if response.status != 200:
                    raise _failed(f"HTTP {response.status}")
                return await self._read(response)
        raise refused(f"more than {self.policy.max_redirects} redirects")

    def _check(self, url: URL) -> None:
        schemes = ("https", "http") if self.policy.allow_http else ("https",)
        if url.scheme not in schemes:
            raise refused(f"the scheme must be {' or '.join(schemes)}, not {url.scheme or 'missing'!r}")
        if not url.host:
            raise refused("the URL has no host")
        check_literal(url.host, self.policy.allowed_hosts)

    async def _read(self, response: aiohttp.ClientResponse) -> ImagePart:
        limit = self.policy.max_bytes
        declared = response.content_type.lower()
        if declared not in IMAGE_TYPES:
            raise refused(f"content type {declared!r} is not image/png, image/jpeg, image/gif or image/webp")
        if response.content_length is not None and response.content_length > limit:
            raise refused(f"the image is larger than {limit} bytes")
        body = bytearray()
        async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
            body += chunk
            if len(body) > limit:
                raise refused(f"the image is larger than {limit} bytes")
        media_type = sniff_media_type(bytes(body[:16]))
        if media_type is None:
            raise refused(f"the body is not a PNG, JPEG, GIF or WebP image (served as {declared})")
        return ImagePart(media_type, base64.b64encode(body).decode("ascii"))

    async def close(self) -> None:
        await self._session.close()


def _redirect_target(base: URL, location: str) -> URL:
    try:
        return base.join(URL(location))
    except ValueError:
        raise refused("a redirect to an invalid URL") from None


def _failed(detail: str) -> ImageFetchError:
    return ImageFetchError(f"image URL could not be fetched: {detail}", refused=False)


def _describe(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, socket.gaierror):
            return f"cannot resolve {exc.host}"
        return f"cannot connect to {exc.host}:{exc.port}"
    return type(exc).__name__


def remote_images(req: ChatRequest) -> list[ImageUrlPart]:
    """The image URLs of the request's user messages (assistant images are never sent to Kiro)."""
    found: list[ImageUrlPart] = []
    for message in req.messages:
        if message.role != "user":
            continue
        for part in message.parts:
            if isinstance(part, ImageUrlPart):
                found.append(part)
            elif isinstance(part, ToolResultPart):
                found.extend(part.image_urls)
    return found


async def fetch_remote_images(req: ChatRequest, fetcher: ImageFetcher | None) -> None:
    """Replace the request's image URLs by the fetched images, in place; all fetched at once.

    With fetching off (`fetcher` None) each becomes the text `[image not available: URL]`.
    """
    wanted = remote_images(req)
    if not wanted:
        return
    fetched: dict[str, ImagePart] = {}
    if fetcher is not None:
        fetched = await _fetch_all(fetcher, wanted)
    for message in req.messages:
        parts: list[Part] = []
        for part in message.parts:
            if isinstance(part, ImageUrlPart):
                image = fetched.get(part.url)
                parts.append(image if image is not None else TextPart(_placeholder(part.url)))
                continue
            if isinstance(part, ToolResultPart) and part.image_urls:
                for url_part in part.image_urls:
                    if url_part.url in fetched:
                        part.images.append(fetched[url_part.url])
                    else:
                        part.text = "\n".join(t for t in (part.text, _placeholder(url_part.url)) if t)
                part.image_urls = []
            parts.append(part)
        message.parts = parts


def _host_of(url: str) -> str | None:
    try:
        return URL(url).host
    except ValueError:
        return None


def _placeholder(url: str) -> str:
    return f"[image not available: {url}]"


async def _fetch_all(fetcher: ImageFetcher, wanted: list[ImageUrlPart]) -> dict[str, ImagePart]:
    first: dict[str, ImageUrlPart] = {}
    for part in wanted:
        first.setdefault(part.url, part)
    if len(first) > MAX_REMOTE_IMAGES:
        raise ImageFetchError(
            f"{len(first)} image URLs in one request; at most {MAX_REMOTE_IMAGES} are fetched",
            refused=True,
            param=wanted[0].param,
        )
    gate = asyncio.Semaphore(FETCH_CONCURRENCY)

    async def one(part: ImageUrlPart) -> ImagePart:
        async with gate:
            try:
                return await fetcher.fetch(part.url)
            except ImageFetchError as exc:
                # the host only: a signed URL's query string is a credential
                logger.info(
                    "image URL not used", extra=log_fields(host=_host_of(part.url), reason=exc.message)
                )
                raise ImageFetchError(
                    f"{part.param}: {exc.message}", refused=exc.refused, param=part.param
                ) from None

    try:
        async with asyncio.TaskGroup() as group:
            tasks = {url: group.create_task(one(part)) for url, part in first.items()}
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return {url: task.result() for url, task in tasks.items()}
