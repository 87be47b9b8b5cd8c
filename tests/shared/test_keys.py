"""Every key lives under the configured prefix; an account's bulk keys share its own slot, what the pick
and admission touch share the pool's, and a hash-tagged prefix puts every key of the stack in one slot."""

from __future__ import annotations

import inspect
import re

from redis.crc import key_slot

from shared.keys import Keys


def _all_keys(keys: Keys) -> list[str]:
    out = []
    for name, method in inspect.getmembers(keys, inspect.ismethod):
        if name.startswith("_"):
            continue
        params = [p for p in inspect.signature(method).parameters.values()]
        built = method(*["x" for _ in params])
        out += [built] if isinstance(built, str) else list(built)
    return out


def test_every_key_starts_with_the_prefix() -> None:
    keys = Keys("pfx:")
    built = _all_keys(keys)
    assert built
    assert all(k.startswith("pfx:") for k in built), built


def _tag(key: str) -> str:
    found = re.search(r"\{(.+?)\}", key)
    return found.group(1) if found else ""


def test_account_bulk_keys_share_the_accounts_own_hash_tag() -> None:
    keys = Keys()
    tagged = [
        keys.account("a1"),
        keys.account_refresh_lock("a1"),
        keys.account_stats("a1", "d"),
        keys.account_stats_total("a1"),
        keys.account_errors("a1"),
        keys.account_refreshes("a1"),
        keys.account_models("a1"),
        keys.usage_limits("a1"),
        keys.account_check("a1"),
        keys.refresh_pending("a1", False),
    ]
    assert {_tag(k) for k in tagged} == {"acct:a1"}
    assert all(k.startswith(keys.account_prefix("a1")) for k in tagged)


def test_everything_the_pick_and_admission_touch_shares_the_pools_hash_tag() -> None:
    keys = Keys()
    tagged = [
        keys.pool(),
        keys.accounts(),
        keys.account_columns(),
        keys.leases(),
        keys.sticky("conv"),
        keys.client_key("h"),
        keys.client_keys(),
        keys.client_key_rate("h"),
        keys.client_key_usage("h", "d"),
        keys.client_key_usage_total("h"),
        keys.client_key_month_credits("h", "m"),
        keys.client_key_inflight("h"),
        keys.request_log(),
    ]
    assert {_tag(k) for k in tagged} == {"ks:pool"}
    assert key_slot(keys.account("a1").encode()) != key_slot(keys.pool().encode())


def test_a_hash_tagged_prefix_puts_every_key_in_one_slot() -> None:
    keys = Keys("{ks}:")
    slots = {key_slot(k.encode()) for k in _all_keys(keys)}
    assert slots == {key_slot(b"{ks}:")}
    assert {key_slot(k.encode()) for k in _all_keys(Keys())} != slots  # the default prefix spreads them


def test_stacks_sharing_a_cluster_keep_their_pools_in_different_slots() -> None:
    # splitting a pool into stacks with their own prefixes is how one grows past one slot's rate
    one, two = Keys("team-a:"), Keys("team-b:")
    assert key_slot(one.pool().encode()) != key_slot(two.pool().encode())
    assert key_slot(one.admin_login_turn().encode()) != key_slot(two.admin_login_turn().encode())
