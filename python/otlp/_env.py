"""``Exporter.from_env()``: exporter settings from the OpenTelemetry environment variables.

Follows the OTLP exporter specification: ``OTEL_EXPORTER_OTLP_*`` for every signal,
``OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_*`` for one signal (they win), plus the batch
span processor (``OTEL_BSP_*``), batch log record processor (``OTEL_BLRP_*``) and
periodic metric reader (``OTEL_METRIC_EXPORT_*``) variables. An empty variable counts as
unset. A value that cannot be used raises :class:`otlp.errors.ConfigError` naming the
variable, rather than being skipped in silence.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from typing import Any, Optional, cast
from urllib.parse import unquote

from otlp._config import _DEFAULTS, MAX_SECONDS, TLS, BatchConfig, MetricsConfig
from otlp._types import Temporality
from otlp.errors import ConfigError

__all__ = ["default_endpoint", "exporter_kwargs"]

_PREFIX = "OTEL_EXPORTER_OTLP_"
_SIGNALS = ("traces", "metrics", "logs")
_CHOICES = _DEFAULTS["choices"]
_PROTOCOLS = tuple(_CHOICES["protocol"])
_COMPRESSIONS = tuple(_CHOICES["compression"])
_DEFAULT_HTTP_ENDPOINT = "http://localhost:4318"


def _get(env: Mapping[str, str], name: str) -> Optional[str]:
    value = env.get(name, "").strip()
    return value or None


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> Optional[str]:
    value = _get(env, name)
    if value is None:
        return None
    if value.lower() not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ConfigError(f"{name} must be one of {allowed}; got {value!r}")
    return value.lower()


def _number(env: Mapping[str, str], name: str, convert: Callable[[str], Any], what: str) -> Any:
    value = _get(env, name)
    if value is None:
        return None
    try:
        number = convert(value)
    except ValueError:
        raise ConfigError(f"{name} must be {what}; got {value!r}") from None
    if number < 0:
        raise ConfigError(f"{name} must be {what}; got {value!r}")
    return number


def _millis(env: Mapping[str, str], name: str) -> Optional[float]:
    ms = _number(env, name, float, "a number of milliseconds")
    if ms is None:
        return None
    if math.isnan(ms):
        raise ConfigError(f"{name} must be a finite number of milliseconds; got {env[name].strip()!r}")
    if ms > MAX_SECONDS * 1000:
        raise ConfigError(
            f"{name} must be at most {MAX_SECONDS * 1000} milliseconds (one year); got {env[name].strip()!r}"
        )
    return float(ms) / 1000.0


def _count(env: Mapping[str, str], name: str) -> Optional[int]:
    n: Optional[int] = _number(env, name, int, "a whole number")
    return n


def _bool(env: Mapping[str, str], name: str) -> Optional[bool]:
    value = _get(env, name)
    if value is None:
        return None
    if value.lower() not in ("true", "false"):
        raise ConfigError(f"{name} must be 'true' or 'false'; got {value!r}")
    return value.lower() == "true"


def _headers(env: Mapping[str, str], name: str) -> Optional[dict[str, str]]:
    """``key=value,key2=value2``, both sides percent-decoded."""
    value = _get(env, name)
    if value is None:
        return None
    out: dict[str, str] = {}
    for index, item in enumerate(value.split(","), 1):
        if not item.strip():
            continue
        key, sep, val = item.partition("=")
        key = unquote(key.strip())
        if not sep or not key:
            # Header values are often credentials: the entry itself is never shown.
            hint = " (write key=value, not key:value)" if ":" in item else ""
            raise ConfigError(f"{name}: entry {index} is not a key=value pair{hint}")
        out[key.lower()] = unquote(val.strip())
    return out


def _endpoint(url: str, name: str, protocol: str, insecure: Optional[bool]) -> str:
    """``url`` with a scheme. Only gRPC may leave it out: ``OTEL_EXPORTER_OTLP_INSECURE``
    then chooses between ``http://`` and ``https://``."""
    if "://" in url:
        return url
    if protocol != "grpc":
        raise ConfigError(f"{name} must start with http:// or https://; got {_redacted(url)!r}")
    return ("http://" if insecure else "https://") + url


def _transport(env: Mapping[str, str], prefix: str, protocol: str) -> dict[str, Any]:
    """The transport settings the variables starting with ``prefix`` give."""
    out: dict[str, Any] = {}
    insecure = _bool(env, prefix + "INSECURE")
    endpoint = _get(env, prefix + "ENDPOINT")
    if endpoint is not None:
        out["endpoint"] = _endpoint(endpoint, prefix + "ENDPOINT", protocol, insecure)
    headers = _headers(env, prefix + "HEADERS")
    if headers is not None:
        out["headers"] = headers
    compression = _choice(env, prefix + "COMPRESSION", _COMPRESSIONS)
    if compression is not None:
        out["compression"] = compression
    timeout = _millis(env, prefix + "TIMEOUT")
    if timeout is not None:
        if timeout <= 0:
            raise ConfigError(f"{prefix}TIMEOUT must be more than 0 milliseconds")
        out["timeout"] = timeout
    ca_file = _get(env, prefix + "CERTIFICATE")
    cert_file = _get(env, prefix + "CLIENT_CERTIFICATE")
    key_file = _get(env, prefix + "CLIENT_KEY")
    if ca_file or cert_file or key_file:
        out["tls"] = TLS(ca_file=ca_file, cert_file=cert_file, key_file=key_file)
    return out


