"""Absurd values from the application, the environment or a collector: configuration
errors are raised at construction, typed and naming what is wrong; nothing that arrives
at run time panics, overflows or holds a batch past its deadline; messages never echo
secrets."""

from __future__ import annotations

import enum
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from peers.faults import H2FaultServer, HttpFaultServer, grpc_retry_info_status

import otlp
from otlp.errors import ConfigError, OtlpError

YEAR = 365 * 24 * 3600


def _no_breaker_exporter(endpoint: str, **kw: object) -> otlp.Exporter:
    return otlp.Exporter(
        endpoint,
        batch=otlp.BatchConfig(max_export_batch_size=10, schedule_delay=0.02),
        retry=otlp.RetryPolicy(initial_backoff=0.05, max_backoff=0.2, max_elapsed=5.0),
        circuit_breaker=otlp.CircuitBreaker(failure_threshold=0),
        **kw,  # type: ignore[arg-type]
    )


def _end_spans(exp: otlp.Exporter, n: int) -> None:
    tracer = exp.tracer("hostile")
    for i in range(n):
        tracer.start_span("op", attributes={"i": i}).end()


# ---------------------------------------------------------------------------
# Durations and sizes from the application
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: otlp.Exporter("http://127.0.0.1:1", timeout=1e19), "`timeout`"),
        (lambda: otlp.BatchConfig(schedule_delay=1e19), "`schedule_delay`"),
        (lambda: otlp.CircuitBreaker(cool_down=1e19), "`cool_down`"),
        (lambda: otlp.MetricsConfig(interval=1e19), "`interval`"),
        (lambda: otlp.MetricsConfig(timeout=YEAR + 1), "`timeout`"),
        (lambda: otlp.RetryPolicy(max_elapsed=1e19), "`max_elapsed`"),
        (lambda: otlp.RetryPolicy(initial_backoff=1e19, max_backoff=1e19), "`initial_backoff`"),
        (
            lambda: otlp.Exporter("http://127.0.0.1:1", signals={"logs": {"timeout": 1e19}}),
            "`signals['logs']`: `timeout`",
        ),
        (lambda: otlp.BatchConfig(max_queue_size=2**61, max_export_batch_size=2**61), "`max_queue_size`"),
        (lambda: otlp.BatchConfig(max_export_batch_size=10**9), "`max_export_batch_size`"),
        (lambda: otlp.BatchConfig(max_concurrent_exports=2**40), "`max_concurrent_exports`"),
        (lambda: otlp.Exporter("http://127.0.0.1:1", max_request_size=2**62), "`max_request_size`"),
        (lambda: otlp.Exporter("http://127.0.0.1:1", max_request_size=2**70), "`max_request_size`"),
    ],
)
def test_absurd_settings_are_config_errors_naming_the_argument(make, name: str) -> None:
    with pytest.raises(ConfigError) as err:
        make()
    assert name in str(err.value), err.value


