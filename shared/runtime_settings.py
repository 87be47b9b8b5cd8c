"""The runtime settings hash (`keys.settings()`): values stored as JSON, each change announced.

The router's settings API and the kiro-go importer (admin API and refresher CLI) write through here; every
router reads the hash (`services.router.runtime`) and drops its cache on the `settings_changed` notice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, cast

import orjson

from shared.keys import Keys
from shared.redis_topology import StackRedis


async def store_settings(client: StackRedis, keys: Keys, changes: Mapping[str, Any]) -> None:
    """Store the values given (already validated) and tell every router; nothing for no changes."""
    if not changes:
        return
    values = {name: orjson.dumps(value).decode() for name, value in changes.items()}
    await cast(Awaitable[int], client.hset(keys.settings(), mapping=values))
    notice = {"type": "settings_changed", "account_id": None, "fields": sorted(changes)}
    await client.publish(keys.events(), orjson.dumps(notice))
