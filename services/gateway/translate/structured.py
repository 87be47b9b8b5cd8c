"""Structured output (JSON mode, JSON Schema) on top of Kiro, which has no such feature.

The request's format becomes an instruction appended to the system prompt (`instruction`); the answer
is checked at its end (`check`): parsed as JSON once a Markdown code fence around it is removed
(`FenceStripper`, streaming-safe: it holds back at most the fence itself), then validated against the
schema. A non-streaming answer that fails gets one more Kiro call with the problem fed back
(`retry_payload`); a stream cannot be retried and ends with an in-band error instead.

Client shapes parsed here, one `OutputFormat` for all:
* OpenAI Chat Completions `response_format`: `{"type": "text" | "json_object"}` or
  `{"type": "json_schema", "json_schema": {"name", "description"?, "schema"?, "strict"?}}`;
* OpenAI Responses `text.format`: the same, flat (`{"type": "json_schema", "name", "schema", ...}`);
* Anthropic `output_config.format` (GA) or the older `output_format` (beta):
  `{"type": "json_schema", "schema"}`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from services.gateway.translate._validate import bad, opt_bool, opt_str, type_name, want_object
from services.gateway.translate.follow_up import follow_up_payload
from shared.client_errors import Protocol, error_payload
from shared.errors import KiroStackError

#: how many model answers a non-streaming request may get: the first and one retry
MAX_ATTEMPTS = 2
#: schema problems reported to the model (retry) or the client, each clipped
MAX_REPORTED_ERRORS = 5
ERROR_CHARS = 300
#: compiled validators kept (by schema): the same schema again costs ~2 µs instead of ~1.3 ms
VALIDATOR_CACHE = 256
#: the invalid answer repeated to the model in the retry request, clipped
RETRY_ANSWER_CHARS = 32_000
#: OpenAI code of the final error (HTTP body and in-band); SDKs read it as `err.code`
ERROR_CODE = "structured_output_invalid"
#: 422: both SDKs raise UnprocessableEntityError and do not retry it (the gateway already did once),
#: and the router counts a 4xx as the account having worked (no failover, no cooldown)
ERROR_STATUS = 422

FENCE = "```"
#: a first line longer than this ("```json" and the like are short) is not an opening fence
MAX_FENCE_LINE = 32
#: leading whitespace held while waiting for the first line
MAX_LEAD = 256
_FENCE_INFO = re.compile(r"[\w.+-]*")


@dataclass(frozen=True, slots=True)
class OutputFormat:
    """What the answer text must be: any JSON object (`json_object`) or JSON matching `schema`."""

    kind: Literal["json_object", "json_schema"]
    schema: dict[str, Any] | None = None
    name: str | None = None
    description: str | None = None
    #: schema violations are errors (OpenAI strict, Anthropic always); otherwise they are retried once
    #: and the second answer is returned as it is. Invalid JSON is an error either way.
    strict: bool = True
    validator: Any = field(default=None, compare=False, repr=False)

    @property
    def label(self) -> str:
        if self.kind == "json_object":
            return "JSON object"
        return f"JSON schema {self.name!r}" if self.name else "JSON schema"


# --- parsing the client's request -------------------------------------------------------------------


def from_openai(value: object, param: str = "response_format") -> OutputFormat | None:
    """Chat Completions `response_format`; None for `text` (or absent)."""
    if value is None:
        return None
    spec = want_object(value, param)
    kind = spec.get("type")
    if kind == "json_schema":
        return _schema_format(want_object(spec.get("json_schema"), f"{param}.json_schema"), param, False)
    return _simple(kind, param)


def from_responses(value: object, param: str = "text.format") -> OutputFormat | None:
    """Responses API `text.format` (flat: `name`, `schema`, `strict` beside `type`); None for `text`."""
    if value is None:
        return None
    spec = want_object(value, param)
    if spec.get("type") == "json_schema":
        return _schema_format(spec, param, False)
    return _simple(spec.get("type"), param)


def from_anthropic(output_format: object, output_config: object) -> OutputFormat | None:
    """Anthropic `output_config.format` (preferred when both are sent) or the beta `output_format`."""
    if isinstance(output_config, dict) and output_config.get("format") is not None:
        value, param = output_config["format"], "output_config.format"
    elif output_format is not None:
        value, param = output_format, "output_format"
    else:
        return None
    spec = want_object(value, param)
    kind = spec.get("type")
    if kind != "json_schema":
        raise bad(f"{param}.type", f"expected 'json_schema', got {kind!r}")
    if spec.get("schema") is None:
        raise bad(f"{param}.schema", "field required")
    return _schema_format(spec, param, True)


def _simple(kind: object, param: str) -> OutputFormat | None:
    if kind == "text":
        return None
    if kind == "json_object":
        return OutputFormat("json_object")
    raise bad(f"{param}.type", f"expected 'text', 'json_object' or 'json_schema', got {kind!r}")


def _schema_format(spec: dict[str, Any], param: str, strict_default: bool) -> OutputFormat:
    schema = spec.get("schema")
    strict = opt_bool(spec.get("strict"), f"{param}.strict", default=strict_default)
    name = opt_str(spec.get("name"), f"{param}.name")
    description = opt_str(spec.get("description"), f"{param}.description")
    if schema is None:  # OpenAI allows a json_schema format without a schema: any JSON value
        return OutputFormat("json_schema", name=name, description=description, strict=strict)
    schema = want_object(schema, f"{param}.schema")
    return OutputFormat(
        "json_schema",
        schema=schema,
        name=name,
        description=description,
        strict=strict,
        validator=_validator(schema, f"{param}.schema"),
    )


def _validator(schema: dict[str, Any], param: str) -> Any:
    """A validator for the schema's own draft (2020-12 by default); 400 for a schema that is not one."""
    try:
        return _compiled(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS))
    except SchemaProblem as exc:
        raise bad(param, str(exc)) from None