def test_a_huge_queue_allocates_nothing_until_items_arrive() -> None:
    # Capacity used to be reserved at construction: 10**8 slots took 800 MB of address
    # space at once (8 GB for 10**9, which failed outright on smaller machines).
    code = textwrap.dedent(
        """
        import otlp
        def vm_kib():
            with open("/proc/self/status") as f:
                return next(int(l.split()[1]) for l in f if l.startswith("VmSize:"))
        warm = otlp.Exporter("http://127.0.0.1:1")  # the runtime and its threads
        before = vm_kib()
        exp = otlp.Exporter("http://127.0.0.1:1", batch=otlp.BatchConfig(
            max_queue_size=10**8, max_export_batch_size=10**8))
        exp.tracer("t").start_span("s").end()
        print(vm_kib() - before)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    grown_kib = int(out.stdout.split()[-1])
    assert grown_kib < 200 * 1024, f"constructing took {grown_kib} KiB of address space"


def test_waits_with_absurd_timeouts_return_and_never_panic() -> None:
    exp = otlp.Exporter("http://127.0.0.1:1")
    assert exp.force_flush(timeout=sys.maxsize) is True
    assert exp.force_flush(timeout=1e300) is True
    assert exp.shutdown(timeout=1e19) is True
    with pytest.raises(ConfigError, match="`timeout` must be a number of seconds >= 0"):
        exp.force_flush(timeout=-1)
    with pytest.raises(ConfigError, match="`timeout`"):
        exp.force_flush(timeout=float("nan"))


def test_a_panic_never_escapes_as_a_base_exception() -> None:
    # pyo3 turns a Rust panic into PanicException, a BaseException that `except
    # Exception` misses; every error otlp raises is an OtlpError (or TypeError).
    assert issubclass(ConfigError, OtlpError) and issubclass(ConfigError, Exception)
    for bad in (1e19, 2**61, float("inf")):
        with pytest.raises(Exception) as err:
            otlp.Exporter("http://127.0.0.1:1", timeout=bad)
        assert isinstance(err.value, OtlpError), repr(err.value)


# ---------------------------------------------------------------------------
# Types: TypeErrors name the argument
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timeout": "10"}, "`timeout` must be a number of seconds; got str"),
        ({"timeout": True}, "`timeout` must be a number of seconds, not bool"),
        ({"max_request_size": "10"}, "`max_request_size` must be an int; got str"),
        ({"max_request_size": 1.5}, "`max_request_size` must be an int; got float"),
        ({"protocol": 3}, "`protocol` must be a str; got int"),
        ({"compression": b"gzip"}, "`compression` must be a str; got bytes"),
        ({"http_version": 2}, "`http_version` must be a str; got int"),
        ({"endpoint": 4317}, "`endpoint` must be a str; got int"),
    ],
)
def test_wrong_types_are_type_errors_naming_the_argument(kwargs: dict, message: str) -> None:
    kwargs.setdefault("endpoint", "http://127.0.0.1:1")
    with pytest.raises(TypeError) as err:
        otlp.Exporter(**kwargs)
    assert str(err.value) == message


def test_wait_timeouts_of_the_wrong_type_name_the_argument() -> None:
    with otlp.Exporter("http://127.0.0.1:1") as exp:
        with pytest.raises(TypeError, match="`timeout` must be a number of seconds; got str"):
            exp.force_flush("1")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="`timeout` must be a number of seconds; got list"):
            exp.shutdown([1])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Durations from a collector
# ---------------------------------------------------------------------------


def _slowly(answer):
    """A script action answering ``answer`` after a second and a bit: the attempt's own
    time then counts too (with it, 2^64-1 seconds used to overflow)."""

    def act(_request):
        time.sleep(1.1)  # a slow collector, not synchronisation
        return answer

    return act


def _servers_for(kind: str):
    if kind == "http":
        slow = _slowly((503, {"Retry-After": "18446744073709551615"}))
        return HttpFaultServer([slow]), {"protocol": "http/protobuf"}
    if kind == "http-date":
        return HttpFaultServer([(503, {"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"})]), {
            "protocol": "http/protobuf"
        }
    # gRPC RESOURCE_EXHAUSTED with a RetryInfo delay of about 3,000 years.
    return H2FaultServer([("grpc", 8, "come back later", grpc_retry_info_status(8, 1e11))]), {}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["http", "http-date", "grpc"])
def test_a_server_delay_of_centuries_ends_the_retries_at_once(kind: str) -> None:
    srv, kwargs = _servers_for(kind)
    with srv:
        exp = _no_breaker_exporter(srv.endpoint, **kwargs)
        try:
            _end_spans(exp, 5)
            started = time.monotonic()
            # Before: the export task panicked on the overflow, the batch was never
            # settled and every flush waited its whole timeout.
            assert exp.force_flush(timeout=10.0) is False
            assert time.monotonic() - started < 6.0
            stats = exp.stats()
            assert stats["spans_failed_retries_exhausted"] == 5, stats
            assert stats["spans_pending"] == 0, stats
            assert len(srv.snapshot()) == 1  # not retried: the delay is beyond the budget
            # Later batches go through (the server now answers OK), and flush says so.
            _end_spans(exp, 5)
            started = time.monotonic()
            assert exp.force_flush(timeout=10.0) is True
            assert time.monotonic() - started < 5.0
            assert exp.stats()["spans_exported"] == 5
        finally:
            exp.shutdown(timeout=2.0)


# ---------------------------------------------------------------------------
# Secrets and endpoints
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://user:s3cr3t@127.0.0.1:4317",
        "http://127.0.0.1:4318/v1/traces?api_key=s3cr3t",
        "http://127.0.0.1:4318/v1/traces#s3cr3t",
    ],
)
def test_endpoint_errors_never_echo_credentials_or_query_strings(endpoint: str) -> None:
    for make in (
        lambda: otlp.Exporter(endpoint),
        lambda: otlp.Exporter("http://127.0.0.1:4317", signals={"logs": {"endpoint": endpoint}}),
    ):
        with pytest.raises(ConfigError) as err:
            make()
        assert "s3cr3t" not in str(err.value), err.value
        assert "`endpoint`" in str(err.value)


def test_header_values_are_never_echoed() -> None:
    with pytest.raises(ConfigError) as err:
        otlp.Exporter("http://127.0.0.1:1", headers={"authorization": "Bearer s3cr3t\n"})
    assert "s3cr3t" not in str(err.value) and "authorization" in str(err.value)


@pytest.mark.parametrize("signal", ["traces", "metrics", "logs"])
def test_a_grpc_endpoint_on_an_otlp_http_path_is_refused_with_the_fix(signal: str) -> None:
    # The README once showed {"logs": {"endpoint": "http://logs:4318/v1/logs"}}: with the
    # default protocol (gRPC) every export failed with UNIMPLEMENTED (HTTP 404).
    with pytest.raises(ConfigError) as err:
        otlp.Exporter(
            "http://127.0.0.1:4317", signals={signal: {"endpoint": f"http://127.0.0.1:4318/v1/{signal}"}}
        )
    message = str(err.value)
    assert f"`signals['{signal}']`" in message and "protocol='http/protobuf'" in message, message
    with pytest.raises(ConfigError, match="OTLP/HTTP path, but the protocol is 'grpc'"):
        otlp.Exporter("http://127.0.0.1:4318/v1/traces")
    # Said explicitly, it is fine.
    otlp.Exporter(
        "http://127.0.0.1:4317",
        signals={signal: {"endpoint": f"http://127.0.0.1:4318/v1/{signal}", "protocol": "http/protobuf"}},
    ).shutdown(timeout=0.1)


def test_the_readme_signals_example_is_valid() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    example = re.search(r"`(signals=\{.*?\}\})`", readme, re.S)
    assert example, "the README's signals= example moved: update this test"
    kwargs = eval(f"dict({example.group(1)})")  # our own README
    exp = otlp.Exporter("http://127.0.0.1:4317", **kwargs)
    exp.logger("readme")
    exp.shutdown(timeout=0.1)


def test_keys_and_names_made_without_end_arrive_exactly(otlp_receiver) -> None:
    """Keys, span names and string values are interned in bounded tables and cached
    per thread by object: names, keys and values made per span (more than the tables hold, longer than what
    they take, the same text in new objects, objects freed and their memory reused)
    must all arrive as sent, from several threads."""
    rx = otlp_receiver
    n, threads = 2_500, 2
    # The queue holds every span: on a busy machine the default 2,048 can fill (and
    # drop, counted) before the batcher gets a core, which is not what this checks.
    with otlp.Exporter(rx.endpoint, batch=otlp.BatchConfig(max_queue_size=n * threads)) as exp:
        tracer = exp.tracer("endless")

        def work(t: int) -> None:
            for i in range(n):
                key = f"k.{t}.{i}"  # a new object each time, freed after the span
                long = "x" * (100 + i % 60) + str(i)  # around the interning limit
                with tracer.span(
                    f"op {t} {i}", attributes={key: i, long: t, "fixed": "v", "val": f"value {t} {i}"}
                ) as s:
                    s.set_attribute(f"set.{i % 7}", i)
                    s.update_name(f"renamed {t} {i}" if i % 2 else f"op {t} {i}")

        pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        for th in pool:
            th.start()
        for th in pool:
            th.join(timeout=60)
        assert exp.force_flush(timeout=30.0)
        assert exp.stats()["spans_dropped"] == 0
    spans = rx.wait_for_spans(n * threads, timeout=30.0)
    seen = set()
    for s in spans:
        t, i = (int(x) for x in s.name.split()[1:])
        assert s.name == (f"renamed {t} {i}" if i % 2 else f"op {t} {i}")
        long = "x" * (100 + i % 60) + str(i)
        want = {f"k.{t}.{i}": i, long: t, "fixed": "v", "val": f"value {t} {i}", f"set.{i % 7}": i}
        assert s.attributes == want
        seen.add((t, i))
    assert len(seen) == n * threads


class _Label(str):
    pass


class _Level(enum.IntEnum):
    HIGH = 3


def _mixed_attributes() -> dict[object, object]:
    """Plain entries around every other kind a dict of attributes may hold."""
    return {
        "plain.str": "v",
        "plain.int": 7,
        "plain.float": 1.5,
        "plain.bool": False,
        _Label("subclass.key"): "k",
        "subclass.value": _Label("sv"),
        "intenum": _Level.HIGH,
        "big": 2**70,  # does not fit in int64: dropped and counted
        "surrogate": "a\ud800b",  # not UTF-8: dropped and counted
        "list": [1, 2],
        "tuple": ("a", "b"),
        "nested": {"x": 1},
        "bytes": b"\x00\x01",
        "last.plain": -1,
    }


@pytest.mark.parametrize(
    "attributes",
    [
        pytest.param(
            {"s": "v", "i": 7, "f": 1.5, "b": True, "min": -(2**63), "max": 2**63 - 1, "e": "", "u": "h\u00e9llo \u2713"},
            id="plain",
        ),
        pytest.param(_mixed_attributes(), id="mixed"),
        pytest.param({f"key.{i}": i for i in range(200)}, id="over-the-count-limit"),
        pytest.param({"plain": 1, "big": -(2**63) - 1}, id="plain-then-overflow"),
    ],
)
def test_a_dict_of_attributes_arrives_as_the_same_attributes_set_one_by_one(
    otlp_receiver, attributes: dict[object, object]
) -> None:
    """Plain dicts (str keys; str, bool, int, float values) take a faster conversion
    than other mappings; a dict with anything else takes the general one. Either way,
    a span started with the dict must carry what setting each entry in turn gives —
    same values, order, drops and counts."""
    rx = otlp_receiver
    with otlp.Exporter(rx.endpoint) as exp:
        tracer = exp.tracer("paths")
        with tracer.span("dict", attributes=attributes):
            pass
        after_dict = exp.stats()["attributes_dropped_invalid"]
        with tracer.span("one-by-one") as s:
            for k, v in attributes.items():
                s.set_attribute(k, v)  # type: ignore[arg-type]
        assert exp.force_flush(timeout=10.0)
        one_by_one = exp.stats()["attributes_dropped_invalid"] - after_dict
    spans = {s.name: s for s in rx.wait_for_spans(2, timeout=10.0)}
    by_dict, by_one = spans["dict"], spans["one-by-one"]
    typed = lambda span: [(k, type(v), v) for k, v in span.attributes.items()]  # noqa: E731
    assert typed(by_dict) == typed(by_one)  # True == 1 in Python: types compared too
    assert by_dict.dropped_attributes_count == by_one.dropped_attributes_count
    assert after_dict == one_by_one
    if "big" in attributes:
        assert "big" not in by_dict.attributes and after_dict >= 1
