"""``otlp.otel.MeterProvider``: the OpenTelemetry metrics API on otlp's Rust instruments.

Instruments are native: ``add``, ``record`` and ``set`` convert their arguments and
aggregate in Rust, with no Python frame of ours in between. They follow the rules the
official SDK applies (names checked and kept in lower case, non-finite values, negative
counter increments and negative histogram values dropped), but a value that cannot be
used is dropped, counted in ``Exporter.stats()`` and reported once through the ``otlp``
logger rather than logged every time. Exemplars are not recorded. A series an
observable instrument's callback stops reporting is forgotten (its memory freed): with
delta temporality, if it is reported again its first delta is its whole value, where
the official SDK would subtract the total it last saw.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Optional, TypeVar, cast

from opentelemetry import metrics
from opentelemetry.metrics import CallbackT
from opentelemetry.util.types import Attributes

from otlp import _native
from otlp._exporter import Exporter
from otlp.otel._config import sdk_disabled

__all__ = ["Meter", "MeterProvider"]

_logger = logging.getLogger("otlp")

# The API's isinstance() checks (its proxies, instrumentation libraries) see the native
# instruments as what they are.
metrics.Counter.register(_native.OtelCounter)
metrics.UpDownCounter.register(_native.OtelUpDownCounter)
metrics.Histogram.register(_native.OtelHistogram)
metrics._Gauge.register(_native.OtelGauge)
metrics.ObservableCounter.register(_native.OtelObservableCounter)
metrics.ObservableUpDownCounter.register(_native.OtelObservableUpDownCounter)
metrics.ObservableGauge.register(_native.OtelObservableGauge)

_T = TypeVar("_T")


class Meter(metrics.Meter):
    """Creates the instruments of one instrumentation scope. Get one from
    :meth:`MeterProvider.get_meter` (or ``opentelemetry.metrics.get_meter``).

    An instrument asked for again (same name in any case, kind, unit and description)
    is the same object; one whose name or unit the API does not allow is reported on
    the ``otlp`` logger and is a no-op instrument.
    """

    def __init__(
        self, native: _native.Meter, name: str, version: Optional[str], schema_url: Optional[str]
    ) -> None:
        super().__init__(name, version=version, schema_url=schema_url)
        self._native = native
        self._instruments: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _instrument(
        self,
        kind: type,
        name: str,
        unit: Optional[str],
        description: Optional[str],
        make: Callable[[str, str], _T],
        no_op: Callable[..., _T],
        advisory: Optional[Sequence[float]] = None,
    ) -> _T:
        unit, description = unit or "", description or ""
        shown = kind.__name__.removeprefix("Otel")
        with self._lock:
            status = self._register_instrument(name, kind, unit, description, advisory)  # type: ignore[arg-type]
            instrument = self._instruments.get(status.instrument_id)
            if instrument is None:
                try:
                    instrument = make(unit, description)
                except ValueError as e:
                    _logger.warning("%s; this %s records nothing", e, shown)
                    instrument = no_op(name, unit=unit, description=description)
                self._instruments[status.instrument_id] = instrument
        if status.conflict:
            self._log_instrument_registration_conflict(name, shown, unit, description, status)
        return cast(_T, instrument)

    def create_counter(self, name: str, unit: str = "", description: str = "") -> metrics.Counter:
        return self._instrument(
            _native.OtelCounter,
            name,
            unit,
            description,
            lambda u, d: cast(metrics.Counter, self._native._otel_counter(name, u, d)),
            metrics.NoOpCounter,
        )

    def create_up_down_counter(
        self, name: str, unit: str = "", description: str = ""
    ) -> metrics.UpDownCounter:
        return self._instrument(
            _native.OtelUpDownCounter,
            name,
            unit,
            description,
            lambda u, d: cast(metrics.UpDownCounter, self._native._otel_up_down_counter(name, u, d)),
            metrics.NoOpUpDownCounter,
        )

    def create_histogram(
        self,
        name: str,
        unit: str = "",
        description: str = "",
        *,
        explicit_bucket_boundaries_advisory: Optional[Sequence[float]] = None,
    ) -> metrics.Histogram:
        advisory = explicit_bucket_boundaries_advisory
        return self._instrument(
            _native.OtelHistogram,
            name,
            unit,
            description,
            lambda u, d: cast(metrics.Histogram, self._native._otel_histogram(name, u, d, advisory)),
            metrics.NoOpHistogram,
            advisory,
        )

    def create_gauge(self, name: str, unit: str = "", description: str = "") -> metrics._Gauge:
        return self._instrument(
            _native.OtelGauge,
            name,
            unit,
            description,
            lambda u, d: cast(metrics._Gauge, self._native._otel_gauge(name, u, d)),
            metrics._NoOpGauge,
        )

    def create_observable_counter(
        self,
        name: str,
        callbacks: Optional[Sequence[CallbackT]] = None,
        unit: str = "",
        description: str = "",
    ) -> metrics.ObservableCounter:
        return self._instrument(
            _native.OtelObservableCounter,
            name,
            unit,
            description,
            lambda u, d: cast(
                metrics.ObservableCounter, self._native._otel_observable_counter(name, callbacks, u, d)
            ),
            metrics.NoOpObservableCounter,
        )

    def create_observable_up_down_counter(
        self,
        name: str,
        callbacks: Optional[Sequence[CallbackT]] = None,
        unit: str = "",
        description: str = "",
    ) -> metrics.ObservableUpDownCounter:
        return self._instrument(
            _native.OtelObservableUpDownCounter,
            name,
            unit,
            description,
            lambda u, d: cast(
                metrics.ObservableUpDownCounter,
                self._native._otel_observable_up_down_counter(name, callbacks, u, d),
            ),
            metrics.NoOpObservableUpDownCounter,
        )

    def create_observable_gauge(
        self,
        name: str,
        callbacks: Optional[Sequence[CallbackT]] = None,
        unit: str = "",
        description: str = "",
    ) -> metrics.ObservableGauge:
        return self._instrument(
            _native.OtelObservableGauge,
            name,
            unit,
            description,
            lambda u, d: cast(
                metrics.ObservableGauge, self._native._otel_observable_gauge(name, callbacks, u, d)
            ),
            metrics.NoOpObservableGauge,
        )


class MeterProvider(metrics.MeterProvider):
    """An OpenTelemetry ``MeterProvider`` whose instruments aggregate in otlp's Rust
    core and are exported by an :class:`otlp.Exporter`.

    Use it where the official SDK's ``MeterProvider`` would go::

        opentelemetry.metrics.set_meter_provider(otlp.otel.MeterProvider())

    or select it with ``OTEL_PYTHON_METER_PROVIDER=otlp``. Collection interval, export
    timeout, temporality (``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE``) and
    cardinality limit are the exporter's :class:`otlp.MetricsConfig`.

    Args:
        exporter: where metrics go. ``None`` (the default) makes one with
            :meth:`otlp.Exporter.from_env`, owned by the provider (its
            :meth:`shutdown` shuts it down); an exporter passed in is only flushed
            by :meth:`shutdown`, and may be shared with the other providers.

    With ``OTEL_SDK_DISABLED=true`` every meter is a no-op and no exporter is made.
    """

    def __init__(self, exporter: Optional[Exporter] = None) -> None:
        self._disabled = sdk_disabled()
        self._owns_exporter = exporter is None
        self._exporter: Optional[Exporter] = None
        if not self._disabled:
            self._exporter = exporter if exporter is not None else Exporter.from_env()
        self._meters: dict[tuple[str, Optional[str], Optional[str]], list[tuple[Attributes, Meter]]] = {}
        self._lock = threading.Lock()
        self._shut_down = False

    @property
    def exporter(self) -> Optional[Exporter]:
        """The exporter metrics go to (``None`` when the SDK is disabled)."""
        return self._exporter

    def get_meter(
        self,
        name: str,
        version: Optional[str] = None,
        schema_url: Optional[str] = None,
        attributes: Attributes = None,
    ) -> metrics.Meter:
        """The meter of an instrumentation scope: the same one for the same name,
        version, schema URL and attributes."""
        if self._exporter is None:
            return metrics.NoOpMeter(name, version=version, schema_url=schema_url)
        if self._shut_down:
            _logger.warning("a shut down MeterProvider hands out no-op meters")
            return metrics.NoOpMeter(name, version=version, schema_url=schema_url)
        if not name:
            _logger.warning("a meter needs a name; got %r: it records nothing", name)
            return metrics.NoOpMeter(name, version=version, schema_url=schema_url)
        key = (name, version, schema_url)
        with self._lock:
            same_key = self._meters.setdefault(key, [])
            for attrs, meter in same_key:
                if attrs == attributes:
                    return meter
            # The API's type allows None values, which the exporter refuses by name.
            scope_attributes = cast("Optional[Mapping[str, Any]]", attributes)
            native = self._exporter.meter(name, version, schema_url=schema_url, attributes=scope_attributes)
            meter = Meter(native, name, version, schema_url)
            same_key.append((attributes, meter))
            return meter

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """Collect and export now; True when everything was delivered in time."""
        if self._exporter is None:
            return True
        return self._exporter.force_flush(timeout_millis / 1000)

    def shutdown(self, timeout_millis: float = 30_000) -> None:
        """Export what was recorded, then hand out only no-op meters. The exporter is
        shut down if the provider made it, else flushed."""
        with self._lock:
            if self._shut_down:
                _logger.warning("MeterProvider.shutdown() can only be called once")
                return
            self._shut_down = True
        if self._exporter is None:
            return
        if self._owns_exporter:
            self._exporter.shutdown(timeout_millis / 1000)
        else:
            self._exporter.force_flush(timeout_millis / 1000)
