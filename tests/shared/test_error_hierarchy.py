"""Every exception the project defines is a KiroStackError: one `except` at a boundary catches ours only."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import services
import shared
from shared.errors import KiroStackError

#: test infrastructure, not the product
SKIP = ("services.kiro_emulator",)


def project_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for package in (shared, services):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name.startswith(SKIP) or info.name.endswith("__main__"):
                continue
            module = importlib.import_module(info.name)
            for name, obj in vars(module).items():
                if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == info.name:
                    found[f"{info.name}.{name}"] = obj
    return found


def test_every_project_exception_is_a_kiro_stack_error() -> None:
    found = project_exceptions()
    assert len(found) > 20  # the walk reached the services, not just shared/
    outside = sorted(name for name, cls in found.items() if not issubclass(cls, KiroStackError))
    assert outside == []
