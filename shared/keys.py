"""Every Redis key the stack uses is built here, under one configurable prefix.

Hash tags spread a stack over a Redis Cluster's slots (docs/architecture.md, "Redis topologies"):
- `{<prefix>pool}` (`{ks:pool}`, "`{pool}`" below): everything a pick or a state change reads or writes in
  one script: the pool sorted set, the accounts set, the per-account pick state (one hash of *columns*,
  field `<name>:<account id>`: state, enabled, weight, caps, breaker counters, token expiry, in-flight
  count, governor time), the leases, the conversations' sticky accounts, the client keys (admission runs
  with the pick) and the request log (appended by the settle). Every such key is a fixed name, so each
  script names all it touches in KEYS. The prefix is in the tag: stacks sharing a Cluster get their own.
- `{<prefix>admin}`: the admin sign-in limiter's counters (its scripts read several at once).
- `{acct:ID}`: one account's bulk data: the record (names, region, encrypted tokens), stats, errors,
  refreshes, usage, models, check, refresh lock.
The `{pool}` slot is also the stack's home on a Cluster: keys written in one MULTI/EXEC (client keys, the
admin's password and sessions, device logins) live there.
A prefix with a hash tag of its own (`{ks}:`) still puts every key of the stack in one slot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_GLOB = re.compile(r"([*?\[\]\\])")


def match_prefix(prefix: str) -> str:
    """A SCAN MATCH pattern for every key that starts with `prefix` (its glob characters escaped)."""
    return _GLOB.sub(r"\\\1", prefix) + "*"


@dataclass(frozen=True)
class Keys:
    """Key builder bound to one prefix (default `ks:`)."""

    prefix: str = "ks:"
    #: prefix of every key under the pick's hash tag, `{<prefix>pool}`: the prefix is in the tag, so stacks
    #: sharing a Cluster (each with its own prefix) put their pools in different slots
    pick_prefix: str = field(init=False, repr=False, compare=False)
    #: prefix of the admin sign-in limiter's keys, `{<prefix>admin}` (its scripts read several at once)
    _limiter_prefix: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pick_prefix", f"{self.prefix}{{{self.prefix}pool}}:")
        object.__setattr__(self, "_limiter_prefix", f"{self.prefix}{{{self.prefix}admin}}:")

    # --- accounts -------------------------------------------------------------------------------
    def account(self, account_id: str) -> str:
        """Hash: the account record, its encrypted secrets, access token, token_version, state."""
        return f"{self.prefix}{{acct:{account_id}}}:data"

    def account_prefix(self, account_id: str) -> str:
        """Prefix of every key of one account (for deletion that leaves nothing behind)."""
        return f"{self.prefix}{{acct:{account_id}}}:"

    def account_refresh_lock(self, account_id: str) -> str:
        """Refresh lock (SET NX PX + compare-and-delete): one refresher at a time per account."""
        return f"{self.prefix}{{acct:{account_id}}}:refresh-lock"

    def account_stats(self, account_id: str, day: str) -> str:
        """Hash of per-day counters (requests, errors, tokens, credits); expires after a while."""
        return f"{self.prefix}{{acct:{account_id}}}:stats:{day}"

    def account_stats_total(self, account_id: str) -> str:
        """Hash of all-time counters (the per-day ones, summed since the account was added); never expires."""
        return f"{self.prefix}{{acct:{account_id}}}:stats:total"

    def account_errors(self, account_id: str) -> str:
        """List, newest first: the account's last failures (JSON: time, kind, reason), capped."""
        return f"{self.prefix}{{acct:{account_id}}}:errors"

    def account_refreshes(self, account_id: str) -> str:
        """List, newest first: the account's last token refreshes (JSON: time, outcome, trigger), capped."""
        return f"{self.prefix}{{acct:{account_id}}}:refreshes"

    def accounts(self) -> str:
        """Set of every account id, enabled or not."""
        return f"{self.pick_prefix}accounts"

    def pool(self) -> str:
        """Sorted set of pickable accounts scored by the time (unix s) they become usable."""
        return f"{self.pick_prefix}pool"

    def account_columns(self) -> str:
        """Hash: every account's pick state, field `<name>:<account id>` (see shared/accounts/columns.py)."""
        return f"{self.pick_prefix}columns"

    def leases(self) -> str:
        """Sorted set of in-flight request leases of every account (`<account id>|<lease id>`), scored by
        lease expiry (ms); the columns keep each account's count."""
        return f"{self.pick_prefix}leases"

    def sticky(self, conversation: str) -> str:
        """String: the account a conversation used last (expires)."""
        return f"{self.pick_prefix}sticky:{conversation}"

    def layout(self) -> str:
        """String: the version of the key layout the stored data is in (shared/accounts/layout.py)."""
        return f"{self.pick_prefix}layout"

    def layout_lock(self) -> str:
        """String: held (SET NX PX) by the process that moves stored data to the current layout."""
        return f"{self.pick_prefix}layout-lock"

    # --- the layout before the pick's hash tag (read once, by the move to the current one) -----------
    def legacy_accounts(self) -> str:
        return f"{self.prefix}accounts"

    def legacy_pool(self) -> str:
        return f"{self.prefix}pool"

    def legacy_pool_weights(self) -> str:
        return f"{self.prefix}pool:weights"

    def legacy_request_log(self) -> str:
        return f"{self.prefix}reqlog"

    def legacy_admin(self) -> str:
        return f"{self.prefix}admin"

    def legacy_moved_prefixes(self) -> tuple[str, ...]:
        """Prefixes of the keys moved under the pick's tag as they are: client keys (`ckey:*`, `ckeys`),
        admin sessions and device logins."""
        return (f"{self.prefix}ckey", f"{self.prefix}admin:session:", f"{self.prefix}device:")

    # --- client API keys ------------------------------------------------------------------------
    def client_key(self, key_hash: str) -> str:
        """Hash: one client API key record (name, enabled, limits), found by the key's SHA-256."""
        return f"{self.pick_prefix}ckey:{key_hash}"

    def client_keys(self) -> str:
        """Set of every client key hash."""
        return f"{self.pick_prefix}ckeys"

    def client_key_rate(self, key_hash: str) -> str:
        """Per-key RPM limiter state."""
        return f"{self.pick_prefix}ckey:{key_hash}:rate"

    def client_key_usage(self, key_hash: str, day: str) -> str:
        """Hash of per-day usage of one client key (requests, tokens, credits); expires."""
        return f"{self.pick_prefix}ckey:{key_hash}:usage:{day}"

    def client_key_usage_total(self, key_hash: str) -> str:
        """Hash of all-time usage of one client key (the day's counters, summed); no TTL."""
        return f"{self.pick_prefix}ckey:{key_hash}:usage:total"

    def client_key_month_credits(self, key_hash: str, month: str) -> str:
        """Hash: `credits` of a client key in one UTC month (`YYYY-MM`), what its budget reads; expires."""
        return f"{self.pick_prefix}ckey:{key_hash}:month:{month}"

    def client_key_inflight(self, key_hash: str) -> str:
        """Sorted set of a client key's admitted, unsettled requests, scored by expiry (ms)."""
        return f"{self.pick_prefix}ckey:{key_hash}:inflight"

    # --- admin ----------------------------------------------------------------------------------
    def admin(self) -> str:
        """Hash: admin password hash and other admin credentials."""
        return f"{self.pick_prefix}admin"

    def admin_session(self, session_id_hash: str) -> str:
        """String: one admin panel session (expires)."""
        return f"{self.pick_prefix}admin:session:{session_id_hash}"

    def admin_login_failures(self, subject: str) -> str:
        """Integer: failed (or in-progress) admin logins from one client address ('*' = all) in the window."""
        return f"{self._limiter_prefix}login-failures:{subject}"

    def admin_login_turn(self) -> str:
        """String: unix ms of the next slowed-down admin password check (while the admin is attacked)."""
        return f"{self._limiter_prefix}login-turn"

    def admin_trusted_client(self, address: str) -> str:
        """String: set while a client address that signed in successfully skips the login slow-down."""
        return f"{self._limiter_prefix}trusted-client:{address}"

    def device_flow(self, flow_id: str) -> str:
        """Hash: one pending device-authorization login (expires)."""
        return f"{self.pick_prefix}device:{flow_id}"

    # --- stack-wide -----------------------------------------------------------------------------
    def settings(self) -> str:
        """Hash: runtime settings editable from the admin API (thinking suffix, aliases, ...)."""
        return f"{self.prefix}settings"

    def events(self) -> str:
        """Pub/sub channel: change notices (token refreshed, account changed, settings changed)."""
        return f"{self.prefix}events"

    def response(self, response_id: str) -> str:
        """String: the conversation of one Responses API answer (JSON input + output items, expires),
        for a follow-up naming it as `previous_response_id`."""
        return f"{self.prefix}resp:{response_id}"

    def account_models(self, account_id: str) -> str:
        """String: the account's ListAvailableModels answer as the refresher cached it (JSON, expires)."""
        return f"{self.prefix}{{acct:{account_id}}}:models"

    def usage_limits(self, account_id: str) -> str:
        """String: the last getUsageLimits snapshot of one account (JSON)."""
        return f"{self.prefix}{{acct:{account_id}}}:usage"

    def account_check(self, account_id: str) -> str:
        """String: the result of the account's last check (JSON: steps, errors, when it ran)."""
        return f"{self.prefix}{{acct:{account_id}}}:check"

    def request_log(self) -> str:
        """Stream: recent requests (capped with XADD MAXLEN ~)."""
        return f"{self.pick_prefix}reqlog"

    def arq_queue(self) -> str:
        """The arq queue name used for refresher jobs."""
        return f"{self.prefix}arq:queue"

    # arq names its own keys `arq:job:<job id>`, `arq:in-progress:<job id>`, `arq:retry:<job id>`,
    # `arq:result:<job id>`: every job id (cron runs included) starts with our prefix, so stacks sharing a
    # Redis never collide on one, and `arq:*:<prefix>*` finds every arq key of a stack.

    def refresh_job_id(self, account_id: str, nonce: str) -> str:
        """arq `_job_id` of one on-demand refresh (`nonce` tells apart the jobs of one account)."""
        return f"{self.prefix}refresh:{account_id}:{nonce}"

    def refresh_pending(self, account_id: str, force: bool) -> str:
        """String: the nonce of the refresh job of this account waiting to start (bursts collapse into
        it); the job deletes it when it starts, and it expires on its own if the job never does."""
        return f"{self.prefix}{{acct:{account_id}}}:refresh-pending" + (":force" if force else "")

    def usage_job_id(self, account_id: str, trigger: str) -> str:
        """arq `_job_id` of a usage-limits fetch: one per account and trigger (schedule, quota) waits at a
        time (arq refuses a second job with the id of one still queued or running)."""
        return f"{self.prefix}usage:{account_id}:{trigger}"

    def check_job_id(self, account_id: str, nonce: str) -> str:
        """arq `_job_id` of one account check (`nonce` tells apart the checks of one account)."""
        return f"{self.prefix}check:{account_id}:{nonce}"

    def device_job_id(self, flow_id: str) -> str:
        """arq `_job_id` of the polls of one device login."""
        return f"{self.prefix}device:{flow_id}"

    def cron_job_name(self, name: str) -> str:
        """Name of a periodic arq job: arq derives its run ids (`<name>:<time>`) from it."""
        return f"{self.prefix}{name}"
