"""``otlp.otel.LoggerProvider`` against the official SDK: the same log records, made
through the OpenTelemetry logs API (``Logger.emit`` with an API ``LogRecord`` or with
keywords) and through the standard ``logging`` bridges (opentelemetry-instrumentation-
logging's ``LoggingHandler``, and the handler that
``OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=true`` installs), reach one reference
sink from the official ``LoggerProvider`` + ``BatchLogRecordProcessor`` +
``OTLPLogExporter`` and another from ``otlp``; the decoded records must be equal: scopes,
bodies, severities, attributes, event names, trace context and the timestamps the caller
gave. Times the SDK takes from the clock are only checked to be set.

Plus the rules a user meets directly: ``OTEL_LOGRECORD_*`` limits, ``OTEL_SDK_DISABLED``,
loggers after shutdown, and the handler staying through ``logging.basicConfig``.
"""

from __future__ import annotations

import decimal
import enum
import itertools
import logging
import logging.config
import threading
import time
import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import _logs, trace
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.instrumentation.logging.handler import LoggingHandler as InstrumentationHandler
from opentelemetry.sdk._logs import LoggerProvider as SdkLoggerProvider
from opentelemetry.sdk._logs import LoggingHandler as SdkLoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import otlp
import otlp.otel
from otlp.errors import ConfigError
from otlp.otel._logs import install_logging_handler

pytestmark = pytest.mark.timeout(120)

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
SPAN_ID = 0x00F067AA0BA902B7


@pytest.fixture(autouse=True)
def _quiet_sdk(caplog):
    # Both sides report the attribute values they clean or drop.
    for name in ("opentelemetry.attributes", "opentelemetry.sdk._logs", "otlp"):
        caplog.set_level(logging.CRITICAL, logger=name)


# -------------------------------------------------------------------------
# what reaches a sink, normalised
# -------------------------------------------------------------------------


def anyvalue(av: Any) -> tuple:
    which = av.WhichOneof("value")
    if which is None:
        return ("empty",)
    if which == "array_value":
        return ("array", tuple(anyvalue(v) for v in av.array_value.values))
    if which == "kvlist_value":
        return ("kvlist", attrs(av.kvlist_value.values))
    return (which, getattr(av, which))


def attrs(kvs: Any) -> tuple:
    return tuple((kv.key, anyvalue(kv.value)) for kv in kvs)


def records(sink, given_times: bool = True, start: int = 0) -> list:
    """The records of the sink's requests from the ``start``-th on, in emit order, with
    their scope."""
    out = []
    for req in sink.requests("logs")[start:]:
        for rl in req.resource_logs:
            for sl in rl.scope_logs:
                scope = (sl.scope.name, sl.scope.version, attrs(sl.scope.attributes), sl.schema_url)
                for lr in sl.log_records:
                    out.append(
                        (
                            lr.observed_time_unix_nano,
                            (
                                scope,
                                anyvalue(lr.body),
                                lr.severity_number,
                                lr.severity_text,
                                attrs(lr.attributes),
                                lr.dropped_attributes_count,
                                lr.event_name,
                                lr.trace_id.hex(),
                                lr.span_id.hex(),
                                lr.flags,
                                lr.time_unix_nano if given_times else lr.time_unix_nano > 0,
                                lr.observed_time_unix_nano > 0,
                            ),
                        )
                    )
    # Batches from different scopes may arrive in any order; the observed time (set by
    # the caller or the clock at emit) is the emit order.
    return [r for _, r in sorted(out, key=lambda t: t[0])]


class Sides:
    """The official SDK and otlp, each exporting to its own sink."""

    def __init__(self, official_sink, our_sink) -> None:
        self.official_sink, self.our_sink = official_sink, our_sink

    def official(self) -> SdkLoggerProvider:
        provider = SdkLoggerProvider(shutdown_on_exit=False)
        exporter = OTLPLogExporter(endpoint=self.official_sink.address, insecure=True)
        provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
        return provider

    def ours(self) -> otlp.otel.LoggerProvider:
        return otlp.otel.LoggerProvider(otlp.Exporter(self.our_sink.endpoint))

    def compare(self, run, given_times: bool = True) -> list:
        """Run ``run(provider)`` on both sides; the records must be equal."""
        official_start = self.official_sink.request_count("logs")
        our_start = self.our_sink.request_count("logs")
        official = self.official()
        try:
            run(official)
            assert official.force_flush(10_000)
        finally:
            official.shutdown()
        ours = self.ours()
        try:
            run(ours)
            assert ours.force_flush(10_000)
        finally:
            ours.shutdown()
        expected = records(self.official_sink, given_times, official_start)
        got = records(self.our_sink, given_times, our_start)
        assert got == expected
        return got


