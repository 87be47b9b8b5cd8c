"""Modules a dependency imports at start for a feature the stack never uses: bound now, loaded on first use.

redis-py imports PyJWT at start for Entra ID token authentication, and PyJWT imports cryptography: ~13 MiB
resident in every process that talks to Redis, for code no Kiro Stack process runs (the gateway of a stack
needs neither; the router and refresher use cryptography's Fernet only). A stand-in module is registered
under the name instead; the first name read from it imports the real module, so a deployment that does use
the feature behaves as before. (The standard library's `LazyLoader` does not do here: on Python 3.11 the
`import` statement itself reads the module's `__spec__`, which loads it.)

`shared` and `services` call `defer()` in their `__init__`, so it runs before any of their modules imports
redis.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

#: module -> why it may wait
DEFERRED = {"jwt": "redis-py: Entra ID token authentication only"}


class _StandIn(types.ModuleType):
    """Answers the import system from its spec; any other name imports the real module and reads it there."""

    def __getattr__(self, attr: str) -> Any:
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]
        real = importlib.import_module(name)
        self.__dict__.update(real.__dict__)  # later reads through this object skip the detour
        return getattr(real, attr)


def defer(names: tuple[str, ...] = tuple(DEFERRED)) -> None:
    """Register a stand-in for each module of `names` that is neither imported yet nor missing."""
    for name in names:
        if name in sys.modules:
            continue
        spec = importlib.util.find_spec(name)
        if spec is None:
            continue
        stand_in = _StandIn(name)
        stand_in.__spec__ = spec
        stand_in.__file__ = spec.origin
        stand_in.__path__ = list(spec.submodule_search_locations or [])
        sys.modules[name] = stand_in
