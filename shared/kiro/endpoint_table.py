"""The chat endpoint matrix as data: which hosts, paths, origins and `X-Amz-Target`s exist, and which are
tried by default in each API region (docs/kiro-endpoints.md explains every row and its confidence).

Only data and the parsing of `ENDPOINT_ORDER` / `ENDPOINT_ORIGINS` live here; `KiroEndpoints.chat_routes`
turns a region, an order and origin overrides into the URLs to call.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

AI_EDITOR: Final = "AI_EDITOR"
CLI: Final = "CLI"
#: values of `userInputMessage.origin` a chat endpoint may be sent
ORIGINS: Final = (AI_EDITOR, CLI)

#: the operation names the one dual-endpoint client sends (kiro-protocol.md §1.2); "" = no header at all
CODEWHISPERER_TARGET: Final = "AmazonCodeWhispererStreamingService.GenerateAssistantResponse"
AMAZONQ_TARGET: Final = "AmazonQDeveloperStreamingService.SendMessage"

#: `ENDPOINT_ORDER` value meaning "the region's default sequence" (AUTO_ORDER)
AUTO: Final = "auto"

HostSetting = Literal["codewhisperer", "q", "runtime"]


@dataclass(frozen=True, slots=True)
class EndpointStyle:
    """One way of calling generateAssistantResponse."""

    name: str
    #: which host template of KiroEndpoints (settings KIRO_CODEWHISPERER_HOST, KIRO_Q_HOST, KIRO_RUNTIME_HOST)
    host: HostSetting
    path: str
    #: the origin sent unless ENDPOINT_ORIGINS overrides it
    origin: str
    #: X-Amz-Target sent with each origin ("" = the header is left out, as most clients do)
    targets: Mapping[str, str]
    #: API regions this host exists in (None: every region name, the host template carries it)
    regions: frozenset[str] | None
    #: host of ListAvailableModels while this endpoint is tried first
    models_host: HostSetting
    #: EMULATOR_PATHS key of the chat path when KIRO_EMULATOR_URL replaces every host
    emulator_key: str
    emulator_models_key: str

    def serves(self, api_region: str) -> bool:
        return self.regions is None or api_region in self.regions


STYLES: Final = (
    EndpointStyle(
        name="codewhisperer",
        host="codewhisperer",
        path="/generateAssistantResponse",
        origin=AI_EDITOR,
        targets={AI_EDITOR: CODEWHISPERER_TARGET, CLI: AMAZONQ_TARGET},
        regions=frozenset({"us-east-1"}),  # no codewhisperer.{region} host elsewhere [2+]
        models_host="q",
        emulator_key="chat_codewhisperer",
        emulator_models_key="models",
    ),
    EndpointStyle(
        name="amazonq",
        host="q",
        path="/generateAssistantResponse",
        origin=AI_EDITOR,  # what most clients send to q.{region} [2+]; CLI only in the dual scheme [1]
        targets={AI_EDITOR: "", CLI: AMAZONQ_TARGET},
        regions=None,
        models_host="q",
        emulator_key="chat_amazonq",
        emulator_models_key="models",
    ),
    EndpointStyle(
        name="kiro",
        host="runtime",
        path="/generateAssistantResponse",
        origin=AI_EDITOR,
        targets={AI_EDITOR: "", CLI: AMAZONQ_TARGET},
        regions=None,
        models_host="runtime",  # model listing moved with chat to this host [1]
        emulator_key="chat_kiro",
        emulator_models_key="models_kiro",
    ),
)
STYLE_BY_NAME: Final = {style.name: style for style in STYLES}
ENDPOINT_NAMES: Final = tuple(STYLE_BY_NAME)

#: the default sequence per API region ("auto"); the None row holds for every other region
AUTO_ORDER: Final[Mapping[str | None, tuple[str, ...]]] = {
    "us-east-1": ("codewhisperer", "amazonq"),
    None: ("amazonq",),
}


def auto_order(api_region: str) -> tuple[str, ...]:
    return AUTO_ORDER.get(api_region) or AUTO_ORDER[None]


def parse_order(value: str) -> str:
    """`ENDPOINT_ORDER` normalised (`auto`, or names joined by commas); ValueError naming the valid ones."""
    text = value.strip().lower()
    if text == AUTO:
        return AUTO
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in STYLE_BY_NAME]
    if not names or unknown or len(set(names)) != len(names):
        problem = "repeats an endpoint" if names and not unknown else f"has {', '.join(unknown) or 'nothing'}"
        raise ValueError(
            f"endpoint order {value[:80]!r} {problem}: use {AUTO!r} or a comma-separated list of "
            f"{', '.join(ENDPOINT_NAMES)}"
        )
    return ",".join(names)


def parse_origins(value: Mapping[str, object]) -> dict[str, str]:
    """`ENDPOINT_ORIGINS` checked (endpoint name -> origin); ValueError naming the valid names and origins."""
    clean: dict[str, str] = {}
    for name, origin in value.items():
        if name not in STYLE_BY_NAME:
            raise ValueError(
                f"endpoint {name[:40]!r} in the origins is not one of {', '.join(ENDPOINT_NAMES)}"
            )
        if origin not in ORIGINS:
            raise ValueError(
                f"origin {str(origin)[:40]!r} for endpoint {name!r} is not one of {', '.join(ORIGINS)}"
            )
        clean[name] = str(origin)
    return clean


@functools.lru_cache(maxsize=256)  # once per distinct order and region, not per request
def ordered_names(order: str, api_region: str) -> tuple[str, ...]:
    """The endpoints to try for `api_region`: the listed ones that exist there, else the region's default."""
    order = parse_order(order)
    if order == AUTO:
        return auto_order(api_region)
    served = tuple(name for name in order.split(",") if STYLE_BY_NAME[name].serves(api_region))
    return served or auto_order(api_region)
