"""Samplers: the ratio sampler keeps the expected fraction of traces and decides each
trace id as the OpenTelemetry SDK's ``TraceIdRatioBased`` does; the parent-based ones
follow remote and local parents as the SDK's ``ParentBased``; the environment and the
constructor choose them, for the OpenTelemetry API provider and the native tracer alike.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.sampling import _KNOWN_SAMPLERS, ParentBased, TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import otlp
import otlp.otel
from otlp.errors import ConfigError

NAMES = [
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
]


@pytest.fixture(scope="module")
def exporter():
    # Nothing is delivered: these tests look at sampling decisions only.
    exp = otlp.Exporter("http://127.0.0.1:9", protocol="grpc")
    yield exp
    exp.shutdown(timeout=0.1)


def sdk_sampler(name: str, ratio: float | None):
    if name.endswith("traceidratio"):
        root = TraceIdRatioBased(1.0 if ratio is None else ratio)
        return ParentBased(root) if name.startswith("parentbased_") else root
    return _KNOWN_SAMPLERS[name]


def under(trace_id: int, *, sampled: bool, remote: bool):
    """A context whose current span is a parent of trace ``trace_id``."""
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    parent = SpanContext(trace_id, 0x1234, is_remote=remote, trace_flags=flags)
    return trace_api.set_span_in_context(NonRecordingSpan(parent))


def bound(ratio: float) -> int:
    return round(ratio * 2**64)


def test_the_ratio_sampler_keeps_the_expected_fraction_within_a_binomial_bound(exporter):
    n, ratio = 20_000, 0.3
    tracer = exporter.tracer("ratio", sampler=otlp.Sampler("traceidratio", ratio))
    kept = 0
    for _ in range(n):
        span = tracer.start_span("s")
        kept += span.is_recording
        # A sampled span is recorded under its own random trace id, decided by its
        # lower 64 bits, as TraceIdRatioBased decides.
        assert span.is_recording == ((span.context.trace_id & (2**64 - 1)) < bound(ratio))
        span.end()
    mean, sd = n * ratio, math.sqrt(n * ratio * (1 - ratio))
    # Six standard deviations: a correct sampler fails this about once in 10^9 runs.
    assert abs(kept - mean) <= 6 * sd, (kept, mean)


def test_the_api_providers_ratio_sampler_keeps_the_expected_fraction(exporter):
    n, ratio = 20_000, 0.05
    tracer = otlp.otel.TracerProvider(exporter, sampler="traceidratio", sampler_ratio=ratio).get_tracer("t")
    kept = 0
    for _ in range(n):
        span = tracer.start_span("s")
        kept += span.is_recording()
        span.end()
    mean, sd = n * ratio, math.sqrt(n * ratio * (1 - ratio))
    assert abs(kept - mean) <= 6 * sd, (kept, mean)


trace_ids = st.one_of(
    st.integers(1, 2**128 - 1),
    # Near the bound of the ratio, where a different bound computation would show.
    st.integers(0, 2**64 - 1).map(lambda low: (0xABCD << 64) | low),
)
ratios = st.one_of(
    st.sampled_from([0.0, 1.0, 0.5, 0.1, 1e-19, 1 - 1e-16]),
    st.floats(0.0, 1.0),
)


@given(trace_id=trace_ids, ratio=ratios, parent_sampled=st.booleans(), remote=st.booleans())
@example(trace_id=(1 << 64) | (bound(0.1) - 1), ratio=0.1, parent_sampled=False, remote=True)
@example(trace_id=(1 << 64) | bound(0.1), ratio=0.1, parent_sampled=True, remote=True)
def test_each_trace_id_is_decided_as_the_sdks_trace_id_ratio_based(
    exporter, trace_id, ratio, parent_sampled, remote
):
    """``traceidratio`` ignores the parent's flag but joins its trace: the decision is
    the trace id's alone, for the API provider, the native tracer and the SDK alike."""
    sdk = SdkTracerProvider(sampler=TraceIdRatioBased(ratio)).get_tracer("t")
    ours = otlp.otel.TracerProvider(exporter, sampler="traceidratio", sampler_ratio=ratio).get_tracer("t")
    native = exporter.tracer("t", sampler=otlp.Sampler("traceidratio", ratio))
    ctx = under(trace_id, sampled=parent_sampled, remote=remote)
    expected = sdk.start_span("s", context=ctx)
    got = ours.start_span("s", context=ctx)
    parent = otlp.SpanContext(trace_id, 0x1234, trace_flags=int(parent_sampled), is_remote=remote)
    got_native = native.start_span("s", parent=parent)
    assert got.is_recording() == got_native.is_recording == expected.is_recording()
    assert got.get_span_context().trace_flags == expected.get_span_context().trace_flags
    assert got.get_span_context().trace_id == trace_id
    for span in (expected, got, got_native):
        span.end()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("remote", [True, False])