@pytest.fixture
def sides(sink, sink_factory):
    return Sides(sink, sink_factory())


def in_span(sampled: bool = True) -> NonRecordingSpan:
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else 0)
    return NonRecordingSpan(SpanContext(TRACE_ID, SPAN_ID, is_remote=False, trace_flags=flags))


# -------------------------------------------------------------------------
# Logger.emit: random records through the API
# -------------------------------------------------------------------------

leaf = st.one_of(
    st.text(max_size=5),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-8, 8).map(lambda i: i / 4),
    st.binary(max_size=3),
)


class Color(enum.Enum):
    RED = 1


# Log attributes are AnyValues: mixed and nested arrays and maps too. Objects of other
# types become their str() when their class defines one (an enum member, a Decimal),
# else an empty value, as the SDK's attribute cleaning makes them.
value = st.one_of(
    leaf,
    st.none(),
    st.lists(st.text(max_size=3), max_size=3),
    st.lists(st.integers(-5, 5), max_size=3).map(tuple),
    st.lists(st.one_of(leaf, st.none()), max_size=3),
    st.lists(st.lists(st.integers(0, 3), max_size=2), max_size=2),
    st.dictionaries(st.sampled_from(["x", "y"]), leaf, max_size=2),
    st.dictionaries(st.sampled_from(["x"]), st.dictionaries(st.sampled_from(["y"]), leaf), max_size=1),
    st.sampled_from([Color.RED, decimal.Decimal("1.5")]),
)
attributes = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(["k", "http.route", "ok", "n", "exception.type"]), value, max_size=4),
)
bodies = st.one_of(
    st.none(),
    leaf,
    st.lists(leaf, max_size=3),
    st.dictionaries(st.sampled_from(["a", "b"]), leaf, max_size=2),
)


class PaymentError(Exception):
    pass


def raised(kind: str) -> BaseException:
    try:
        if kind == "payment":
            raise PaymentError("card declined", 402)
        raise KeyError("sku")
    except Exception as e:  # noqa: BLE001 - the test wants the instance with its traceback
        return e


emits = st.fixed_dictionaries(
    {
        "logger": st.integers(0, 1),
        "as_record": st.booleans(),
        "body": bodies,
        "severity_number": st.one_of(st.none(), st.sampled_from(list(SeverityNumber))),
        "severity_text": st.one_of(st.none(), st.sampled_from(["INFO", "warn", ""])),
        "attributes": attributes,
        "event_name": st.one_of(st.none(), st.sampled_from(["checkout.done", ""])),
        "exception": st.one_of(st.none(), st.sampled_from(["payment", "key"])),
        "timestamp": st.one_of(st.none(), st.integers(1, 2**62)),
        # None: no span; "current": the span is current; "given": passed as context.
        "span": st.sampled_from([None, "current", "given", "unsampled"]),
    }
)


def emit_all(program: list, provider) -> None:
    loggers = [
        provider.get_logger("app", "1.0"),
        provider.get_logger(
            "lib", schema_url="https://opentelemetry.io/schemas/1.21.0", attributes={"tier": 2}
        ),
    ]
    for n, e in enumerate(program):
        logger = loggers[e["logger"]]
        exception = raised(e["exception"]) if e["exception"] else None
        span = in_span(sampled=e["span"] != "unsampled") if e["span"] else None
        context = trace.set_span_in_context(span) if span is not None and e["span"] == "given" else None
        fields = dict(
            timestamp=e["timestamp"],
            # Distinct and increasing: the emit order at the sink.
            observed_timestamp=1_000_000 + n,
            severity_number=e["severity_number"],
            severity_text=e["severity_text"],
            body=e["body"],
            attributes=e["attributes"],
            event_name=e["event_name"],
            exception=exception,
        )
        with trace.use_span(span if span is not None and context is None else trace.INVALID_SPAN):
            if e["as_record"]:
                logger.emit(LogRecord(context=context, **fields))
            else:
                logger.emit(context=context, **fields)


def test_emit_sends_what_the_official_sdk_sends(sides):
    @settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(emits, min_size=1, max_size=8))
    def check(program):
        got = sides.compare(lambda provider: emit_all(program, provider))
        assert len(got) == len(program)
        compared.append(len(got))

    compared: list[int] = []
    check()
    assert len(compared) >= 5, compared


def test_records_carry_the_trace_context_of_the_current_span(sides):
    def run(provider):
        logger = provider.get_logger("app")
        with trace.use_span(in_span()):
            logger.emit(body="inside", observed_timestamp=1)
            logger.emit(LogRecord(body="inside, as a record", observed_timestamp=2))
        logger.emit(body="outside", observed_timestamp=3)

    got = sides.compare(run)
    assert [(r[7], r[8], r[9]) for r in got] == [
        (f"{TRACE_ID:032x}", f"{SPAN_ID:016x}", 1),
        (f"{TRACE_ID:032x}", f"{SPAN_ID:016x}", 1),
        ("", "", 0),
    ]