def _redacted(url: str) -> str:
    """``url`` without what often carries secrets: credentials, query string, fragment."""
    for mark in "?#":
        if mark in url:
            url = url.split(mark, 1)[0] + "?***"
    scheme, sep, rest = url.rpartition("://")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rsplit("@", 1)[1]
    return f"{scheme}{sep}{authority}{slash}{path}"


def default_endpoint(protocol: str, signal: Optional[str] = None) -> str:
    """The specification's default endpoint for ``protocol`` (a signal's own URL if given)."""
    if protocol == "grpc":
        return str(_DEFAULTS["exporter"]["endpoint"])
    return _DEFAULT_HTTP_ENDPOINT + (f"/v1/{signal}" if signal else "")


def _batch(env: Mapping[str, str], prefix: str, defaults: BatchConfig) -> Optional[BatchConfig]:
    """``OTEL_BSP_*`` or ``OTEL_BLRP_*``; unset ones keep ``defaults``. (``*_EXPORT_TIMEOUT``
    has no counterpart: ``timeout`` bounds each attempt, ``RetryPolicy`` all of them.)

    A queue set smaller than the default batch size makes the batch size follow it (as
    the other OpenTelemetry SDKs do); both set inconsistently is an error naming both."""
    delay = _millis(env, prefix + "SCHEDULE_DELAY")
    queue = _count(env, prefix + "MAX_QUEUE_SIZE")
    size = _count(env, prefix + "MAX_EXPORT_BATCH_SIZE")
    if delay is None and queue is None and size is None:
        return None
    if queue is not None and size is None:
        size = min(queue, defaults.max_export_batch_size)
    elif queue is None and size is not None:
        queue = max(size, defaults.max_queue_size)
    try:
        return BatchConfig(
            max_queue_size=defaults.max_queue_size if queue is None else queue,
            max_export_batch_size=defaults.max_export_batch_size if size is None else size,
            schedule_delay=defaults.schedule_delay if delay is None else delay,
        )
    except ConfigError as e:
        # Name the variables, not the BatchConfig fields they became.
        message = str(e)
        for field in ("max_queue_size", "max_export_batch_size", "schedule_delay"):
            message = message.replace(f"`{field}`", prefix + field.upper())
        raise ConfigError(message) from None


def _metrics(env: Mapping[str, str]) -> Optional[MetricsConfig]:
    interval = _millis(env, "OTEL_METRIC_EXPORT_INTERVAL")
    timeout = _millis(env, "OTEL_METRIC_EXPORT_TIMEOUT")
    temporality = _choice(env, _PREFIX + "METRICS_TEMPORALITY_PREFERENCE", tuple(_CHOICES["temporality"]))
    if interval is None and timeout is None and temporality is None:
        return None
    d = MetricsConfig()
    return MetricsConfig(
        interval=d.interval if interval is None else interval,
        timeout=d.timeout if timeout is None else timeout,
        temporality=d.temporality if temporality is None else cast(Temporality, temporality),
    )


def exporter_kwargs(env: Optional[Mapping[str, str]] = None) -> dict[str, Any]:
    """``otlp.Exporter`` keyword arguments from ``env`` (default ``os.environ``). Without
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` there is no ``endpoint``: the default depends on the
    protocol finally chosen (see :func:`default_endpoint`)."""
    env = os.environ if env is None else env
    protocol = _choice(env, _PREFIX + "PROTOCOL", _PROTOCOLS) or "http/protobuf"
    kwargs: dict[str, Any] = {"protocol": protocol}
    kwargs.update(_transport(env, _PREFIX, protocol))
    metrics = _metrics(env)
    if metrics is not None:
        kwargs["metrics"] = metrics
    signals: dict[str, dict[str, Any]] = {}
    for signal in _SIGNALS:
        prefix = f"{_PREFIX}{signal.upper()}_"
        own_protocol = _choice(env, prefix + "PROTOCOL", _PROTOCOLS)
        settings = _transport(env, prefix, own_protocol or protocol)
        if own_protocol is not None and own_protocol != protocol:
            settings["protocol"] = own_protocol
            if "endpoint" not in settings and _get(env, _PREFIX + "ENDPOINT") is None:
                # The default endpoint follows the signal's own protocol.
                settings["endpoint"] = default_endpoint(own_protocol, signal)
        batch = None
        if signal == "traces":
            batch = _batch(env, "OTEL_BSP_", BatchConfig())
        elif signal == "logs":
            batch = _batch(env, "OTEL_BLRP_", BatchConfig(**_DEFAULTS["logs_batch"]))
        if batch is not None:
            settings["batch"] = batch
        if settings:
            signals[signal] = settings
    if signals:
        kwargs["signals"] = signals
    return kwargs
