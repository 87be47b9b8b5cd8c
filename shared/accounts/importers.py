"""Parsers for the credential formats we import, into `AccountSpec`s (sans-I/O: dicts in, specs out).

Formats: kiro-go `data/config.json` (kiro-protocol.md §10.6), a Kiro IDE `kiro-auth-token.json` with an
optional client registration file (§10.5), the rows of a kiro-cli / amazon-q CLI `data.sqlite3` (§10.5),
and a kiro-gateway style list of refresh tokens.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from shared.accounts.model import AuthKind
from shared.crypto import sha256_hex
from shared.errors import KiroStackError
from shared.kiro.endpoint_table import AUTO, ENDPOINT_NAMES, parse_order
from shared.kiro.regions import check_region, profile_arn_region


class ImportFormatError(KiroStackError, ValueError):
    """The input is not in the expected format at all (a single bad entry is skipped instead)."""


@dataclass
class AccountSpec:
    """Everything needed to create one account; secrets in plain text (encrypted when stored)."""

    auth_kind: AuthKind
    refresh_token: str
    client_id: str = ""
    client_secret: str = ""
    client_secret_expires_at: float = 0.0
    auth_region: str = "us-east-1"
    start_url: str = ""
    token_endpoint: str = ""
    scopes: str = ""  # external IdP OAuth scopes, space-separated
    provider: str = ""
    profile_arn: str = ""
    email: str = ""
    label: str = ""
    machine_id: str = ""
    enabled: bool = True
    weight: int = 100
    proxy_url: str = ""
    source: str = "admin"
    extra: dict[str, str] = field(default_factory=dict)  # non-secret snapshot fields (usage, title)

    def fingerprint(self) -> str:
        """Stable identity of the credential: the same login imported twice maps to the same account."""
        return sha256_hex(
            f"kiro-stack-account\x00{self.auth_kind.value}\x00{self.client_id}\x00{self.refresh_token}"
        )

    def account_id(self) -> str:
        return "acc_" + self.fingerprint()[:20]

    def describe(self) -> str:
        """A label for reports that never contains a secret."""
        return self.label or self.email or self.account_id()

    def validate(self) -> None:
        """Raise ValueError when the spec cannot work."""
        if not self.refresh_token or not isinstance(self.refresh_token, str):
            raise ValueError("no refresh token")
        if self.auth_kind is AuthKind.IDC and not (self.client_id and self.client_secret):
            raise ValueError("idc login needs clientId and clientSecret")
        if self.auth_kind is AuthKind.EXTERNAL_IDP and not self.token_endpoint:
            raise ValueError("external IdP login needs a tokenEndpoint")
        if self.token_endpoint:
            check_token_endpoint(self.token_endpoint)
        check_region(self.auth_region, "region")  # it becomes part of the auth host name
        if self.profile_arn:
            profile_arn_region(self.profile_arn)


def check_token_endpoint(url: str) -> str:
    """`url` when it can be an identity provider's token endpoint: https (http only on this machine,
    for tests), no user:password part; ValueError saying what is wrong otherwise.

    Refresh tokens are posted there, so nothing that could send them somewhere unexpected passes."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise ValueError("token endpoint is not a URL") from None
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError(
            "token endpoint must be an https:// URL (like https://login.example.com/oauth2/token)"
        )
    if parts.scheme == "http" and host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("token endpoint must use https:// (plain http only for 127.0.0.1 / localhost)")
    if parts.username is not None or parts.password is not None:
        raise ValueError("token endpoint must not carry a user name or password")
    return url


def scopes_text(value: Any) -> str:
    """OAuth scopes as one space-separated string (stored credentials hold a list or a string)."""
    if isinstance(value, list):
        return " ".join(str(item).strip() for item in value if str(item).strip())
    return " ".join(value.split()) if isinstance(value, str) else ""


@dataclass(frozen=True)
class Skipped:
    """An input entry that was not imported, with why (never a secret)."""

    entry: str
    reason: str


def auth_kind_of(value: Any, *, has_client: bool = False) -> AuthKind:
    """Map the `authMethod` spellings seen in the wild (social, IdC, idc, external_idp, ...)."""
    text = str(value or "").strip().lower().replace("-", "_")
    if text in ("social", "google", "github"):
        return AuthKind.SOCIAL
    if text in ("idc", "builderid", "builder_id", "iam_identity_center", "sso", "oidc"):
        return AuthKind.IDC
    if text in ("external_idp", "externalidp", "enterprise"):
        return AuthKind.EXTERNAL_IDP
    if not text:
        return AuthKind.IDC if has_client else AuthKind.SOCIAL
    raise ValueError(f"unknown authMethod {value!r}")