# -------------------------------------------------------------------------
# the logging bridges
# -------------------------------------------------------------------------


def log_through(handler: logging.Handler) -> None:
    """The same records, through ``handler`` on two ``logging`` loggers."""
    log = logging.getLogger("shop.checkout")
    other = logging.getLogger("shop.db")
    for lg in (log, other):
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
        lg.propagate = False
    try:
        log.info("order %s paid", 42, extra={"order.id": 42, "customer": "c-1", "ratio": 0.5})
        with trace.use_span(in_span()):
            log.warning("slow payment")
            try:
                raise PaymentError("card declined", 402)
            except PaymentError:
                log.exception("payment failed", extra={"retry": False})
        other.debug({"query": "SELECT 1", "rows": 3})
        other.log(logging.CRITICAL + 1, "beyond critical")
        other.error("with stack", stack_info=True)
    finally:
        for lg in (log, other):
            lg.removeHandler(handler)
            lg.propagate = True


def test_the_instrumentation_logging_handler_with_our_provider(sides):
    # opentelemetry-instrumentation-logging's handler, as it installs itself: it asks
    # the provider for a logger per `logging` logger and emits API LogRecords.
    got = sides.compare(lambda provider: log_through(InstrumentationHandler(logger_provider=provider)), False)
    assert [r[0][0] for r in got] == ["shop.checkout"] * 3 + ["shop.db"] * 3
    assert [r[3] for r in got] == ["INFO", "WARN", "ERROR", "DEBUG", "Level 51", "ERROR"]
    assert got[2][7] == f"{TRACE_ID:032x}"
    assert dict(got[2][4])["exception.type"] == ("string_value", "PaymentError")


def test_the_auto_instrumentation_handler_sends_what_the_sdk_handler_sends(sides):
    # OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=true: the SDK's configurator
    # installs the SDK's (deprecated) handler; otlp's configurator installs
    # install_logging_handler's, which reads each record in one native call.
    def run(provider):
        if isinstance(provider, otlp.otel.LoggerProvider):
            handler: logging.Handler = otlp.otel.LoggingHandler(logger_provider=provider)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                handler = SdkLoggingHandler(logger_provider=provider)
        log_through(handler)

    got = sides.compare(run, False)
    keys = [k for k, _ in got[0][4]]
    assert {"order.id", "customer", "code.file.path", "code.function.name", "code.line.number"} <= set(keys)


def test_the_installed_handler_survives_logging_configuration(sink, monkeypatch):
    # install_logging_handler wraps the configuration functions: put the originals back.
    for module, name in (
        (logging, "basicConfig"),
        (logging.config, "dictConfig"),
        (logging.config, "fileConfig"),
    ):
        monkeypatch.setattr(module, name, getattr(module, name))
    root = logging.getLogger()
    # basicConfig(force=True) closes the root's handlers: let it see only its own.
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    provider = otlp.otel.LoggerProvider(otlp.Exporter(sink.endpoint))
    handler = install_logging_handler(provider)
    try:
        logging.basicConfig(force=True, level=logging.INFO)
        logging.config.dictConfig(
            {"version": 1, "disable_existing_loggers": False, "root": {"level": "INFO"}}
        )
        assert handler in root.handlers
        logging.getLogger("app").info("still exported")
        assert provider.force_flush(10_000)
    finally:
        root.removeHandler(handler)
        provider.shutdown()
    bodies = [r[1] for r in records(sink, False)]
    assert ("string_value", "still exported") in bodies


def test_the_handler_needs_our_provider():
    with pytest.raises(TypeError, match=r"otlp\.otel\.LoggerProvider"):
        otlp.otel.LoggingHandler(logger_provider=_logs.NoOpLoggerProvider())


# -------------------------------------------------------------------------
# limits, OTEL_SDK_DISABLED, shutdown
# -------------------------------------------------------------------------


def test_value_length_limit_is_the_sdks(sides, monkeypatch):
    monkeypatch.setenv("OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT", "3")

    def run(provider):
        provider.get_logger("app").emit(
            body="a body is never cut",
            observed_timestamp=1,
            # Byte strings are left out: the specification cuts them too (in bytes), as
            # otlp does, where the Python SDK leaves them whole.
            attributes={"s": "abcdef", "t": ("hello", "hi"), "n": 123456, "m": {"k": "long"}},
        )

    (got,) = sides.compare(run)
    assert dict(got[4])["s"] == ("string_value", "abc")


