"""A database shaped like kiro-cli's ~/.local/share/kiro-cli/data.sqlite3 (tables auth_kv and state)."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path

PROFILE_ARN = "arn:aws:codewhisperer:us-east-1:111122223333:profile/CLIPROFILE"


def kiro_cli_db(path: Path, auth_kv: dict[str, object], state: dict[str, object]) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE auth_kv (key TEXT PRIMARY KEY, value TEXT)")
        db.execute("CREATE TABLE state (key TEXT PRIMARY KEY, value BLOB)")
        db.executemany("INSERT INTO auth_kv VALUES (?, ?)", [(k, json.dumps(v)) for k, v in auth_kv.items()])
        db.executemany("INSERT INTO state VALUES (?, ?)", [(k, json.dumps(v)) for k, v in state.items()])
    db.close()
    return path


def social_login_db_bytes(refresh_token: str) -> bytes:
    """The bytes of a database holding one social login (and the CLI's profile ARN)."""
    with tempfile.TemporaryDirectory() as folder:
        token = {"access_token": "a", "refresh_token": refresh_token, "region": "us-east-1"}
        path = kiro_cli_db(
            Path(folder) / "data.sqlite3",
            {"kirocli:social:token": token},
            {"api.codewhisperer.profile": {"arn": PROFILE_ARN}},
        )
        return path.read_bytes()
