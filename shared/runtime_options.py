"""The runtime options the admin panel may change, with the one set of defaults every reader uses.

The router's settings API reports these defaults when nothing is stored, the panel shows what that API
reports, and a gateway uses them when the router sends no `X-Kiro-Options` (or an environment variable
overrides them for a standalone gateway). A default written twice drifts: ours once did (the API said
`auto_continue: false` while gateways continued, so saving any setting turned continuation off).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal, get_args

ThinkingFormat = Literal["reasoning_content", "think_tags", "off"]
THINKING_FORMATS: Final[tuple[ThinkingFormat, ...]] = get_args(ThinkingFormat)
#: how Anthropic (Messages API) clients see thinking: `thinking` content blocks, or inline in the answer
#: text between `<thinking>` tags (for clients that drop thinking blocks; kiro-go's "think" format)
ClaudeThinkingFormat = Literal["blocks", "thinking_tags"]
CLAUDE_THINKING_FORMATS: Final[tuple[ClaudeThinkingFormat, ...]] = get_args(ClaudeThinkingFormat)

THINKING_SUFFIX: Final = "-thinking"
OPENAI_THINKING_FORMAT: Final[ThinkingFormat] = "reasoning_content"
CLAUDE_THINKING_FORMAT: Final[ClaudeThinkingFormat] = "blocks"
AUTO_CONTINUE: Final = True
#: chat endpoints to try: "auto" (the API region's default sequence, shared/kiro/endpoint_table.py) or
#: names in order, comma-separated ("amazonq,kiro")
ENDPOINT_ORDER: Final = "auto"
#: the router stores "" for "no default model set": each gateway then uses its DEFAULT_MODEL
DEFAULT_MODEL_UNSET: Final = ""
#: endpoint name -> origin replacing the endpoint table's ({"amazonq": "CLI"}); none by default
ENDPOINT_ORIGINS: Final[Mapping[str, str]] = MappingProxyType({})
