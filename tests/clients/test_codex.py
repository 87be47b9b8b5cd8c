"""Codex CLI (npm @openai/codex) runs a shell command through the router's Responses API, as users run it."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from tests.router.stack import Seeder, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.clients, pytest.mark.slow, pytest.mark.timeout(600)]

KEY_ENV = "KIRO_STACK_API_KEY"
COMMAND = "touch made-by-codex.txt && echo codex-ran-it"
FINAL = "Created made-by-codex.txt; the command printed codex-ran-it."


def _codex_home(path: Path, base_url: str) -> Path:
    """CODEX_HOME with the stack as a custom Responses provider; no retries, so a failure shows at once.

    Everything else is Codex's default (its full tool set included), as a user's first config would be.
    """
    path.mkdir()
    (path / "config.toml").write_text(
        'model = "claude-sonnet-4.5"\n'
        'model_provider = "kiro"\n\n'
        "[model_providers.kiro]\n"
        'name = "Kiro Stack"\n'
        f'base_url = "{base_url}"\n'
        'wire_api = "responses"\n'
        f'env_key = "{KEY_ENV}"\n'
        "request_max_retries = 0\n"
        "stream_max_retries = 0\n\n"
        # without these two Codex tries to reach its analytics host, GitHub and chatgpt.com (plugins)
        "[analytics]\n"
        "enabled = false\n\n"
        "[features]\n"
        "plugins = false\n"
    )
    return path


async def test_codex_exec_runs_a_shell_command_and_answers_through_the_router(
    stack: Stack, seeder: Seeder, codex_bin: Path, tmp_path: Path
) -> None:
    account = await seeder.account()
    stack.control.queue_scripts(
        account,
        [
            {
                "text": "Creating the file.",
                "tool_calls": [{"name": "exec_command", "input": {"cmd": COMMAND}}],
            },
            {"text": FINAL},
        ],
    )
    home = _codex_home(tmp_path / "codex-home", stack.routers[0].url + "/v1")
    work, last = tmp_path / "work", tmp_path / "last-message.txt"
    work.mkdir()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "CODEX_HOME": str(home),
        KEY_ENV: await seeder.client_key(),
    }

    proc = await asyncio.create_subprocess_exec(
        str(codex_bin),
        "exec",
        "--skip-git-repo-check",
        "--color",
        "never",
        "--sandbox",
        "workspace-write",
        "--output-last-message",
        str(last),
        "Create a file named made-by-codex.txt with a shell command.",
        cwd=work,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    log = output.decode(errors="replace")

    assert proc.returncode == 0, log
    assert (work / "made-by-codex.txt").exists(), log
    assert last.read_text().strip() == FINAL, log
    chats = [r for r in stack.control.requests(account=account) if r["endpoint"].startswith("chat")]
    assert len(chats) == 2, log
    second = json.dumps(chats[1]["body"])
    assert "toolResults" in second
    assert "codex-ran-it" in second  # the command's output went back to the model
