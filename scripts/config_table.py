"""Writes the README's configuration table from the settings classes (`--check` fails when stale)."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SERVICES = {
    "router": "services.router.settings:RouterSettings",
    "gateway": "services.gateway.settings:GatewaySettings",
    "refresher": "services.refresher.settings:RefresherSettings",
    "emulator": "services.kiro_emulator.settings:EmulatorSettings",
}
START, END = "<!-- config-table:start -->", "<!-- config-table:end -->"


def _load(path: str) -> type[BaseSettings]:
    module, _, name = path.partition(":")
    cls: type[BaseSettings] = getattr(importlib.import_module(module), name)
    return cls


def _default(field: object) -> str:
    default = getattr(field, "default", None)
    if default is None or str(default) == "PydanticUndefined":
        return ""
    if isinstance(default, bool):
        return "true" if default else "false"
    return f"`{default}`" if str(default) != "" else '`""`'


def table() -> str:
    rows: dict[str, dict[str, object]] = {}
    for service, path in SERVICES.items():
        cls = _load(path)
        required = set(getattr(cls, "required_secrets", ()))
        for name, field in cls.model_fields.items():
            env = name.upper()
            row = rows.setdefault(env, {"defaults": {}, "doc": field.description or "", "by": [], "req": []})
            row["by"].append(service)  # type: ignore[attr-defined]
            row["defaults"][service] = _default(field)  # type: ignore[index]
            if name in required:
                row["req"].append(service)  # type: ignore[attr-defined]
    lines = ["| variable | default | services | meaning |", "|---|---|---|---|"]
    for env in sorted(rows):
        row = rows[env]
        by = list(row["by"])  # type: ignore[call-overload]
        services = "all" if len(by) == len(SERVICES) else ", ".join(by)
        doc = str(row["doc"]).replace("|", "\\|")
        if row["req"]:
            doc += f" (*required* by {', '.join(row['req'])})"  # type: ignore[arg-type]
        defaults: dict[str, str] = row["defaults"]  # type: ignore[assignment]
        if len(set(defaults.values())) == 1:
            default = next(iter(defaults.values()))
        else:
            default = ", ".join(f"{svc} {value}" for svc, value in defaults.items())
        lines.append(f"| `{env}` | {default} | {services} | {doc} |")
    return "\n".join(lines)


def main() -> int:
    readme = ROOT / "README.md"
    text = readme.read_text()
    new = re.sub(
        re.escape(START) + ".*?" + re.escape(END), f"{START}\n{table()}\n{END}", text, flags=re.DOTALL
    )
    if "--check" in sys.argv:
        if new != text:
            print("README.md configuration table is stale: run `python scripts/config_table.py`")
            return 1
        return 0
    readme.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
