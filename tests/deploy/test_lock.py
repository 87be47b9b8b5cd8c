"""The lock files pin every declared dependency at a version inside its declared range.

`make install` (and so CI) installs from requirements-dev.lock, the image from requirements.lock;
pyproject.toml keeps the ranges for use as a library. A range changed without `make lock` fails here.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PIN = re.compile(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^\s;]+)", re.M)


def pins(lock: str) -> dict[str, str]:
    return {canonicalize_name(name): version for name, version in PIN.findall((ROOT / lock).read_text())}


@pytest.mark.parametrize(
    ("lock", "declared"),
    [
        ("requirements.lock", PROJECT["dependencies"]),
        ("requirements-dev.lock", PROJECT["dependencies"] + PROJECT["optional-dependencies"]["dev"]),
    ],
)
def test_every_declared_dependency_is_pinned_inside_its_range(lock: str, declared: list[str]) -> None:
    pinned = pins(lock)
    wrong = []
    for line in declared:
        req = Requirement(line)
        version = pinned.get(canonicalize_name(req.name))
        if version is None or not req.specifier.contains(version, prereleases=True):
            wrong.append(f"{req} -> {version or 'not pinned'}")
    assert not wrong, f"{lock} is stale (run `make lock`): {wrong}"


def test_the_runtime_lock_carries_no_development_tool() -> None:
    runtime = pins("requirements.lock")
    assert {"pytest", "ruff", "mypy", "playwright"}.isdisjoint(runtime)


def test_install_and_image_install_from_the_locks() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "-r requirements-dev.lock" in makefile
    dockerfile = (ROOT / "deploy/docker/Dockerfile").read_text()
    assert "pip install -r requirements.lock" in dockerfile


def test_every_package_the_code_imports_is_declared() -> None:
    """A package used only through another's dependencies breaks when that one drops it."""
    import ast
    import sys
    from importlib.metadata import packages_distributions

    declared = {
        canonicalize_name(Requirement(line).name)
        for line in PROJECT["dependencies"] + PROJECT["optional-dependencies"]["dev"]
    }
    ours = {"services", "shared", "tests", "bench", "scripts"}
    imported: set[str] = set()
    for folder in ours:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    imported.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    imported.add(node.module.split(".")[0])
    owners = packages_distributions()
    undeclared = sorted(
        name
        for name in imported - ours - set(sys.stdlib_module_names)
        if not {canonicalize_name(d) for d in owners.get(name, [name])} & declared
    )
    assert undeclared == []
