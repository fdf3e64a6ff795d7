"""Shared fixtures: real OTLP peers (reference sink in another process, rotel relay)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# make `peers` importable whatever pytest's import mode / rootdir is
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from peers import Rotel, Sink  # noqa: E402
from peers import free_port as _free_port  # noqa: E402

try:
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "dev",
        max_examples=50,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.register_profile(
        "ci",
        max_examples=300,
        deadline=None,
        derandomize=True,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    pass


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listened on a moment ago."""
    return _free_port()


@pytest.fixture
def sink(tmp_path):
    """A reference OTLP/gRPC sink recording every request (function scope)."""
    with Sink(workdir=tmp_path / "sink") as s:
        yield s


@pytest.fixture
def sink_factory(tmp_path):
    """Start extra sinks with options, e.g. ``sink_factory(status="UNAVAILABLE")``, ``sink_factory(delay=2)``,
    ``sink_factory(count_only=True)``. All are stopped at teardown."""
    started = []

    def make(**kw) -> Sink:
        s = Sink(workdir=tmp_path / f"sink{len(started)}", **kw)
        started.append(s)
        return s.start()

    yield make
    for s in started:
        s.close()


@pytest.fixture
def rotel_relay(sink, tmp_path):
    """rotel collector receiving OTLP on 127.0.0.1 and exporting (gRPC) to ``sink``.

    Send to ``rotel_relay.endpoint``; read what arrived from ``rotel_relay.sink``."""
    with Rotel(sink.endpoint, workdir=tmp_path / "rotel") as r:
        r.sink = sink
        yield r


@pytest.fixture
def unused_endpoint():
    """http://127.0.0.1:PORT where nothing listens (connections are refused)."""
    return f"http://127.0.0.1:{free_port()}"
