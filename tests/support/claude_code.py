"""The real Claude Code CLI for end-to-end tests: installed from npm into .stack/node, run with `-p`."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from tests.support.procs import ROOT

NODE_PREFIX = ROOT / ".stack" / "node"
CLAUDE_BIN = NODE_PREFIX / "node_modules" / ".bin" / "claude"
RUN_SECONDS = 120


async def claude_print(base_url: str, key: str, prompt: str, *, tools: str, tmp_path: Path) -> dict[str, Any]:
    """Run `claude -p PROMPT --output-format json` against `base_url` in a fresh home; its JSON result.

    Only `tools` may be used (`--allowedTools`); telemetry and other traffic stay off.
    """
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": key,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_MAX_RETRIES": "1",
    }
    proc = await asyncio.create_subprocess_exec(
        str(CLAUDE_BIN),
        "-p",
        prompt,
        "--output-format",
        "json",
        "--allowedTools",
        tools,
        cwd=work,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=RUN_SECONDS)
    assert proc.returncode == 0, (stderr + stdout).decode(errors="replace")
    result: dict[str, Any] = json.loads(stdout)
    return result
