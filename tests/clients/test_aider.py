"""aider (PyPI aider-chat) edits a file through the router's OpenAI-compatible API, as a user runs it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.router.stack import Seeder, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.clients, pytest.mark.slow, pytest.mark.timeout(600)]

MODEL = "openai/claude-sonnet-4.5"
ORIGINAL = 'def greet(name):\n    return "Hello, " + name\n'
EDITED = 'def greet(name):\n    return f"Hello, {name}!"\n'
# aider's "diff" edit format: the file path, then a fenced SEARCH/REPLACE block
EDIT_REPLY = (
    "Use an f-string and add the exclamation mark.\n\n"
    "greet.py\n"
    "```python\n"
    "<<<<<<< SEARCH\n"
    f"{ORIGINAL}"
    "=======\n"
    f"{EDITED}"
    ">>>>>>> REPLACE\n"
    "```\n"
)


def _git_repo(path: Path, env: dict[str, str]) -> None:
    path.mkdir()
    (path / "greet.py").write_text(ORIGINAL)
    for argv in (["git", "init", "-q"], ["git", "add", "greet.py"], ["git", "commit", "-q", "-m", "start"]):
        subprocess.run(argv, cwd=path, env=env, check=True, capture_output=True)


def _model_metadata(path: Path) -> Path:
    """The model's window for aider (litellm format): without it aider downloads litellm's price list."""
    path.write_text(
        json.dumps(
            {
                MODEL: {
                    "max_input_tokens": 200000,
                    "max_output_tokens": 64000,
                    "input_cost_per_token": 0,
                    "output_cost_per_token": 0,
                    "litellm_provider": "openai",
                    "mode": "chat",
                }
            }
        )
    )
    return path


async def test_aider_applies_a_search_replace_edit_streamed_through_the_router(
    stack: Stack, seeder: Seeder, aider_bin: Path, tmp_path: Path
) -> None:
    account = await seeder.account()
    stack.control.queue_script(account=account, text=EDIT_REPLY)
    home, repo = tmp_path / "home", tmp_path / "repo"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = Test\n\temail = test@example.invalid\n")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # litellm would fetch its price list at import
    }
    _git_repo(repo, env)

    proc = await asyncio.create_subprocess_exec(
        str(aider_bin),
        "--model",
        MODEL,
        "--model-metadata-file",
        str(_model_metadata(home / "model-metadata.json")),
        "--openai-api-base",
        stack.routers[0].url + "/v1",
        "--openai-api-key",
        await seeder.client_key(),
        "--edit-format",
        "diff",
        "--yes-always",
        "--no-auto-commits",
        "--no-gitignore",
        "--no-check-update",
        "--no-show-release-notes",
        "--analytics-disable",
        "--no-pretty",
        "--no-fancy-input",
        "--no-show-model-warnings",
        "--no-detect-urls",
        "--map-tokens",
        "0",
        "--message",
        "Make greet use an f-string and end with an exclamation mark.",
        "greet.py",
        cwd=repo,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    log = output.decode(errors="replace")

    assert proc.returncode == 0, log
    assert (repo / "greet.py").read_text() == EDITED, log
    assert "Applied edit to greet.py" in log
    assert "githubusercontent" not in log  # nothing fetched from outside the stack
    chats = [r for r in stack.control.requests(account=account) if r["endpoint"].startswith("chat")]
    assert len(chats) == 1, log
    sent = json.dumps(chats[0]["body"])
    assert "Make greet use an f-string" in sent
    assert json.dumps(ORIGINAL)[1:-1] in sent  # aider sent the file's contents along
