"""Image URLs through the official SDKs: fetched over real HTTPS and sent to Kiro as bytes, or refused.

The image server is a real HTTPS server on 127.0.0.1 with a throwaway CA the gateway trusts
(SSL_CERT_FILE). Its host name is allow-listed (IMAGE_FETCH_ALLOW_HOSTS=127.0.0.1), so the same server
reached as `localhost` or 127.0.0.2 must still be refused: the allow-list is exact, not a bypass.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import anthropic
import httpx
import openai
import pytest

from tests.gateway.image_server import ImageServer, png
from tests.gateway.support import AnthropicFactory, Emulator, OpenAIFactory, start_gateway
from tests.support.procs import ServiceProcess

MAX_BYTES = 1_000_000
TIMEOUT = 2
IMAGES = {
    "dot.png": png(1, 1),
    "square.png": png(200, 200),
    "big.png": png(1000, 1000),
    "photo.png": png(4000, 3000),
}


@pytest.fixture(scope="module")
def images() -> Iterator[ImageServer]:
    server = ImageServer(IMAGES).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(emulator: ServiceProcess, images: ImageServer) -> Iterator[ServiceProcess]:
    proc = start_gateway(
        emulator.url,
        IMAGE_FETCH_ALLOW_HOSTS="127.0.0.1",
        IMAGE_FETCH_MAX_BYTES=str(MAX_BYTES),
        IMAGE_FETCH_TIMEOUT_SECONDS=str(TIMEOUT),
        SSL_CERT_FILE=str(images.ca.ca_file),
    )
    yield proc
    proc.stop()


def anthropic_image(url: str) -> list[dict[str, Any]]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "image", "source": {"type": "url", "url": url}},
                {"type": "text", "text": "What is in this image?"},
            ],
        }
    ]


def openai_image(url: str) -> list[dict[str, Any]]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this image?"},
                {"type": "image_url", "image_url": {"url": url}},
            ],
        }
    ]


def sent_images(emu: Emulator, account: str) -> list[dict[str, Any]]:
    body = emu.requests(account, "chat_codewhisperer")[-1]["body"]
    images: list[dict[str, Any]] = body["conversationState"]["currentMessage"]["userInputMessage"]["images"]
    return images


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_anthropic_image_url_reaches_kiro_as_the_served_bytes(
    gateway: ServiceProcess, images: ImageServer, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    message = anthropic_sdk(gateway, account).messages.create(
        model="claude-sonnet-4-6", max_tokens=100, messages=anthropic_image(images.url("/img/dot.png"))
    )
    assert message.content[0].type == "text"
    assert sent_images(emu, account.name) == [{"format": "png", "source": {"bytes": b64(IMAGES["dot.png"])}}]


def test_openai_image_urls_are_fetched_together_and_follow_an_allowed_redirect(
    gateway: ServiceProcess, images: ImageServer, emu: Emulator, openai_sdk: OpenAIFactory
) -> None:
    account = emu.account()
    redirect = images.url("/redirect?to=" + images.url("/img/square.png"))
    messages = openai_image(images.url("/img/dot.png"))
    messages[0]["content"].append({"type": "image_url", "image_url": {"url": redirect}})
    completion = openai_sdk(gateway, account).chat.completions.create(model="gpt-4o", messages=messages)
    assert completion.choices[0].message.content
    assert sent_images(emu, account.name) == [
        {"format": "png", "source": {"bytes": b64(IMAGES["dot.png"])}},
        {"format": "png", "source": {"bytes": b64(IMAGES["square.png"])}},
    ]


def test_a_responses_api_image_url_reaches_kiro_as_the_served_bytes(
    gateway: ServiceProcess, images: ImageServer, emu: Emulator, openai_sdk: OpenAIFactory
) -> None:
    account = emu.account()
    response = openai_sdk(gateway, account).responses.create(
        model="gpt-4o",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is in this image?"},
                    {"type": "input_image", "image_url": images.url("/img/dot.png"), "detail": "auto"},
                ],
            }
        ],
    )
    assert response.output_text
    assert sent_images(emu, account.name) == [{"format": "png", "source": {"bytes": b64(IMAGES["dot.png"])}}]


def test_several_image_urls_are_fetched_at_the_same_time(
    gateway: ServiceProcess, images: ImageServer, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    messages: Any = anthropic_image(images.url("/together/dot.png"))
    messages[0]["content"].append(
        {"type": "image", "source": {"type": "url", "url": images.url("/together/square.png")}}
    )
    anthropic_sdk(gateway, account).messages.create(
        model="claude-sonnet-4-6", max_tokens=100, messages=messages
    )
    assert sent_images(emu, account.name) == [
        {"format": "png", "source": {"bytes": b64(IMAGES["dot.png"])}},
        {"format": "png", "source": {"bytes": b64(IMAGES["square.png"])}},
    ]


def test_an_image_url_in_a_tool_result_is_fetched_too(
    gateway: ServiceProcess, images: ImageServer, emu: Emulator, anthropic_sdk: AnthropicFactory
) -> None:
    account = emu.account()
    anthropic_sdk(gateway, account).messages.create(
        model="claude-sonnet-4-6",
        max_tokens=100,
        messages=[
            {"role": "user", "content": "Take a screenshot."},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "screenshot", "input": {}}],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [
                            {"type": "image", "source": {"type": "url", "url": images.url("/img/dot.png")}}
                        ],
                    }
                ],
            },
        ],
        tools=[{"name": "screenshot", "description": "Screen capture.", "input_schema": {"type": "object"}}],
    )
    assert sent_images(emu, account.name) == [{"format": "png", "source": {"bytes": b64(IMAGES["dot.png"])}}]


def redirect(server: ImageServer, target: str, times: int = 1) -> str:
    for _ in range(times):
        target = server.url("/redirect?to=" + quote(target, safe=""))
    return target


REFUSALS = [
    pytest.param(
        lambda s: s.url("/img/dot.png").replace("https:", "http:"), "scheme must be https", id="http"
    ),
    pytest.param(lambda s: s.url("/img/dot.png", "127.0.0.2"), "loopback address", id="loopback"),
    pytest.param(lambda s: "https://10.1.2.3/cat.png", "private address", id="10.x"),
    pytest.param(lambda s: "https://169.254.169.254/latest/meta-data/", "link-local address", id="metadata"),
    pytest.param(lambda s: s.url("/img/dot.png", "[::1]"), "loopback address", id="ipv6-loopback"),
    pytest.param(lambda s: "https://[::ffff:10.0.0.1]/x.png", "private address", id="ipv4-mapped-ipv6"),
    pytest.param(
        lambda s: s.url("/img/dot.png", "localhost"),
        "localhost resolves to a loopback address",
        id="localhost",
    ),
    pytest.param(
        lambda s: s.url("/redirect?to=" + s.url("/img/dot.png", "localhost")),
        "localhost resolves to a loopback address",
        id="redirect-to-localhost",
    ),
    pytest.param(
        lambda s: s.url("/redirect?to=http://10.0.0.7/x.png"), "scheme must be https", id="redirect-to-http"
    ),
    pytest.param(
        lambda s: s.url("/redirect?to=https://10.0.0.7/x.png"), "private address", id="redirect-to-private"
    ),
    pytest.param(
        lambda s: redirect(s, s.url("/img/dot.png"), 4), "more than 3 redirects", id="redirect-chain"
    ),
    pytest.param(lambda s: s.url("/endless"), f"larger than {MAX_BYTES} bytes", id="oversize-streamed"),
    pytest.param(lambda s: s.url("/declared-huge"), f"larger than {MAX_BYTES} bytes", id="oversize-declared"),
    pytest.param(lambda s: s.url("/page"), "content type 'text/html'", id="content-type"),
    pytest.param(lambda s: s.url("/fake.png"), "not a PNG, JPEG, GIF or WebP", id="magic-bytes"),
    pytest.param(lambda s: s.url("/slow"), f"within {TIMEOUT} s", id="timeout"),
    pytest.param(lambda s: s.url("/missing.png"), "HTTP 404", id="not-found"),
]


@pytest.mark.parametrize(("make_url", "reason"), REFUSALS)
def test_a_refused_image_url_is_a_400_naming_the_reason_and_kiro_is_not_called(
    gateway: ServiceProcess,
    images: ImageServer,
    emu: Emulator,
    anthropic_sdk: AnthropicFactory,
    make_url: Any,
    reason: str,
) -> None:
    account = emu.account()
    with pytest.raises(anthropic.BadRequestError) as caught:
        anthropic_sdk(gateway, account).messages.create(
            model="claude-sonnet-4-6", max_tokens=100, messages=anthropic_image(make_url(images))
        )
    assert caught.value.status_code == 400
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["error"]["type"] == "invalid_request_error"
    message = error["error"]["message"]
    assert message.startswith("messages[0].content[0].source.url: image URL")
    assert reason in message
    assert emu.counts(account.name) == {}


def fetches(gateway: ServiceProcess, outcome: str) -> float:
    line = f'kiro_gateway_image_fetches_total{{outcome="{outcome}"}} '
    text = httpx.get(gateway.url + "/metrics").text
    return next((float(row[len(line) :]) for row in text.splitlines() if row.startswith(line)), 0.0)


def test_a_refused_url_never_reaches_the_server_it_names_and_is_counted(
    gateway: ServiceProcess, images: ImageServer, emu: Emulator, openai_sdk: OpenAIFactory
) -> None:
    before = images.hits["/img/dot.png"]
    refused = fetches(gateway, "refused")
    with pytest.raises(openai.BadRequestError) as caught:
        openai_sdk(gateway, emu.account()).chat.completions.create(
            model="gpt-4o", messages=openai_image(images.url("/img/dot.png", "localhost"))
        )
    assert caught.value.status_code == 400
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "messages[0].content[1].image_url.url"
    assert "image URL refused: localhost resolves to a loopback address" in error["message"]
    assert images.hits["/img/dot.png"] == before
    assert fetches(gateway, "refused") == refused + 1


@pytest.mark.parametrize(
    ("name", "tokens"), [("dot.png", 1), ("square.png", 54), ("big.png", 1334), ("photo.png", 1600)]
)
def test_a_fetched_image_counts_by_its_size_in_count_tokens_and_message_start(
    gateway: ServiceProcess,
    images: ImageServer,
    emu: Emulator,
    anthropic_sdk: AnthropicFactory,
    name: str,
    tokens: int,
) -> None:
    client = anthropic_sdk(gateway, emu.account())
    messages: Any = anthropic_image(images.url(f"/img/{name}"))
    without: Any = [{"role": "user", "content": [messages[0]["content"][1]]}]
    counted = client.messages.count_tokens(model="claude-sonnet-4-6", messages=messages).input_tokens
    baseline = client.messages.count_tokens(model="claude-sonnet-4-6", messages=without).input_tokens
    assert counted - baseline == tokens
    with client.messages.stream(model="claude-sonnet-4-6", max_tokens=100, messages=messages) as stream:
        started = next(e for e in stream if e.type == "message_start")
        assert started.message.usage.input_tokens == counted
