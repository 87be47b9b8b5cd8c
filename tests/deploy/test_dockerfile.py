"""The container image: lint, base image, user, health check, build context, entrypoint, health script."""

from __future__ import annotations

import http.server
import os
import re
import shlex
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.tools import (
    ROOT,
    Stage,
    dockerfile_stages,
    dockerignore_patterns,
    dockerignored,
    run,
    tool,
    tracked_files,
)
from tests.support.procs import free_port

pytestmark = pytest.mark.e2e  # starts processes (tools or services)

DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
ENTRYPOINT = ROOT / "deploy" / "docker" / "entrypoint.sh"
HEALTHCHECK = ROOT / "deploy" / "docker" / "healthcheck.py"


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return dockerfile_stages(DOCKERFILE.read_text())[1]


def test_dockerfile_passes_hadolint() -> None:
    result = run([tool("hadolint"), "--failure-threshold", "warning", str(DOCKERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_reports_a_dockerfile_that_runs_as_root_with_unpinned_base(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /app && pip install flask\nUSER root\n")
    result = run([tool("hadolint"), "--failure-threshold", "warning", str(bad)])
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # latest tag
    assert "DL3002" in result.stdout  # last user root


def test_image_is_multi_stage_on_python_311_slim_pinned_to_a_patch_release(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    for stage in stages:
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", stage.base), stage.base
    runtime = stages[-1]
    copies_from_build = [a for a in runtime.args_of("COPY") if a.startswith("--from=")]
    assert copies_from_build, "the runtime stage should take the built virtualenv from the build stage"


def test_runtime_stage_runs_as_a_non_root_user(stages: list[Stage]) -> None:
    users = stages[-1].args_of("USER")
    assert users, "no USER in the runtime stage: the services would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_runtime_stage_has_a_healthcheck_and_entrypoint_that_execs_the_service(stages: list[Stage]) -> None:
    runtime = stages[-1]
    assert any(a.startswith("--") and "CMD" in a for a in runtime.args_of("HEALTHCHECK"))
    assert runtime.args_of("ENTRYPOINT") == ['["kiro-stack"]']
    # exec form everywhere: a shell between Docker and Python would swallow SIGTERM (no graceful drain)
    body = ENTRYPOINT.read_text()
    assert body.count("exec python -m services.") == 4


def test_every_copied_path_exists_and_is_in_the_build_context(stages: list[Stage]) -> None:
    patterns = dockerignore_patterns(ROOT / ".dockerignore")
    sources = []
    for stage in stages:
        for args in stage.args_of("COPY"):
            words = [w for w in shlex.split(args) if not w.startswith("--")]
            if any(a.startswith("--from=") for a in args.split()):
                continue
            sources += words[:-1]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
        assert not dockerignored(source, patterns), f"COPY {source}: excluded by .dockerignore"
        if (ROOT / source).is_dir():
            files = tracked_files(source)
            assert files and not any(dockerignored(f, patterns) for f in files if "__pycache__" not in f)


def test_build_context_leaves_out_secrets_tests_and_local_state() -> None:
    patterns = dockerignore_patterns(ROOT / ".dockerignore")
    for path in [
        ".env",
        ".stack/secrets.env",
        ".venv/bin/python",
        ".git/config",
        "tests/conftest.py",
        "bench/results/x.json",
        "deploy/k8s/secrets.env",
        "services/router/__pycache__/app.pyc",
    ]:
        assert dockerignored(path, patterns), path


def test_dockerignore_matcher_follows_dockers_last_match_wins_rule() -> None:
    assert dockerignored("a/b.py", ["*"])
    assert not dockerignored("a/b.py", ["*", "!a/"])
    assert dockerignored("a/__pycache__/b.pyc", ["*", "!a/", "**/__pycache__"])


@pytest.fixture
def fake_python(tmp_path: Path) -> Path:
    """A `python` on PATH that prints the arguments it was started with."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python"
    fake.write_text('#!/bin/sh\necho "python $*"\n')
    fake.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("router", "python -m services.router --host 0.0.0.0 --port 8088"),
        ("gateway", "python -m services.gateway --host 0.0.0.0 --port 8000"),
        ("refresher", "python -m services.refresher"),
        ("emulator", "python -m services.kiro_emulator --host 0.0.0.0 --port 9100"),
    ],
)
def test_entrypoint_starts_the_service_named_by_its_first_argument(
    fake_python: Path, role: str, expected: str
) -> None:
    env = {"PATH": f"{fake_python}:/usr/bin:/bin"}
    result = run_entrypoint([role], env)
    assert result.stdout.strip() == expected


def test_entrypoint_takes_host_and_port_from_the_environment_and_passes_extra_arguments(
    fake_python: Path,
) -> None:
    env = {"PATH": f"{fake_python}:/usr/bin:/bin", "HOST": "127.0.0.1", "PORT": "9999"}
    result = run_entrypoint(["gateway", "--log-level", "debug"], env)
    expected = "python -m services.gateway --host 127.0.0.1 --port 9999 --log-level debug"
    assert result.stdout.strip() == expected


def test_entrypoint_runs_any_other_command(fake_python: Path) -> None:
    result = run_entrypoint(["echo", "hello"], {"PATH": f"{fake_python}:/usr/bin:/bin"})
    assert result.stdout.strip() == "hello"


def run_entrypoint(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = run(["/bin/sh", str(ENTRYPOINT), *args], env=env, timeout=10)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def http_status_server() -> Iterator[tuple[str, list[int]]]:
    """A local HTTP server answering every GET with the first status of a mutable list."""
    statuses = [200]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(statuses[0])
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health", statuses
    server.shutdown()
    server.server_close()


def run_healthcheck(url: str) -> int:
    return run([sys.executable, str(HEALTHCHECK)], env={**os.environ, "HEALTHCHECK_URL": url}).returncode


def test_container_healthcheck_is_healthy_on_2xx_and_unhealthy_otherwise(
    http_status_server: tuple[str, list[int]],
) -> None:
    url, statuses = http_status_server
    assert run_healthcheck(url) == 0
    statuses[0] = 503
    assert run_healthcheck(url) == 1
    assert run_healthcheck(f"http://127.0.0.1:{free_port()}/health") == 1


def test_installed_package_carries_the_non_python_files_the_services_load(tmp_path: Path) -> None:
    """The image installs the project with `pip install .`: Lua scripts and panel assets must be in it."""
    result = run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), "."],
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("kiro_stack-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    needed = [f for f in tracked_files("shared", "services") if not f.endswith((".py", ".md"))]
    assert any(f.endswith(".lua") for f in needed)
    missing = [f for f in needed if f not in names]
    assert not missing, f"left out of the installed package: {missing}"
