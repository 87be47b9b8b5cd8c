"""Real coding-agent CLIs for the client tests, installed once from PyPI / npm into .stack/clients.

Each client gets a pinned version and a stamp file naming it: a later run (or a later session on the
same machine) reuses the install, a changed pin reinstalls. A file lock keeps two pytest processes
from installing into the same folder at once.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.procs import ROOT

CLIENTS_DIR = ROOT / ".stack" / "clients"
AIDER_VERSION = "0.86.2"
CODEX_VERSION = "0.171.0"
INSTALL_TIMEOUT_SECONDS = 540


class InstallError(RuntimeError):
    """A client could not be installed (registry unreachable, tool missing, ...)."""


@contextmanager
def _locked(name: str) -> Iterator[None]:
    CLIENTS_DIR.mkdir(parents=True, exist_ok=True)
    with (CLIENTS_DIR / f".{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_SECONDS, check=False)
    if done.returncode != 0:
        raise InstallError(f"{what} failed ({done.returncode}): {(done.stderr or done.stdout)[-1500:]}")


def _installed(stamp: Path, version: str, binary: Path) -> bool:
    return binary.exists() and stamp.exists() and stamp.read_text().strip() == version


def ensure_aider() -> Path:
    """The `aider` executable of aider-chat, in a venv of its own (its pins clash with ours)."""
    venv = CLIENTS_DIR / "aider-venv"
    binary, stamp = venv / "bin" / "aider", venv / ".kiro-stack-version"
    with _locked("aider"):
        if not _installed(stamp, AIDER_VERSION, binary):
            started = time.monotonic()
            shutil.rmtree(venv, ignore_errors=True)
            _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], "python -m venv")
            # uv (a dev dependency) installs aider's ~150 packages in seconds where pip takes a minute
            uv = Path(sys.executable).parent / "uv"
            python, package = str(venv / "bin" / "python"), f"aider-chat=={AIDER_VERSION}"
            try:
                if not uv.exists():
                    raise InstallError("uv is not installed")
                _run([str(uv), "pip", "install", "-q", "--python", python, package], f"uv: {package}")
            except InstallError:  # no uv, or an index only pip is configured for: the slow way
                _run([python, "-m", "ensurepip", "-q"], "ensurepip")
                _run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", package], package)
            stamp.write_text(AIDER_VERSION)
            print(f"installed aider-chat {AIDER_VERSION} in {time.monotonic() - started:.0f} s")
    return binary


def ensure_codex() -> Path:
    """The `codex` executable of @openai/codex (a native binary shipped in an npm package)."""
    prefix = CLIENTS_DIR / "codex"
    binary, stamp = prefix / "node_modules" / ".bin" / "codex", prefix / ".kiro-stack-version"
    with _locked("codex"):
        if not _installed(stamp, CODEX_VERSION, binary):
            npm = shutil.which("npm")
            if npm is None:
                raise InstallError("npm is not installed (scripts/system-deps.sh installs it)")
            started = time.monotonic()
            prefix.mkdir(parents=True, exist_ok=True)
            _run(
                [
                    npm,
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--prefix",
                    str(prefix),
                    f"@openai/codex@{CODEX_VERSION}",
                ],
                f"npm install @openai/codex@{CODEX_VERSION}",
            )
            stamp.write_text(CODEX_VERSION)
            print(f"installed @openai/codex {CODEX_VERSION} in {time.monotonic() - started:.0f} s")
    return binary
