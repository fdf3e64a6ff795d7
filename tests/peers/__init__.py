"""Real OTLP peers for tests: a reference grpcio sink (another process) and the rotel collector."""

from .rotel import Rotel, free_port, rotel_binary, wait_for_port
from .sink import Sink, SinkError

__all__ = ["Rotel", "Sink", "SinkError", "free_port", "rotel_binary", "wait_for_port"]
