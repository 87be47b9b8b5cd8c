"""The gateway process loads only what it uses: heavy libraries that only other services need stay out."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.procs import ROOT

pytestmark = pytest.mark.e2e  # starts processes (tools or services)

HEAVY = ["bpe_openai", "cryptography", "jsonschema", "redis", "referencing", "rpds"]
#: development tools: the Kiro emulator, the `make run` launcher, the benchmark, the embedded Redis
TOOLS = ["services.kiro_emulator", "services.stack", "bench", "fakeredis"]


def python(code: str) -> str:
    """What a fresh interpreter prints running `code`, with no Redis setting of ours in its environment
    (`make test` exports REDIS_URL, which would make every gateway here a gateway of the stack)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("REDIS_")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )
    return out.stdout


def loaded(code: str, watched: list[str]) -> list[str]:
    """Which of the `watched` packages a fresh interpreter has imported after running `code`."""
    code += (
        f"\nimport json, sys; print(json.dumps(sorted({{w for w in {watched!r} for m in sys.modules "
        "if m == w or m.startswith(w + '.')})))"
    )
    return list(json.loads(python(code)))


def test_the_gateway_never_loads_cryptography_bpe_openai_redis_jsonschema_or_tools() -> None:
    # cryptography (~7 MiB): only hashing and constant-time compares are used here; bpe_openai maps 74 MB
    # (only its vocabulary file is read); Redis is the router's and refresher's business (standalone);
    # jsonschema (~1.6 MiB with referencing and rpds) waits for the first request with a JSON Schema
    code = (
        "import services.gateway.__main__; from services.gateway.app import create_app; "
        "from services.gateway.settings import GatewaySettings; "
        "create_app(GatewaySettings.load(internal_api_key='k'))"
    )
    assert loaded(code, HEAVY + TOOLS) == []


def test_the_router_never_loads_the_tokenizer_jsonschema_sqlite_or_tools() -> None:
    # sqlite3 (~0.8 MiB) waits for the first kiro-cli database sent to the admin API
    watched = ["tiktoken", "bpe_openai", "jsonschema", "sqlite3", *TOOLS]
    assert loaded("import services.router.__main__", watched) == []


@pytest.mark.parametrize(("stack", "redis_loaded"), [(False, "False"), (True, "True")])
def test_a_supervisor_preloads_the_vocabulary_and_in_the_stack_the_redis_client(
    stack: bool, redis_loaded: str
) -> None:
    # loaded before forking, the workers share these pages; a standalone gateway still never loads Redis
    where = ", redis_url='redis://127.0.0.1:6379/0'" if stack else ""
    code = (
        "import sys; from services.gateway.app import preload; from services.gateway.settings import "
        "GatewaySettings; from services.gateway.translate import tokens; "
        f"preload(GatewaySettings.load(internal_api_key='k'{where})); "
        "print('redis' in sys.modules, tokens._encoding.cache_info().currsize)"
    )
    assert python(code).split() == [redis_loaded, "1"]


def test_talking_to_redis_loads_neither_pyjwt_nor_cryptography() -> None:
    # redis-py imports PyJWT (and so cryptography, ~13 MiB) for an authentication the stack never uses: it
    # stays a stand-in (shared.lazy_modules) through a gateway's start and a Redis round trip
    code = (
        "import asyncio, services.gateway.app, services.gateway.models_redis\n"
        "from shared.redis import create_redis\nfrom shared.settings import CommonSettings\n"
        "async def main():\n"
        "    client = create_redis(CommonSettings(redis_url='redis://127.0.0.1:6379/0'))\n"
        "    await client.ping()\n    await client.aclose()\n"
        "asyncio.run(main())"
    )
    # (redis-py does import the `cryptography` package itself, to see whether it is installed: ~0.1 MiB)
    assert loaded(code, ["cryptography.hazmat", "jwt.api_jwt", "jwt.algorithms"]) == []
