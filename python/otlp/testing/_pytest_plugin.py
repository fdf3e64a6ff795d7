"""The ``otlp_receiver`` fixture. Loaded by pytest through the ``pytest11`` entry
point, so it imports nothing of otlp until the fixture is used."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from otlp.testing import Receiver


@pytest.fixture
def otlp_receiver() -> Iterator[Receiver]:
    """An ``otlp.testing.Receiver`` on free loopback ports, closed after the test."""
    from otlp.testing import Receiver

    with Receiver() as rx:
        yield rx