def test_count_limit_keeps_the_first_attributes_and_counts_the_rest(sink, monkeypatch):
    monkeypatch.setenv("OTEL_ATTRIBUTE_COUNT_LIMIT", "50")
    monkeypatch.setenv("OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT", "2")
    provider = otlp.otel.LoggerProvider(otlp.Exporter(sink.endpoint))
    try:
        provider.get_logger("app").emit(body="x", attributes={"a": 1, "b": 2, "c": 3, "d": 4})
        assert provider.force_flush(10_000)
    finally:
        provider.shutdown()
    (got,) = records(sink, False)
    # The specification's rule (new keys beyond the limit are dropped), where the
    # Python SDK drops the oldest ones.
    assert (got[4], got[5]) == ((("a", ("int_value", 1)), ("b", ("int_value", 2))), 2)


@pytest.mark.parametrize("bad", ["-1", "ten", "2.5"])
def test_a_limit_that_is_not_a_whole_number_is_a_config_error(monkeypatch, bad):
    monkeypatch.setenv("OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT", bad)
    with pytest.raises(ConfigError, match="OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT"):
        otlp.otel.LoggerProvider()


def test_sdk_disabled_gives_no_op_loggers_and_no_exporter(monkeypatch):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "TRUE")
    provider = otlp.otel.LoggerProvider()
    assert provider.exporter is None
    logger = provider.get_logger("app")
    assert isinstance(logger, _logs.NoOpLogger)
    logger.emit(body="nothing")
    assert provider.force_flush() is True
    provider.shutdown()


def test_loggers_are_api_loggers_and_stop_at_shutdown(sink):
    exp = otlp.Exporter(sink.endpoint)
    provider = otlp.otel.LoggerProvider(exp)
    logger = provider.get_logger("app", "2.0")
    assert isinstance(logger, _logs.Logger)
    assert provider.get_logger("app", "2.0") is logger
    assert (logger.name, logger.version) == ("app", "2.0")
    assert logger.enabled()
    logger.emit(body="before")
    provider.shutdown()  # an exporter passed in is flushed, not shut down
    assert records(sink, False)[0][1] == ("string_value", "before")
    assert isinstance(provider.get_logger("app", "2.0"), _logs.NoOpLogger)
    exp.shutdown(timeout=5.0)
    assert not logger.enabled()
    logger.emit(body="after")  # dropped and counted, never raised
    assert exp.stats()["dropped_after_shutdown"] >= 1


def test_a_producer_blocked_on_a_full_queue_lets_other_threads_run(sink_factory):
    # overflow="block" with a collector that holds every export: once the queue is
    # full, emit() waits for room, and must wait with the GIL released.
    slow = sink_factory(delay=10)
    exp = otlp.Exporter(
        slow.endpoint,
        timeout=10.0,
        batch=otlp.BatchConfig(max_queue_size=2, max_export_batch_size=1, max_concurrent_exports=1),
        queue=otlp.QueueConfig(overflow="block", block_timeout=3.0),
    )
    logger = otlp.otel.LoggerProvider(exp).get_logger("app")
    stop = threading.Event()
    durations: list[float] = []

    def produce():
        while not stop.is_set():
            start = time.monotonic()
            logger.emit(body="x")
            durations.append(time.monotonic() - start)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        # This thread keeps running Python until the producer has waited a second for
        # room (block_timeout is 3 s): it cannot, if the waiting producer holds the GIL.
        ticks = [time.monotonic()]
        deadline = ticks[0] + 20
        while ticks[-1] < deadline and not any(d >= 1.0 for d in list(durations)):
            stop.wait(0.01)
            ticks.append(time.monotonic())
        assert any(d >= 1.0 for d in durations), exp.stats()
        longest_stall = max(b - a for a, b in itertools.pairwise(ticks))
        assert longest_stall < 1.0, longest_stall
    finally:
        stop.set()
        producer.join(timeout=10)
        exp.shutdown(timeout=0.5)
    assert not producer.is_alive()


def test_the_handler_of_a_disabled_or_shut_down_provider_drops_records_quietly(sink, monkeypatch, capsys):
    provider = otlp.otel.LoggerProvider(otlp.Exporter(sink.endpoint))
    handler = otlp.otel.LoggingHandler(logger_provider=provider)
    provider.shutdown()
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    disabled = otlp.otel.LoggingHandler(logger_provider=otlp.otel.LoggerProvider())
    log = logging.getLogger("app.after")
    for h in (handler, disabled):
        log.addHandler(h)
        try:
            log.warning("dropped")
        finally:
            log.removeHandler(h)
    assert "Logging error" not in capsys.readouterr().err
    assert records(sink, False) == []