@pytest.mark.parametrize("parent_sampled", [True, False, None])
def test_parent_based_samplers_follow_remote_and_local_parents_as_the_sdk(
    exporter, name, remote, parent_sampled
):
    # A ratio of 0 makes a trace-id-ratio root decision visible (it never samples).
    ratio = 0.0
    sdk = SdkTracerProvider(sampler=sdk_sampler(name, ratio)).get_tracer("t")
    ours = otlp.otel.TracerProvider(exporter, sampler=name, sampler_ratio=ratio if "ratio" in name else None)
    tracer = ours.get_tracer("t")
    native = exporter.tracer("t", sampler=otlp.Sampler(name, ratio if "ratio" in name else None))
    trace_id = 0x5B8EFFF798038103D269B633813FC60C
    if parent_sampled is None:
        ctx, native_parent = None, None
    else:
        ctx = under(trace_id, sampled=parent_sampled, remote=remote)
        native_parent = otlp.SpanContext(trace_id, 0x1234, trace_flags=int(parent_sampled), is_remote=remote)
    expected = sdk.start_span("s", context=ctx).is_recording()
    assert tracer.start_span("s", context=ctx).is_recording() == expected
    assert native.start_span("s", parent=native_parent).is_recording == expected


@pytest.mark.parametrize("name", ["always_off", "parentbased_always_off", "always_on"])
def test_local_parents_made_by_the_tracer_pass_their_decision_to_children(exporter, name):
    """A child of a span the provider itself started (a local parent) is sampled as the
    SDK samples it: parent-based samplers follow the parent, the others decide anew."""
    sdk = SdkTracerProvider(sampler=sdk_sampler(name, None)).get_tracer("t")
    ours = otlp.otel.TracerProvider(exporter, sampler=name).get_tracer("t")
    for tracer in (sdk, ours):
        with tracer.start_as_current_span("root") as root:
            with tracer.start_as_current_span("child") as child:
                decisions = (root.is_recording(), child.is_recording())
                same_trace = child.get_span_context().trace_id == root.get_span_context().trace_id
        if tracer is sdk:
            expected = decisions
        else:
            assert decisions == expected
        assert same_trace


def test_a_non_recording_span_carries_a_valid_context_that_propagates(exporter):
    tracer = otlp.otel.TracerProvider(exporter, sampler="always_off").get_tracer("t")
    from opentelemetry import propagate

    with tracer.start_as_current_span("dropped") as span:
        assert not span.is_recording()
        ctx = span.get_span_context()
        assert ctx.is_valid and not ctx.trace_flags.sampled
        headers: dict[str, str] = {}
        propagate.inject(headers)
        ours: dict[str, str] = {}
        otlp.propagate.inject(ours)
        span.set_attribute("k", 1)
        span.add_event("e")
        span.end()
    assert headers == ours == {"traceparent": f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-02"}


@pytest.mark.parametrize("name", NAMES)
def test_the_environment_names_the_sampler_of_the_provider_and_of_the_native_tracer(
    exporter, monkeypatch, name
):
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", name.upper())
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    expected = otlp.Sampler(name, 0.25 if "ratio" in name else None)
    assert otlp.otel.TracerProvider(exporter).sampler == expected
    assert exporter.tracer("t").sampler == expected
    # The constructor's sampler wins over the environment.
    assert exporter.tracer("t", sampler=otlp.Sampler("always_off")).sampler.name == "always_off"
    assert otlp.otel.TracerProvider(exporter, sampler="always_off").sampler.name == "always_off"


def test_the_default_sampler_is_parentbased_always_on(exporter, monkeypatch):
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    assert otlp.otel.TracerProvider(exporter).sampler.name == "parentbased_always_on"
    assert exporter.tracer("t").sampler.name == "parentbased_always_on"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OTEL_TRACES_SAMPLER": "jaeger_remote"}, "`OTEL_TRACES_SAMPLER` must be one of 'always_on'"),
        (
            {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"},
            "`OTEL_TRACES_SAMPLER_ARG` must be a number from 0 to 1",
        ),
        (
            {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"},
            "`OTEL_TRACES_SAMPLER_ARG` must be a number from 0 to 1",
        ),
    ],
)
def test_a_sampler_the_environment_names_badly_fails_at_construction(exporter, monkeypatch, env, message):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError, match=message):
        otlp.otel.TracerProvider(exporter)
    with pytest.raises(ConfigError, match=message):
        exporter.tracer("t")


def test_a_bad_sampler_argument_fails_at_construction(exporter):
    with pytest.raises(ConfigError, match="`sampler` must be one of"):
        otlp.Sampler("sometimes")
    with pytest.raises(ConfigError, match="`ratio` must be a number from 0 to 1"):
        otlp.otel.TracerProvider(exporter, sampler="traceidratio", sampler_ratio=-1)
    with pytest.raises(TypeError, match=r"`sampler` must be an otlp\.Sampler"):
        otlp.otel.TracerProvider(exporter, sampler=TraceIdRatioBased(0.5))  # type: ignore[arg-type]
