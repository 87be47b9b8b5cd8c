"""Gateway test fixtures: one gateway process per session against the session emulator."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.gateway.support import Account, Emulator, anthropic_client, openai_client, start_gateway
from tests.support.procs import ServiceProcess


@pytest.fixture(scope="session")
def emu(emulator: ServiceProcess) -> Iterator[Emulator]:
    control = Emulator(emulator.url)
    yield control
    control.http.close()


@pytest.fixture(scope="session")
def gateway(emulator: ServiceProcess) -> Iterator[ServiceProcess]:
    proc = start_gateway(emulator.url)
    yield proc
    proc.stop()


@pytest.fixture
def anthropic_sdk() -> Iterator[Callable[..., anthropic.Anthropic]]:
    """`anthropic_sdk(gateway, account, **headers)`: an SDK client closed after the test."""
    made: list[anthropic.Anthropic] = []

    def make(gateway: ServiceProcess, account: Account, **headers: Any) -> anthropic.Anthropic:
        made.append(anthropic_client(gateway, account, **headers))
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.fixture
def openai_sdk() -> Iterator[Callable[..., openai.OpenAI]]:
    """`openai_sdk(gateway, account, **headers)`: an SDK client closed after the test."""
    made: list[openai.OpenAI] = []

    def make(gateway: ServiceProcess, account: Account, **headers: Any) -> openai.OpenAI:
        made.append(openai_client(gateway, account, **headers))
        return made[-1]

    yield make
    for client in made:
        client.close()
