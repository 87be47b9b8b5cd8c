"""A chat request parsed, resolved and ready for Kiro: what every step after `chat.prepare` works on."""

from __future__ import annotations

from dataclasses import dataclass

from services.gateway.credentials import KiroCredentials
from services.gateway.debug_bodies import DebugBodies
from services.gateway.errors import Protocol
from services.gateway.options import RuntimeOptions
from services.gateway.responses import ResponsesRequest
from services.gateway.translate import ChatRequest
from services.gateway.translate.kiro_request import KiroRequest
from shared.kiro.endpoints import ChatRoute


@dataclass(slots=True)
class ChatCall:
    """A parsed, resolved request ready to be sent to Kiro."""

    protocol: Protocol
    route: str
    req: ChatRequest
    kiro: KiroRequest
    creds: KiroCredentials
    #: the chat endpoints to try, in order (docs/kiro-endpoints.md)
    routes: tuple[ChatRoute, ...]
    options: RuntimeOptions
    kiro_model: str
    #: the name answers carry as `model`: the Kiro id that serves (with the thinking suffix if asked so)
    served_model: str
    thinking: bool
    input_tokens: int
    context_window: int
    started: float
    #: auto-continuation can happen: it is on and the request offers tools Kiro could cut a call to
    continuable: bool
    #: DEBUG_MODE errors/all: the client's body and the Kiro payload, clipped, for the debug log line
    debug: DebugBodies | None = None
    #: a Responses API call: what its answer echoes and stores
    responses: ResponsesRequest | None = None

    def release_request(self) -> None:
        """Once Kiro has answered, keep only what the response still needs.

        The parsed request and its Kiro payload are ~8x the client's JSON (~580 KiB for Claude Code's
        76 KB first turn) and would otherwise live as long as the stream; a continuation rebuilds its
        payload from the Kiro body, which the relay keeps when one can happen.
        """
        req, kiro = self.req, self.kiro
        if req.web_search is not None:
            return  # the searches' follow-up requests are built from the request
        req.messages, req.system, req.tools = [], [], []  # (dataclasses.replace costs ~5 µs a call)
        if self.responses is not None and not self.responses.store:
            self.responses.items = []  # nothing will be stored: the conversation's items can go too
        self.kiro = KiroRequest(
            payload={}, tool_names=kiro.tool_names, payload_bytes=kiro.payload_bytes, body=b""
        )
