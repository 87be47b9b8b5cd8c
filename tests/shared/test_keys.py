"""Every key lives under the configured prefix; account keys share one cluster slot."""

from __future__ import annotations

import inspect
import re

from shared.keys import Keys


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
    ]
    tags = {re.search(r"\{(.*?)\}", k).group(1) for k in tagged}  # type: ignore[union-attr]
    assert tags == {"acct:a1"}
    assert all(k.startswith(keys.account_prefix("a1")) for k in tagged)
