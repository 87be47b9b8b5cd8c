"""Reading a kiro-cli / amazon-q CLI database (`~/.local/share/kiro-cli/data.sqlite3`), read-only.

`importers.parse_kiro_cli` turns the rows into an account; this module only does the file part, for the
accounts CLI (a path) and the admin API (an uploaded copy). sqlite3 (≈0.8 MiB) is imported by the first
read, not with the router's admin routes.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from shared.accounts.importers import ImportFormatError

if TYPE_CHECKING:
    import sqlite3

SQLITE_MAGIC = b"SQLite format 3\x00"


def looks_like_sqlite(head: bytes) -> bool:
    """True when `head` (the first bytes of a file) is an SQLite database header."""
    return head.startswith(SQLITE_MAGIC)


def read_kiro_cli_db(path: str | Path) -> tuple[dict[str, str], dict[str, str]]:
    """The `auth_kv` and `state` rows, opened read-only (the CLI may be running and writing)."""
    import sqlite3

    uri = Path(path).resolve().as_uri() + "?mode=ro"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=5)) as db:
            auth_kv = _rows(db, "auth_kv")
            state = _rows(db, "state") if _has_table(db, "state") else {}
    except sqlite3.Error as exc:
        raise ImportFormatError(f"cannot read the kiro-cli database: {exc}") from None
    return auth_kv, state


def read_kiro_cli_bytes(data: bytes) -> tuple[dict[str, str], dict[str, str]]:
    """The same from an uploaded copy (blocking: run it in a thread)."""
    if not looks_like_sqlite(data[:16]):
        raise ImportFormatError("not an SQLite database: send ~/.local/share/kiro-cli/data.sqlite3 as it is")
    with tempfile.TemporaryDirectory(prefix="kiro-cli-") as folder:
        copy = Path(folder) / "data.sqlite3"
        copy.write_bytes(data)
        return read_kiro_cli_db(copy)


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    return db.execute(query, (name,)).fetchone() is not None


def _rows(db: sqlite3.Connection, table: str) -> dict[str, str]:
    if not _has_table(db, table):
        raise ImportFormatError(f"not a kiro-cli database: no {table!r} table")
    rows = db.execute(f"SELECT key, value FROM {table}").fetchall()  # table: one of our two literals
    return {str(k): v.decode(errors="replace") if isinstance(v, bytes) else str(v) for k, v in rows}
