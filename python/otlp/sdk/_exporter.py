"""The ``otlp.Exporter`` behind an SDK exporter: the official OTLP exporters' arguments
and environment variables turned into its settings.

Precedence, as in the official exporters: an argument, then the signal's own variable
(``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``), then the generic one
(``OTEL_EXPORTER_OTLP_ENDPOINT``), then the default. Two differences, both the
specification's: ``OTEL_EXPORTER_OTLP_*TIMEOUT`` is in milliseconds (the official gRPC
exporter reads seconds), and a value that cannot be used raises
:class:`otlp.errors.ConfigError` naming the variable instead of being skipped.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Optional, Union
from urllib.parse import urlsplit

from otlp import _env
from otlp._config import TLS, BatchConfig
from otlp._exporter import Exporter
from otlp.errors import ConfigError

__all__ = ["Connection", "Headers", "build", "compression_name"]

Signal = Literal["traces", "metrics", "logs"]

#: Headers as the official exporters take them: a mapping, ``(key, value)`` pairs, or
#: ``"key=value,key2=value2"`` (as ``OTEL_EXPORTER_OTLP_HEADERS``).
Headers = Union[Mapping[str, str], Sequence[tuple[str, str]], str]

_PREFIX = "OTEL_EXPORTER_OTLP_"


def compression_name(value: object) -> Optional[str]:
    """``compression`` as a name: a string, or the official exporters' ``Compression``
    enums (``grpc.Compression.Gzip``, the OTLP/HTTP exporter's ``Compression.Gzip``)."""
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        name = value.value if isinstance(value.value, str) else value.name
    elif isinstance(value, str):
        name = value
    else:
        raise TypeError(
            "`compression` must be 'none', 'gzip' or 'zstd' (or a Compression enum); "
            f"got {type(value).__name__}"
        )
    name = name.strip().lower()
    if name == "nocompression":  # grpc.Compression.NoCompression
        name = "none"
    if name == "deflate":
        raise ConfigError("`compression` 'deflate' is not supported: use 'gzip' or 'zstd'")
    return name


def _headers(value: Headers) -> dict[str, str]:
    if isinstance(value, str):
        return _env._headers({"headers": value}, "headers") or {}
    if isinstance(value, Mapping):
        return dict(value)
    out: dict[str, str] = {}
    for item in value:
        if not (isinstance(item, tuple) and len(item) == 2):
            raise TypeError("`headers` must be a mapping, (key, value) pairs or a 'key=value,...' string")
        out[item[0]] = item[1]
    return out


def _grpc_endpoint(url: str) -> str:
    # The official gRPC exporter keeps only the host and port of a URL.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else url


class Connection:
    """Where and how an SDK exporter sends, as given to its constructor."""

    def __init__(
        self,
        *,
        endpoint: Optional[str] = None,
        insecure: Optional[bool] = None,
        headers: Optional[Headers] = None,
        timeout: Optional[float] = None,
        compression: object = None,
        certificate_file: Optional[str] = None,
        client_key_file: Optional[str] = None,
        client_certificate_file: Optional[str] = None,
        protocol: Optional[str] = None,
    ) -> None:
        if endpoint is not None and not isinstance(endpoint, str):
            raise TypeError(f"`endpoint` must be a str; got {type(endpoint).__name__}")
        if insecure is not None and not isinstance(insecure, bool):
            raise TypeError(f"`insecure` must be a bool; got {type(insecure).__name__}")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))):
            raise TypeError(f"`timeout` must be a number of seconds; got {type(timeout).__name__}")
        self.endpoint = endpoint
        self.insecure = insecure
        self.headers = None if headers is None else _headers(headers)
        self.timeout = timeout
        self.compression = compression_name(compression)
        self.files = (certificate_file, client_certificate_file, client_key_file)
        self.protocol = protocol

    def given(self) -> bool:
        """Whether any setting was given."""
        return any(
            v is not None
            for v in (
                self.endpoint,
                self.insecure,
                self.headers,
                self.timeout,
                self.compression,
                self.protocol,
            )
        ) or any(self.files)

    def exporter_kwargs(
        self, signal: Signal, *, batch: Optional[BatchConfig] = None, env: Optional[Mapping[str, str]] = None
    ) -> dict[str, Any]:
        """``otlp.Exporter`` arguments for ``signal``: these settings over the environment's."""
        env = os.environ if env is None else env
        kwargs = _env.exporter_kwargs(env)
        own: dict[str, Any] = kwargs.pop("signals", {}).get(signal, {})
        prefix = f"{_PREFIX}{signal.upper()}_"
        # Python's OpenTelemetry SDK picks its gRPC exporter for "otlp" unless a protocol
        # is set; so does this one.
        named = _env._get(env, prefix + "PROTOCOL") or _env._get(env, _PREFIX + "PROTOCOL")
        protocol = self.protocol or own.pop("protocol", None) or (kwargs["protocol"] if named else "grpc")
        own.pop("protocol", None)
        kwargs["protocol"] = protocol
        if "endpoint" not in kwargs:
            kwargs["endpoint"] = _env.default_endpoint(protocol)
        if self.endpoint is not None:
            insecure = self.insecure
            if insecure is None:
                insecure = _env._bool(env, prefix + "INSECURE")
            if insecure is None:
                insecure = _env._bool(env, _PREFIX + "INSECURE")
            url = _env._endpoint(self.endpoint, "endpoint", protocol, insecure)
            # A signal's own endpoint is its whole URL, as the official OTLP/HTTP
            # exporters take theirs.
            own["endpoint"] = _grpc_endpoint(url) if protocol == "grpc" else url
        if self.headers is not None:
            own["headers"] = self.headers
        if self.timeout is not None:
            own["timeout"] = float(self.timeout)
        if self.compression is not None:
            own["compression"] = self.compression
        if any(self.files):
            ca_file, cert_file, key_file = self.files
            own["tls"] = TLS(ca_file=ca_file, cert_file=cert_file, key_file=key_file)
        if batch is not None:
            own["batch"] = batch
        if signal == "metrics":
            own.pop("batch", None)
        if own:
            kwargs["signals"] = {signal: own}
        return kwargs


def build(
    signal: Signal,
    connection: Connection,
    exporter: Optional[Exporter],
    *,
    batch: Optional[BatchConfig] = None,
) -> tuple[Exporter, bool]:
    """The exporter to send ``signal`` through, and whether it was made here (and is
    shut down with the SDK exporter) or given (shared: its owner shuts it down)."""
    if exporter is not None:
        if not isinstance(exporter, Exporter):
            raise TypeError(f"`exporter` must be an otlp.Exporter; got {type(exporter).__name__}")
        if connection.given():
            raise TypeError(
                "pass either `exporter` (an otlp.Exporter, which has its own settings) "
                "or connection settings, not both"
            )
        return exporter, False
    return Exporter(**connection.exporter_kwargs(signal, batch=batch)), True