class SchemaProblem(KiroStackError, ValueError):
    """The client's schema cannot be used (the message says why)."""


@functools.lru_cache(maxsize=VALIDATOR_CACHE)
def _compiled(key: bytes) -> Any:
    """Checking a schema costs ~1.3 ms (measured): clients send the same few again and again.

    jsonschema is imported on the first schema (≈70 ms once) rather than at start: ≈1.6 MiB that a
    gateway whose clients never ask for structured output would hold for nothing."""
    from jsonschema import Draft202012Validator, SchemaError
    from jsonschema.validators import validator_for

    schema = orjson.loads(key)
    declared = schema if isinstance(schema.get("$schema", ""), str) else {}
    cls = validator_for(declared, default=Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        raise SchemaProblem(f"not a valid JSON Schema: {_clip(exc.message)}") from None
    _check_refs(schema, schema, nested_ids=_has_nested_id(schema))
    return cls(schema)


def _check_refs(node: object, root: dict[str, Any], *, nested_ids: bool) -> None:
    """Only references inside the schema can be followed (nothing is ever fetched): check them now."""
    if isinstance(node, list):
        for item in node:
            _check_refs(item, root, nested_ids=nested_ids)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key in ("$ref", "$dynamicRef") and isinstance(value, str):
            if not value.startswith("#"):
                raise SchemaProblem(
                    f"$ref {value!r}: only references inside the schema ('#...') are supported"
                )
            if value.startswith("#/") and not nested_ids and not _resolves(root, value[2:]):
                raise SchemaProblem(f"$ref {value!r} points to nothing in the schema")
        else:
            _check_refs(value, root, nested_ids=nested_ids)


def _has_nested_id(schema: dict[str, Any]) -> bool:
    """A nested `$id` changes what `#/...` is relative to: such references are left to the validator."""
    stack: list[object] = [v for k, v in schema.items() if k != "$id"]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "$id" in node:
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _resolves(root: object, pointer: str) -> bool:
    node = root
    for raw in pointer.split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return False
    return True


# --- the instruction ----------------------------------------------------------------------------------


def instruction(fmt: OutputFormat) -> str:
    """The system-prompt paragraph asking for the format (compact; the schema as one JSON line)."""
    rules = "and nothing else: no text before or after it, no Markdown code fence."
    if fmt.kind == "json_object":
        return f"Output format: answer with one valid JSON object {rules}"
    if fmt.schema is None:
        return f"Output format: answer with one valid JSON value {rules}"
    title = f' "{fmt.name}"' if fmt.name else ""
    about = f" ({fmt.description})" if fmt.description else ""
    return (
        f"Output format: answer with one JSON value that satisfies the JSON Schema{title}{about} below "
        f"{rules} Use exactly the property names the schema defines.\n"
        f"<schema>{orjson.dumps(fmt.schema).decode()}</schema>"
    )


def with_instruction(system: list[str], fmt: OutputFormat | None) -> list[str]:
    """`system` with the format's instruction appended (unchanged without a format)."""
    return [*system, instruction(fmt)] if fmt is not None else system


# --- the answer -----------------------------------------------------------------------------------


class FenceStripper:
    """Feed answer text as it streams; get it back without a Markdown code fence around it.

    Only an answer that *starts* with a fence (after whitespace) is changed: its first line
    (```` ``` ```` or ```` ```json ````) is dropped, and so is everything from the closing fence on.
    Held back: the first line until it is known to be a fence (at most `MAX_FENCE_LINE` characters),
    and inside a fence trailing whitespace and backticks that may begin the closing one.
    """

    __slots__ = ("_held", "_state")

    def __init__(self) -> None:
        self._state: Literal["lead", "plain", "fenced", "closed"] = "lead"
        self._held = ""

    def feed(self, text: str) -> str:
        if self._state == "plain":
            return text
        if self._state == "closed":
            return ""
        buffer, self._held = self._held + text, ""
        return self._lead(buffer) if self._state == "lead" else self._fenced(buffer)

    def flush(self) -> str:
        """The held-back text, now that the answer (so far) has ended; a closing fence is dropped."""
        held, self._held = self._held, ""
        if self._state == "lead":
            self._state = "plain"
        elif self._state == "fenced":
            body = held.rstrip()
            if body.endswith(FENCE):
                self._state = "closed"
                return body[: -len(FENCE)].rstrip()
        return held

    def _lead(self, buffer: str) -> str:
        body = buffer.lstrip()
        newline = body.find("\n")
        if newline < 0:  # the first line is incomplete: wait while it may still become a fence
            maybe = FENCE.startswith(body) or body.startswith(FENCE)
            if maybe and len(body) <= MAX_FENCE_LINE and len(buffer) <= MAX_LEAD:
                self._held = buffer
                return ""
            self._state = "plain"
            return buffer
        first_line = body[:newline].rstrip("\r")
        info = first_line[len(FENCE) :].strip()
        if (
            not first_line.startswith(FENCE)
            or len(first_line) > MAX_FENCE_LINE
            or not _FENCE_INFO.fullmatch(info)
        ):
            self._state = "plain"
            return buffer
        self._state = "fenced"
        return self._fenced(body[newline + 1 :])

    def _fenced(self, buffer: str) -> str:
        close = buffer.find("\n" + FENCE)  # JSON has no raw newline inside a string: this is the fence
        if close >= 0:
            self._state = "closed"
            return buffer[:close]
        keep = len(buffer.rstrip(" \t\r\n`"))
        self._held = buffer[keep:]
        return buffer[:keep]


def strip_fence(text: str) -> str:
    """A whole answer without the Markdown code fence around it (if it has one)."""
    stripper = FenceStripper()
    return stripper.feed(text) + stripper.flush()


@dataclass(frozen=True, slots=True)
class Verdict:
    """The check of one answer: `errors` empty means it satisfies the format."""

    text: str
    errors: tuple[str, ...] = ()
    #: the answer cannot be used: not JSON, not an object for `json_object`, or (strict) off-schema
    fatal: bool = False
    #: another answer could pass (False when the schema itself cannot be applied)
    retryable: bool = True

    @property
    def ok(self) -> bool:
        return not self.errors


def check(fmt: OutputFormat, text: str) -> Verdict:
    """Whether `text` (a code fence around it is tolerated and removed) satisfies `fmt`."""
    text = strip_fence(text)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return Verdict(text, (f"not valid JSON: {_clip(str(exc))}",), fatal=True)
    if fmt.kind == "json_object" and not isinstance(value, dict):
        return Verdict(text, (f"expected a JSON object, got {type_name(value)}",), fatal=True)
    if fmt.validator is None:
        return Verdict(text)
    from referencing.exceptions import Unresolvable  # loaded with the validator (`_compiled`)

    try:
        found = sorted(fmt.validator.iter_errors(value), key=lambda e: str(e.json_path))
    except Unresolvable as exc:
        return Verdict(
            text, (f"the schema cannot be applied: {_clip(str(exc))}",), fatal=True, retryable=False
        )
    except RecursionError:
        return Verdict(text, ("the answer is nested too deeply to check",), fatal=True)
    if not found:
        return Verdict(text)
    errors = tuple(f"{e.json_path}: {_clip(e.message)}" for e in found[:MAX_REPORTED_ERRORS])
    if len(found) > MAX_REPORTED_ERRORS:
        errors += (f"and {len(found) - MAX_REPORTED_ERRORS} more",)
    return Verdict(text, errors, fatal=fmt.strict)


def _clip(text: str) -> str:
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"


# --- retry and final error -------------------------------------------------------------------------

RETRY_PROMPT = (
    "Your previous answer cannot be used as the requested {label}: {errors}. Answer again with only "
    "the corrected JSON, nothing before or after it and no Markdown code fence."
)


def retry_prompt(fmt: OutputFormat, verdict: Verdict) -> str:
    return RETRY_PROMPT.format(label=fmt.label, errors="; ".join(verdict.errors))


def retry_payload(
    payload: dict[str, Any], answer: str, fmt: OutputFormat, verdict: Verdict
) -> dict[str, Any]:
    """The Kiro request asking again: the answer as the assistant's turn, the problems as the user's.

    Same conversation, model, origin and tools as `payload` (the request that produced `answer`).
    """
    said = answer[:RETRY_ANSWER_CHARS] if answer.strip() else "(an empty answer)"
    return follow_up_payload(payload, said, retry_prompt(fmt, verdict))


def failure_message(fmt: OutputFormat, verdict: Verdict, *, attempts: int, streamed: bool) -> str:
    """What the client reads when the answer does not satisfy the format."""
    tries = "a streamed answer cannot be retried" if streamed else f"{attempts} attempt(s)"
    return f"The model's answer is not a valid {fmt.label} ({tries}): {'; '.join(verdict.errors)}"


def error_body(protocol: Protocol, message: str, param: str | None = None) -> dict[str, Any]:
    """The error object in the client's shape (HTTP body of the 422, or the in-band stream error)."""
    return error_payload(protocol, ERROR_STATUS, message, param=param, code=ERROR_CODE)
