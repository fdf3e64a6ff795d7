"""Every default exists once, in the core: the Python config classes, the exporter's
signature (and so its stub, which stubtest compares with it) and the environment reader
all agree with what the core reports."""

from __future__ import annotations

import inspect

import pytest

import otlp
from otlp import _env, _native

CORE = _native._defaults()


@pytest.mark.parametrize(
    ("cls", "part"),
    [
        (otlp.BatchConfig, "batch"),
        (otlp.RetryPolicy, "retry"),
        (otlp.MetricsConfig, "metrics"),
        (otlp.CircuitBreaker, "circuit_breaker"),
    ],
)
def test_config_classes_take_their_defaults_from_the_core(cls: type, part: str) -> None:
    made = cls()._asdict()  # type: ignore[attr-defined]
    assert made == CORE[part], (made, CORE[part])


def test_the_exporter_signature_shows_the_core_defaults() -> None:
    # otlp.Exporter is typed (and stub-tested) with the native constructor's signature.
    params = inspect.signature(_native.Exporter).parameters
    for name, default in CORE["exporter"].items():
        assert params[name].default == default, (name, params[name].default, default)


def test_the_environment_reader_uses_the_core_defaults() -> None:
    assert _env.default_endpoint("grpc") == CORE["exporter"]["endpoint"]
    kwargs = _env.exporter_kwargs({"OTEL_BLRP_MAX_QUEUE_SIZE": "4096"})
    assert kwargs["signals"]["logs"]["batch"].schedule_delay == CORE["logs_batch"]["schedule_delay"]
    kwargs = _env.exporter_kwargs({"OTEL_BSP_MAX_QUEUE_SIZE": "4096"})
    assert kwargs["signals"]["traces"]["batch"].schedule_delay == CORE["batch"]["schedule_delay"]


def test_an_exporter_made_without_arguments_uses_the_core_defaults() -> None:
    with otlp.Exporter() as exp:
        assert exp.endpoint == CORE["exporter"]["endpoint"]
        assert exp.protocol == CORE["exporter"]["protocol"]
        assert f"compression={CORE['exporter']['compression']!r}" in repr(exp).replace('"', "'")


def test_the_typed_choices_are_the_cores() -> None:
    from typing import get_args

    from otlp import _types

    choices = CORE["choices"]
    assert list(get_args(_types.Protocol)) == choices["protocol"]
    assert list(get_args(_types.Compression)) == choices["compression"]
    assert list(get_args(_types.HttpVersion)) == choices["http_version"]
    assert list(get_args(_types.Temporality)) == choices["temporality"]


def test_the_receiver_signature_shows_the_core_defaults() -> None:
    params = inspect.signature(_native.Receiver).parameters
    for name, default in CORE["receiver"].items():
        assert params[name].default == default, (name, params[name].default, default)
