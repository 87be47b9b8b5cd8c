"""Every key lives under the configured prefix; account keys share one cluster slot, and a hash-tagged
prefix (what a Redis Cluster needs) puts every key of the stack in one slot."""

from __future__ import annotations

import inspect
import re

from redis.crc import key_slot

from shared.keys import Keys, hash_tag


def _all_keys(keys: Keys) -> list[str]:
    out = []
    for name, method in inspect.getmembers(keys, inspect.ismethod):
        if name.startswith("_"):
            continue
        params = [p for p in inspect.signature(method).parameters.values()]
        out.append(method(*["x" for _ in params]))
    return out


def test_every_key_starts_with_the_prefix() -> None:
    keys = Keys("pfx:")
    built = _all_keys(keys)
    assert built
    assert all(k.startswith("pfx:") for k in built), built


def test_account_keys_share_one_hash_tag() -> None:
    keys = Keys()
    tagged = [
        keys.account("a1"),
        keys.account_leases("a1"),
        keys.account_rate("a1"),
        keys.account_stats("a1", "d"),
        keys.account_stats_total("a1"),
    ]
    tags = {re.search(r"\{(.*?)\}", k).group(1) for k in tagged}  # type: ignore[union-attr]
    assert tags == {"acct:a1"}
    assert all(k.startswith(keys.account_prefix("a1")) for k in tagged)


def test_a_hash_tagged_prefix_puts_every_key_in_one_slot() -> None:
    keys = Keys("{ks}:")
    slots = {key_slot(k.encode()) for k in _all_keys(keys)}
    assert slots == {key_slot(b"{ks}:pool")}
    assert {key_slot(k.encode()) for k in _all_keys(Keys())} != slots  # the default prefix spreads them


def test_hash_tag_reads_the_prefix_as_redis_does() -> None:
    assert hash_tag("{ks}:") == "ks"
    assert hash_tag("app:{ks}:") == "ks"
    assert hash_tag("ks:") is None
    assert hash_tag("{}:ks:") is None  # an empty tag does not count: Redis hashes the whole name