def _str(entry: dict[str, Any], *names: str) -> str:
    for name in names:
        value = entry.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def parse_kiro_go(config: Any) -> tuple[list[AccountSpec], list[Skipped]]:
    """Accounts of a kiro-go `data/config.json` object; malformed entries come back as `Skipped`."""
    if not isinstance(config, dict) or not isinstance(config.get("accounts"), list):
        raise ImportFormatError("not a kiro-go config.json: expected an object with an 'accounts' list")
    specs: list[AccountSpec] = []
    skipped: list[Skipped] = []
    for index, entry in enumerate(config["accounts"]):
        name = f"accounts[{index}]"
        if not isinstance(entry, dict):
            skipped.append(Skipped(name, "entry is not an object"))
            continue
        name = _str(entry, "nickname", "email", "id") or name
        try:
            spec = _kiro_go_entry(entry)
            spec.validate()
        except ValueError as exc:
            skipped.append(Skipped(name, str(exc)))
            continue
        specs.append(spec)
    return specs, skipped


@dataclass
class KiroGoSettings:
    """The global settings of a kiro-go config that have an equivalent here (secrets only in memory)."""

    #: runtime options (the settings API's names) with their kiro-go values translated
    options: dict[str, Any] = field(default_factory=dict)
    #: client API keys old clients send (the legacy `apiKey` and enabled `apiKeys[]` entries): name, key
    client_keys: list[tuple[str, str]] = field(default_factory=list)


#: kiro-go thinking formats -> ours: its `think` puts the reasoning in the text as tags; the others
#: (`reasoning_content`, `thinking`) keep it apart from the answer, as our defaults do
_KIRO_GO_OPENAI_FORMATS = {
    "reasoning_content": "reasoning_content",
    "thinking": "reasoning_content",
    "think": "think_tags",
}
_KIRO_GO_CLAUDE_FORMATS = {"thinking": "blocks", "reasoning_content": "blocks", "think": "thinking_tags"}


def parse_kiro_go_settings(config: dict[str, Any]) -> KiroGoSettings:
    """The thinking settings and client keys of a kiro-go `data/config.json` (unknown values ignored)."""
    out = KiroGoSettings()
    suffix = _str(config, "thinkingSuffix")
    if suffix and len(suffix) <= 64 and not any(c.isspace() for c in suffix):
        out.options["thinking_suffix"] = suffix
    for src, dst, table in (
        ("openaiThinkingFormat", "openai_thinking_format", _KIRO_GO_OPENAI_FORMATS),
        ("claudeThinkingFormat", "claude_thinking_format", _KIRO_GO_CLAUDE_FORMATS),
    ):
        if (value := table.get(_str(config, src).lower())) is not None:
            out.options[dst] = value
    if order := kiro_go_endpoint_order(config):
        out.options["endpoint_order"] = order
    if aliases := _kiro_go_aliases(config.get("modelMappings")):
        out.options["model_aliases"] = aliases
    if legacy := _str(config, "apiKey"):
        out.client_keys.append(("kiro-go apiKey", legacy))
    entries = config.get("apiKeys")
    for index, entry in enumerate(entries if isinstance(entries, list) else ()):
        key = _str(entry, "key") if isinstance(entry, dict) else ""
        if key and entry.get("enabled", True) is not False and all(key != k for _, k in out.client_keys):
            out.client_keys.append((_str(entry, "name") or f"kiro-go apiKeys[{index}]", key))
    return out


def kiro_go_endpoint_order(config: dict[str, Any]) -> str:
    """kiro-go's `preferredEndpoint` (+ `endpointFallback`, default on) as our endpoint order ('' = none).

    Its preferred endpoint goes first, then the dual-endpoint pair's other one unless fallback is off
    (`auto` stays `auto`: the API region's own sequence)."""
    preferred = _str(config, "preferredEndpoint").lower()
    if preferred == AUTO:
        return AUTO
    if preferred not in ENDPOINT_NAMES:
        return ""
    names = [preferred]
    if config.get("endpointFallback", True) is not False:
        names += [name for name in ("codewhisperer", "amazonq") if name != preferred]
    return parse_order(",".join(names))


