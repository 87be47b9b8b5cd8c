"""What an add or import did, for the admin API, the CLI and the panel (never a secret)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ImportReport:
    """What an add/import did: ids added and updated, entries skipped with the reason."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    #: runtime settings the import applied (kiro-go: thinking suffix and formats), name -> value
    settings: dict[str, Any] = field(default_factory=dict)
    #: client keys the import stored (hashed) and ones that were there already; never the keys
    client_keys_created: int = 0
    client_keys_existing: int = 0

    def skip(self, entry: str, reason: str) -> None:
        self.skipped.append({"entry": entry, "reason": reason})

    def summary(self) -> str:
        """One line for people: what was carried over (never a secret)."""
        accounts = len(self.added) + len(self.updated)
        parts = [
            f"{accounts} account{'s' * (accounts != 1)} ({len(self.added)} new, {len(self.updated)} updated"
            f", {len(self.skipped)} skipped)"
        ]
        if self.settings:
            shown = (
                f"{k}={f'{len(v)} aliases' if isinstance(v, dict) else v}" for k, v in self.settings.items()
            )
            parts.append("settings applied: " + ", ".join(shown))
        if self.client_keys_created or self.client_keys_existing:
            created = self.client_keys_created
            text = f"{created} client key{'s' * (created != 1)} created"
            if self.client_keys_existing:
                text += f" ({self.client_keys_existing} already there)"
            parts.append(text)
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "skipped": self.skipped,
            "settings": self.settings,
            "client_keys": {"created": self.client_keys_created, "existing": self.client_keys_existing},
            "summary": self.summary(),
        }
