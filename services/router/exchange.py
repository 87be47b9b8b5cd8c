"""One client request as the router carries it from the pick to the end of the answer."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.client_errors import Protocol
from shared.clientkey_record import ClientKey


@dataclass
class Exchange:
    """One client request as the relay needs it after the pick."""

    route: str
    protocol: Protocol
    model: str
    key: ClientKey | None
    request_id: str
    started: float  # perf_counter at arrival
    trail: list[str] = field(default_factory=list)  # "account:reason" of each account failed over
    key_slot: str = ""  # the admitted request's entry in its key's in-flight set (freed when it ends)

    @property
    def key_label(self) -> str:
        """The client key in metrics: its id (never the key or its name), "-" without one."""
        return self.key.id if self.key is not None else "-"