def _kiro_go_aliases(mappings: Any) -> dict[str, str]:
    """kiro-go `modelMappings` ([{source, target}]) as model aliases; unusable rows are left out."""
    aliases: dict[str, str] = {}
    for row in mappings if isinstance(mappings, list) else ():
        source, target = (_str(row, "source"), _str(row, "target")) if isinstance(row, dict) else ("", "")
        if source and target and source != target and len(source) <= 128 and len(target) <= 128:
            aliases[source] = target
    return dict(list(aliases.items())[:200])


def kiro_go_weight(value: Any) -> int:
    """kiro-go weights are 0 or 1 for normal and 2+ for a larger share; ours are 100 for normal."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 1:
        return 100
    return min(value * 100, 10_000)


def _kiro_go_entry(entry: dict[str, Any]) -> AccountSpec:
    client_id = _str(entry, "clientId")
    kind = auth_kind_of(entry.get("authMethod"), has_client=bool(client_id))
    enabled = entry.get("enabled", True)
    extra: dict[str, str] = {}
    if title := _str(entry, "subscriptionTitle", "subscriptionType"):
        extra["subscription_title"] = title
    for src, dst in (("usageCurrent", "usage_current"), ("usageLimit", "usage_limit")):
        if isinstance(entry.get(src), int | float) and not isinstance(entry.get(src), bool):
            extra[dst] = str(float(entry[src]))
    if reset := _date_to_unix(entry.get("nextResetDate")):
        extra["usage_reset_at"] = str(reset)
    return AccountSpec(
        auth_kind=kind,
        refresh_token=_str(entry, "refreshToken"),
        client_id=client_id,
        client_secret=_str(entry, "clientSecret"),
        auth_region=_str(entry, "region") or "us-east-1",
        start_url=_str(entry, "startUrl"),
        provider=_str(entry, "provider"),
        email=_str(entry, "email"),
        label=_str(entry, "nickname", "email"),
        machine_id=_str(entry, "machineId"),
        enabled=enabled if isinstance(enabled, bool) else True,
        weight=kiro_go_weight(entry.get("weight")),
        profile_arn=_str(entry, "profileArn"),
        token_endpoint=_str(entry, "tokenEndpoint"),
        scopes=scopes_text(entry.get("scopes")),
        source="import:kiro-go",
        extra=extra,
    )


def _date_to_unix(value: Any) -> float:
    if not isinstance(value, str) or not value:
        return 0.0
    try:
        day = dt.date.fromisoformat(value[:10])
    except ValueError:
        return 0.0
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()


def parse_kiro_auth_token(token_file: Any, registration: Any = None) -> AccountSpec:
    """A Kiro IDE `kiro-auth-token.json` (+ the `{clientIdHash}.json` registration for IdC logins)."""
    if not isinstance(token_file, dict):
        raise ImportFormatError("kiro-auth-token.json must be a JSON object")
    client_id = client_secret = ""
    secret_expires = 0.0
    if registration is not None:
        if not isinstance(registration, dict):
            raise ImportFormatError("the client registration file must be a JSON object")
        client_id = _str(registration, "clientId")
        client_secret = _str(registration, "clientSecret")
        secret_expires = _iso_to_unix(registration.get("expiresAt"))
    client_id = client_id or _str(token_file, "clientId")
    client_secret = client_secret or _str(token_file, "clientSecret")
    try:
        kind = auth_kind_of(token_file.get("authMethod"), has_client=bool(client_id))
    except ValueError as exc:
        raise ImportFormatError(str(exc)) from exc
    spec = AccountSpec(
        auth_kind=kind,
        refresh_token=_str(token_file, "refreshToken"),
        client_id=client_id,
        client_secret=client_secret,
        client_secret_expires_at=secret_expires,
        auth_region=_str(token_file, "region") or "us-east-1",
        start_url=_str(token_file, "startUrl", "issuerUrl"),
        token_endpoint=_str(token_file, "tokenEndpoint"),
        scopes=scopes_text(token_file.get("scopes")),
        provider=_str(token_file, "provider"),
        profile_arn=_str(token_file, "profileArn"),
        source="import:kiro-auth-token",
    )
    if kind is AuthKind.IDC and not client_id:
        raise ImportFormatError("IdC login: pass the client registration file ({clientIdHash}.json) too")
    try:
        spec.validate()
    except ValueError as exc:
        raise ImportFormatError(str(exc)) from exc
    return spec


def _iso_to_unix(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not value:
        return 0.0
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def parse_refresh_tokens(data: Any) -> tuple[list[AccountSpec], list[Skipped]]:
    """kiro-gateway `KIRO_REFRESH_TOKENS`: a comma/newline separated string, a list, or
    `{"refresh_tokens": [...]}`; entries are social refresh tokens."""
    if isinstance(data, dict):
        data = data.get("refresh_tokens")
    if isinstance(data, str):
        data = [part for chunk in data.splitlines() for part in chunk.split(",")]
    if not isinstance(data, list):
        raise ImportFormatError("expected a list of refresh tokens (or {'refresh_tokens': [...]})")
    specs: list[AccountSpec] = []
    skipped: list[Skipped] = []
    for index, item in enumerate(data):
        token = item.strip() if isinstance(item, str) else ""
        if not token or token.startswith("#"):
            if not isinstance(item, str):
                skipped.append(Skipped(f"refresh_tokens[{index}]", "not a string"))
            continue
        if len(token) < 16 or any(c.isspace() for c in token):
            skipped.append(Skipped(f"refresh_tokens[{index}]", "does not look like a refresh token"))
            continue
        specs.append(AccountSpec(AuthKind.SOCIAL, token, source="import:env"))
    return specs, skipped


#: kiro-cli `auth_kv` keys holding a login, most specific first (kiro-protocol.md §10.5)
KIRO_CLI_TOKEN_KEYS = (
    ("kirocli:external-idp:token", AuthKind.EXTERNAL_IDP),
    ("kirocli:social:token", AuthKind.SOCIAL),
    ("kirocli:odic:token", AuthKind.IDC),
    ("codewhisperer:odic:token", AuthKind.IDC),
)
KIRO_CLI_REGISTRATION_KEYS = ("kirocli:odic:device-registration", "codewhisperer:odic:device-registration")
KIRO_CLI_PROFILE_KEY = "api.codewhisperer.profile"


def parse_kiro_cli(auth_kv: dict[str, str], state: dict[str, str]) -> AccountSpec:
    """The login stored by kiro-cli (or the older amazon-q CLI): rows of its `auth_kv` and `state` tables.

    Values are snake_case JSON. Raises ImportFormatError when no usable login is there.
    """
    found = [(key, kind) for key, kind in KIRO_CLI_TOKEN_KEYS if key in auth_kv]
    if not found:
        raise ImportFormatError(
            "no kiro-cli login in this database (is the CLI logged in? `kiro-cli login` stores one)"
        )
    key, kind = found[0]
    token = _json_object(auth_kv[key], key)
    spec = AccountSpec(
        auth_kind=kind,
        refresh_token=_str(token, "refresh_token"),
        auth_region=_str(token, "region") or "us-east-1",
        start_url=_str(token, "start_url", "issuer_url"),
        token_endpoint=_str(token, "token_endpoint"),
        provider=_str(token, "provider"),
        profile_arn=_str(token, "profile_arn") or _profile_arn(state),
        source="import:kiro-cli",
    )
    if kind is AuthKind.EXTERNAL_IDP:
        spec.client_id = _str(token, "client_id")
        spec.scopes = scopes_text(token.get("scopes"))
    if kind is AuthKind.IDC:
        registration = next((auth_kv[k] for k in KIRO_CLI_REGISTRATION_KEYS if k in auth_kv), None)
        if registration is None:
            raise ImportFormatError(f"{key}: the OIDC client registration is missing from the database")
        client = _json_object(registration, "device-registration")
        spec.client_id = _str(client, "client_id")
        spec.client_secret = _str(client, "client_secret")
        spec.client_secret_expires_at = _iso_to_unix(client.get("client_secret_expires_at"))
        spec.auth_region = _str(token, "region") or _str(client, "region") or spec.auth_region
    try:
        spec.validate()
    except ValueError as exc:
        raise ImportFormatError(f"{key}: {exc}") from exc
    return spec


def _json_object(raw: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        raise ImportFormatError(f"{what}: not valid JSON") from None
    if not isinstance(value, dict):
        raise ImportFormatError(f"{what}: expected a JSON object")
    return value


def _profile_arn(state: dict[str, str]) -> str:
    raw = state.get(KIRO_CLI_PROFILE_KEY)
    if not raw:
        return ""
    try:
        return _str(_json_object(raw, KIRO_CLI_PROFILE_KEY), "arn")
    except ImportFormatError:
        return ""
