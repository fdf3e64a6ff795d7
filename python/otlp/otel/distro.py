"""Zero-code setup: ``opentelemetry-instrument`` with otlp's providers.

``opentelemetry-instrument`` (opentelemetry-instrumentation) loads a *distro* and a
*configurator* by entry point before it instruments the libraries it finds:

    OTEL_PYTHON_DISTRO=otlp OTEL_PYTHON_CONFIGURATOR=otlp opentelemetry-instrument python app.py

:class:`OtlpDistro` sets the defaults opentelemetry-distro sets (OTLP over gRPC) and
selects :class:`OtlpConfigurator`, which builds ONE :class:`otlp.Exporter` from the
standard environment (everything :meth:`otlp.Exporter.from_env` reads) and installs
``otlp.otel``'s tracer, meter and logger providers on it as the API's global providers.
It never imports the OpenTelemetry SDK.

With opentelemetry-distro installed as well, ``opentelemetry-instrument`` takes the first
distro and configurator it finds unless told: name ours with ``OTEL_PYTHON_DISTRO=otlp``
(which makes ``otlp`` the configurator unless ``OTEL_PYTHON_CONFIGURATOR`` says otherwise).
"""

from __future__ import annotations

import os
import uuid
from typing import Any

# The module opts out of type checking ("# type: ignore" at its top): its names are unseen.
from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]

from otlp._exporter import Exporter
from otlp.errors import ConfigError
from otlp.otel._config import env_flag, sdk_disabled

__all__ = ["OtlpConfigurator", "OtlpDistro", "configure"]

_SIGNALS = ("traces", "metrics", "logs")

# Per signal, what OTEL_<SIGNAL>_EXPORTER may name here: the OTLP exporter (also by the
# name otlp's exporters have for the SDK's configurator, so switching configurator keeps
# working), or nothing.
_EXPORTERS = ("otlp", "otlp_rust")
_EXPORTER_CHOICES = (*_EXPORTERS, "none")


class OtlpDistro(BaseDistro):  # type: ignore[misc]  # BaseDistro is Any to mypy
    """``OTEL_PYTHON_DISTRO=otlp``: opentelemetry-distro's defaults, otlp's configurator."""

    def _configure(self, **kwargs: Any) -> None:
        # What opentelemetry-distro does, so that switching distro keeps the collector:
        # OTLP over gRPC (localhost:4317) unless the environment says otherwise.
        os.environ.setdefault("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        # opentelemetry-instrument reads this right after the distro is configured.
        os.environ.setdefault("OTEL_PYTHON_CONFIGURATOR", "otlp")


class OtlpConfigurator:
    """``OTEL_PYTHON_CONFIGURATOR=otlp``: all three signals through ``otlp.otel``'s
    providers on one exporter (see :func:`configure`)."""

    def configure(self, **kwargs: Any) -> None:
        configure(auto_instrumentation_version=kwargs.get("auto_instrumentation_version"))


def configure(*, auto_instrumentation_version: str | None = None) -> Exporter | None:
    """Install ``otlp.otel``'s providers as the global tracer, meter and logger providers,
    all on one :class:`otlp.Exporter` made by :meth:`otlp.Exporter.from_env`. Returns
    that exporter, or None when nothing was set up.

    * ``OTEL_SDK_DISABLED=true``: nothing is set up (the API stays a no-op).
    * ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER`` / ``OTEL_LOGS_EXPORTER``:
      ``otlp`` (or unset, or ``otlp_rust``) exports that signal, ``none`` leaves it out.
    * ``OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=true``: records of the standard
      ``logging`` module are exported too, by a handler on the root logger that
      ``logging.basicConfig`` / ``dictConfig`` / ``fileConfig`` leave in place (the
      OpenTelemetry SDK's behaviour; opentelemetry-instrumentation-logging installs no
      handler of its own then).
    * The resource is the one the SDK's configurator builds: ``OTEL_SERVICE_NAME`` and
      ``OTEL_RESOURCE_ATTRIBUTES`` over a random ``service.instance.id`` (one per
      process), and ``auto_instrumentation_version`` as ``telemetry.auto.version``.

    Raises:
        otlp.errors.ConfigError: a variable names something otlp cannot do.
    """
    if sdk_disabled():
        return None
    signals = [signal for signal in _SIGNALS if _exports(signal)]
    if not signals:
        return None

    from opentelemetry import _logs, metrics, trace

    from otlp import otel

    exporter = Exporter.from_env(resource=_resource(auto_instrumentation_version))
    if "traces" in signals:
        trace.set_tracer_provider(otel.TracerProvider(exporter=exporter))
    if "metrics" in signals:
        metrics.set_meter_provider(otel.MeterProvider(exporter=exporter))
    if "logs" in signals:
        provider = otel.LoggerProvider(exporter=exporter)
        _logs.set_logger_provider(provider)
        if env_flag("OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED"):
            from otlp.otel._logs import install_logging_handler

            install_logging_handler(provider)
    return exporter


def _resource(auto_instrumentation_version: str | None) -> dict[str, str]:
    """What the SDK's configurator adds to the environment's resource. The exporter puts
    the attributes given here over the environment's, so an instance id the environment
    names is left to it."""
    resource = {}
    named = {
        pair.partition("=")[0].strip() for pair in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(",")
    }
    if "service.instance.id" not in named:
        resource["service.instance.id"] = str(uuid.uuid4())
    if auto_instrumentation_version:
        resource["telemetry.auto.version"] = auto_instrumentation_version
    return resource


def _exports(signal: str) -> bool:
    """Whether ``OTEL_<SIGNAL>_EXPORTER`` asks for the signal (unset: yes)."""
    name = f"OTEL_{signal.upper()}_EXPORTER"
    chosen = [v.strip().lower() for v in os.environ.get(name, "").split(",") if v.strip()] or ["otlp"]
    for value in chosen:
        if value not in _EXPORTER_CHOICES:
            raise ConfigError(
                f"{name} must be 'otlp', 'otlp_rust' or 'none' with OTEL_PYTHON_CONFIGURATOR=otlp; "
                f"got {value!r} (otlp's providers export over OTLP only)"
            )
    return any(value in _EXPORTERS for value in chosen)
