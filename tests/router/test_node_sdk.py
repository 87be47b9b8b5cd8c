"""The official openai npm SDK through router → gateway → emulator (`tests/node`, installed on demand)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.router.stack import Seeder, Stack
from tests.support.procs import ROOT

pytestmark = pytest.mark.e2e

NODE_DIR = ROOT / "tests" / "node"


@pytest.fixture(scope="session")
def node_sdk() -> Path:
    """tests/node with its locked dependencies (`npm ci` when node_modules is missing)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node/npm are not installed (scripts/system-deps.sh installs them)")
    if not (NODE_DIR / "node_modules" / "openai" / "package.json").exists():
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"npm ci in tests/node failed: {done.stderr[-1000:]}"
    return NODE_DIR


async def test_openai_node_sdk_creates_streams_and_continues_responses(
    stack: Stack, seeder: Seeder, node_sdk: Path
) -> None:
    account = await seeder.account()
    stack.control.queue_scripts(
        account,
        [
            {
                "text": "Checking. ",
                "tool_calls": [{"name": "get_weather", "input": {"city": "Oslo"}}],
                "when_has_tools": True,
            },
            {"text": "Sunny in Oslo.", "when_has_tools": True},
        ],
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "BASE_URL": stack.routers[0].url + "/v1",
        "API_KEY": await seeder.client_key(),
        "TOOL_PROMPT": "Weather in Oslo?",
    }
    proc = await asyncio.create_subprocess_exec(
        "node",
        "responses.mjs",
        cwd=node_sdk,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=60)

    assert proc.returncode == 0, stderr.decode(errors="replace")
    result = json.loads(stdout)
    assert result["created"]["status"] == "completed" and result["created"]["total"] > 0
    assert result["created"]["text"] == "Brief.\n\nnode plain"
    streamed = result["streamed"]
    assert streamed["text"] == "Checking. " and "".join(streamed["deltas"]) == "Checking. "
    assert streamed["kinds"][0] == "response.created" and streamed["kinds"][-1] == "response.completed"
    assert "response.function_call_arguments.delta" in streamed["kinds"]
    assert streamed["call"]["name"] == "get_weather"
    assert json.loads(streamed["call"]["arguments"]) == {"city": "Oslo"}
    assert result["followUp"] == "Sunny in Oslo."
    assert result["missing"] == {
        "status": 400,
        "code": "previous_response_not_found",
        "param": "previous_response_id",
    }
