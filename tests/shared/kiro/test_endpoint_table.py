"""The chat endpoint matrix: the exact URL, origin and X-Amz-Target tried per API region and setting."""

from __future__ import annotations

import pytest

from shared.kiro.endpoint_table import ENDPOINT_NAMES, parse_order, parse_origins
from shared.kiro.endpoints import ChatRoute, KiroEndpoints
from shared.kiro.regions import InvalidRegionError
from shared.settings import CommonSettings

CW_TARGET = "AmazonCodeWhispererStreamingService.GenerateAssistantResponse"
Q_TARGET = "AmazonQDeveloperStreamingService.SendMessage"
#: well formed, but no Kiro client is known to use it (known API regions: us-east-1, eu-central-1)
UNKNOWN_REGION = "ap-southeast-7"


def real_endpoints() -> KiroEndpoints:
    """The production host templates (no emulator)."""
    return KiroEndpoints.from_settings(CommonSettings())


def q_route(region: str, origin: str = "AI_EDITOR", target: str = "") -> ChatRoute:
    return ChatRoute("amazonq", f"https://q.{region}.amazonaws.com/generateAssistantResponse", origin, target)


def kiro_route(region: str) -> ChatRoute:
    return ChatRoute("kiro", f"https://runtime.{region}.kiro.dev/generateAssistantResponse", "AI_EDITOR", "")


CODEWHISPERER = ChatRoute(
    "codewhisperer",
    "https://codewhisperer.us-east-1.amazonaws.com/generateAssistantResponse",
    "AI_EDITOR",
    CW_TARGET,
)


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("us-east-1", (CODEWHISPERER, q_route("us-east-1"))),
        ("eu-central-1", (q_route("eu-central-1"),)),
        (UNKNOWN_REGION, (q_route(UNKNOWN_REGION),)),
    ],
)
def test_auto_tries_the_default_sequence_of_the_accounts_region(
    region: str, expected: tuple[ChatRoute, ...]
) -> None:
    assert real_endpoints().chat_routes(region) == expected
    assert real_endpoints().chat_routes(region, "AUTO ") == expected


@pytest.mark.parametrize(
    ("region", "order", "expected"),
    [
        ("us-east-1", "amazonq,kiro", (q_route("us-east-1"), kiro_route("us-east-1"))),
        ("eu-central-1", "kiro, amazonq", (kiro_route("eu-central-1"), q_route("eu-central-1"))),
        (UNKNOWN_REGION, "kiro", (kiro_route(UNKNOWN_REGION),)),
        ("us-east-1", "amazonq,codewhisperer", (q_route("us-east-1"), CODEWHISPERER)),
        # the CodeWhisperer host exists in us-east-1 only: skipped elsewhere
        ("eu-central-1", "codewhisperer,kiro", (kiro_route("eu-central-1"),)),
        # ... and when nothing listed exists in the region, the region's default is used
        ("eu-central-1", "codewhisperer", (q_route("eu-central-1"),)),
    ],
)
def test_an_explicit_order_is_tried_as_listed_where_the_hosts_exist(
    region: str, order: str, expected: tuple[ChatRoute, ...]
) -> None:
    assert real_endpoints().chat_routes(region, order) == expected


def test_an_origin_override_changes_the_origin_and_the_target_that_goes_with_it() -> None:
    routes = real_endpoints().chat_routes("us-east-1", origins={"amazonq": "CLI"})
    assert routes == (CODEWHISPERER, q_route("us-east-1", "CLI", Q_TARGET))
    kiro = real_endpoints().chat_routes("eu-central-1", "kiro", {"kiro": "CLI", "codewhisperer": "CLI"})
    assert [(r.origin, r.amz_target) for r in kiro] == [("CLI", Q_TARGET)]


def test_the_model_list_goes_to_the_host_of_the_first_chat_endpoint() -> None:
    endpoints = real_endpoints()
    assert endpoints.models("eu-central-1").startswith(
        "https://q.eu-central-1.amazonaws.com/ListAvailableModels?"
    )
    assert endpoints.models("us-east-1", endpoint="codewhisperer").startswith(
        "https://q.us-east-1.amazonaws.com/ListAvailableModels?"
    )
    assert endpoints.models("eu-central-1", endpoint="kiro").startswith(
        "https://runtime.eu-central-1.kiro.dev/ListAvailableModels?origin=AI_EDITOR"
    )
    # usage limits and web search (MCP) stay on the Amazon Q host whatever the chat order
    assert endpoints.usage_limits("eu-central-1").startswith(
        "https://q.eu-central-1.amazonaws.com/getUsageLimits?"
    )
    assert endpoints.mcp("eu-central-1") == "https://q.eu-central-1.amazonaws.com/mcp"


def test_the_runtime_host_can_be_moved_by_its_setting() -> None:
    settings = CommonSettings(kiro_runtime_host="https://chat.{region}.example.test")
    routes = KiroEndpoints.from_settings(settings).chat_routes("eu-central-1", "kiro")
    assert routes[0].url == "https://chat.eu-central-1.example.test/generateAssistantResponse"


@pytest.mark.parametrize(
    ("order", "hint"),
    [
        ("bedrock", "bedrock"),
        ("amazonq,amazonq", "repeats"),
        ("", "nothing"),
        (" , ", "nothing"),
        ("amazonq;kiro", "amazonq;kiro"),
    ],
)
def test_a_wrong_order_is_refused_naming_the_valid_endpoints(order: str, hint: str) -> None:
    with pytest.raises(ValueError, match=hint) as caught:
        parse_order(order)
    assert all(name in str(caught.value) for name in (*ENDPOINT_NAMES, "auto"))
    with pytest.raises(ValueError):
        real_endpoints().chat_routes("us-east-1", order)


def test_orders_are_normalised() -> None:
    assert parse_order(" Kiro , amazonq ") == "kiro,amazonq"
    assert parse_order("Auto") == "auto"


def test_wrong_origins_are_refused_naming_the_valid_values() -> None:
    assert parse_origins({"amazonq": "CLI", "kiro": "AI_EDITOR"}) == {"amazonq": "CLI", "kiro": "AI_EDITOR"}
    with pytest.raises(ValueError, match="AI_EDITOR, CLI"):
        parse_origins({"amazonq": "IDE"})
    with pytest.raises(ValueError, match="codewhisperer, amazonq, kiro"):
        parse_origins({"bedrock": "CLI"})
    with pytest.raises(ValueError, match="AI_EDITOR"):
        real_endpoints().chat_routes("us-east-1", origins={"amazonq": "cli"})


def test_a_region_that_is_no_aws_region_never_becomes_a_host() -> None:
    with pytest.raises(InvalidRegionError):
        real_endpoints().chat_routes("x@127.0.0.1:9/#", "kiro")
