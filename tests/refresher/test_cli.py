"""The accounts CLI: import (kiro-go, kiro-cli SQLite, refresh-token lists), list, export and restore."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.kiro_cli import kiro_cli_db
from tests.support.procs import ROOT

pytestmark = pytest.mark.e2e  # starts processes (tools or services)

SAMPLE = ROOT / "tests" / "shared" / "accounts" / "data" / "kiro_go_config.json"
#: the sample's refresh tokens: none may appear in a listing or a backup (a fixed short substring such
#: as "aor" also turns up by chance in base64 ciphertext, about 1 run in 100)
SAMPLE_TOKENS = [
    a["refreshToken"]
    for a in json.loads(SAMPLE.read_text())["accounts"]
    if isinstance(a, dict) and a.get("refreshToken")
]


def _leaked(text: str) -> list[str]:
    return [token for token in SAMPLE_TOKENS if token in text or token[8:] in text]


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.refresher", *args],
        cwd=ROOT,
        env={**env, "PATH": "/usr/bin:/bin"},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def cli_env(stack_env: dict[str, str]) -> dict[str, str]:
    return dict(stack_env)


def test_kiro_go_import_twice_adds_then_updates_and_reports_bad_entries(cli_env: dict[str, str]) -> None:
    first = _cli(cli_env, "import", str(SAMPLE), "--format", "kiro-go")
    second = _cli(cli_env, "import", str(SAMPLE))  # format detected
    assert first.returncode == 0, first.stderr
    report, again = json.loads(first.stdout), json.loads(second.stdout)
    assert len(report["added"]) == 3 and len(report["skipped"]) == 4
    assert again["added"] == [] and sorted(again["updated"]) == sorted(report["added"])

    listing = _cli(cli_env, "list")
    assert listing.returncode == 0
    assert listing.stdout.count("pending") == 3
    assert _leaked(listing.stdout) == []


def test_refresh_tokens_from_stdin_become_social_accounts(cli_env: dict[str, str]) -> None:
    result = _cli(cli_env, "import", "-", stdin="aorTokenNumberOne0000001,aorTokenNumberTwo0000002\n")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["added"]) == 2


def test_export_then_restore_into_another_prefix_with_a_passphrase(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    _cli(cli_env, "import", str(SAMPLE))
    backup = tmp_path / "backup.json"
    env = {**cli_env, "BACKUP_PASS": "a long passphrase"}
    exported = _cli(env, "export", "--out", str(backup), "--passphrase-env", "BACKUP_PASS")
    assert exported.returncode == 0, exported.stderr
    assert backup.stat().st_mode & 0o077 == 0
    assert _leaked(backup.read_text()) == []

    other = {**env, "REDIS_KEY_PREFIX": cli_env["REDIS_KEY_PREFIX"] + "copy:"}
    refused = _cli(other, "restore", str(backup))
    restored = _cli(other, "restore", str(backup), "--passphrase-env", "BACKUP_PASS")
    assert refused.returncode == 1 and "passphrase" in refused.stderr
    assert len(json.loads(restored.stdout)["added"]) == 3


def test_unreadable_input_is_a_clear_error_not_a_traceback(cli_env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    result = _cli(cli_env, "import", str(bad), "--format", "kiro-go")
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    missing_key = _cli({k: v for k, v in cli_env.items() if k != "KIRO_SECRET_KEY"}, "list")
    assert missing_key.returncode == 2 and "KIRO_SECRET_KEY" in missing_key.stderr


def test_kiro_cli_database_is_detected_and_its_login_imported_once(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    arn = "arn:aws:codewhisperer:us-east-1:111122223333:profile/CLIPROFILE"
    token = {"access_token": "a", "refresh_token": "aorCliSocialRefresh01", "region": "us-east-1"}
    db = kiro_cli_db(
        tmp_path / "data.sqlite3",
        {"kirocli:social:token": token},
        {"api.codewhisperer.profile": {"arn": arn}},
    )
    first = _cli(cli_env, "import", str(db), "--label", "laptop-cli")
    again = _cli(cli_env, "import", str(db), "--format", "kiro-cli")
    assert first.returncode == 0, first.stderr
    added = json.loads(first.stdout)["added"]
    assert len(added) == 1 and json.loads(again.stdout)["updated"] == added

    listing = json.loads(_cli(cli_env, "list", "--json").stdout)
    [account] = listing["accounts"]
    assert (account["auth_kind"], account["profile_arn"], account["label"]) == ("social", arn, "laptop-cli")
    assert account["has_refresh_token"] and "aorCli" not in json.dumps(listing)


def test_kiro_cli_database_without_a_login_says_so(cli_env: dict[str, str], tmp_path: Path) -> None:
    db = kiro_cli_db(tmp_path / "data.sqlite3", {}, {})
    result = _cli(cli_env, "import", str(db))
    not_a_db = _cli(cli_env, "import", str(SAMPLE), "--format", "kiro-cli")
    assert result.returncode == 1 and "no kiro-cli login" in result.stderr
    assert not_a_db.returncode == 1 and "kiro-cli database" in not_a_db.stderr
    assert "Traceback" not in result.stderr + not_a_db.stderr


def test_add_refuses_a_region_that_is_not_an_aws_region(cli_env: dict[str, str]) -> None:
    done = _cli(
        cli_env,
        "add",
        "--refresh-token-file",
        "-",
        "--region",
        "x@127.0.0.1:9/#",
        stdin="aor-cli-region-token",
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "not an AWS region" in done.stderr
    listing = _cli(cli_env, "list", "--json")
    assert json.loads(listing.stdout) == {"accounts": [], "invalid": []}, listing.stdout
