"""The image fetcher's address policy: only public unicast addresses, whatever the spelling."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from services.gateway.remote_images import FetchPolicy, ImageFetcher, fetch_remote_images
from services.gateway.ssrf import GuardedResolver, check_literal, refusal
from services.gateway.translate import ImagePart, TextPart, ToolResultPart, parse_anthropic, parse_openai
from shared.errors import ImageFetchError


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.255.0.9", "a loopback address"),
        ("::1", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("10.0.0.1", "a private address"),
        ("172.16.5.4", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fd00::1", "a private address"),
        ("::ffff:192.168.0.1", "a private address"),
        ("2002:c0a8:0101::1", "a private address"),  # 6to4 of 192.168.1.1
        ("169.254.169.254", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "a private address"),  # reserved, which Python also files as private
        ("100.64.0.1", "a non-public address"),  # carrier-grade NAT
        ("192.0.2.1", "a private address"),  # documentation range
    ],
)
def test_non_public_addresses_are_refused_with_their_kind(address: str, reason: str) -> None:
    assert refusal(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "::ffff:1.1.1.1"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


def test_an_ip_literal_is_refused_unless_that_exact_host_is_allow_listed() -> None:
    with pytest.raises(ImageFetchError, match=r"image URL refused: 10\.0\.0\.1 is a private address"):
        check_literal("10.0.0.1", frozenset({"10.0.0.2"}))
    check_literal("10.0.0.1", frozenset({"10.0.0.1"}))
    check_literal("example.com", frozenset())  # names are checked when resolved


async def test_the_resolver_refuses_a_name_with_a_loopback_address_unless_it_is_allow_listed() -> None:
    resolver = GuardedResolver(frozenset({"localhost"}))
    guarded = GuardedResolver(frozenset())
    try:
        assert await resolver.resolve("LocalHost", 443)
        with pytest.raises(ImageFetchError, match="localhost resolves to a loopback address"):
            await guarded.resolve("localhost", 443)
    finally:
        await resolver.close()
        await guarded.close()


def test_with_fetching_off_image_urls_become_text_for_the_model() -> None:
    req = parse_anthropic(
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 10,
            "messages": [
                {"role": "user", "content": "Shoot."},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "s", "input": {}}]},
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t",
                            "content": [
                                {"type": "text", "text": "done"},
                                {"type": "image", "source": {"type": "url", "url": "https://x.test/s.png"}},
                            ],
                        },
                        {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
                    ],
                },
            ],
        }
    )
    asyncio.run(fetch_remote_images(req, None))
    result, image = req.messages[2].parts
    assert isinstance(result, ToolResultPart)
    assert (result.text, result.images, result.image_urls) == (
        "done\n[image not available: https://x.test/s.png]",
        [],
        [],
    )
    assert image == TextPart("[image not available: https://x.test/a.png]")


async def test_more_image_urls_than_the_limit_are_refused_before_any_fetch() -> None:
    urls = [{"type": "image_url", "image_url": {"url": f"https://10.0.0.{i}/x.png"}} for i in range(21)]
    req = parse_openai({"model": "gpt-4o", "messages": [{"role": "user", "content": urls}]})
    fetcher = ImageFetcher(FetchPolicy(1000, 1.0, False, 0, frozenset()))
    try:
        with pytest.raises(ImageFetchError, match="21 image URLs in one request; at most 20"):
            await fetch_remote_images(req, fetcher)
    finally:
        await fetcher.close()
    assert not any(isinstance(p, ImagePart) for p in req.messages[0].parts)
