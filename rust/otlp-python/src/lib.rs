//! `otlp._native`: the Python face of the `otlp` core. Converts arguments, releases
//! the GIL around waits, calls the core and maps its errors; nothing more.

mod alloc;
mod context;
mod convert;
mod decode;
mod errors;
mod exporter;
mod gil;
mod logger;
mod meter;
mod otel_trace;
mod policy;
mod receiver;
mod sdk;
mod tracer;

use pyo3::prelude::*;

#[global_allocator]
static ALLOCATOR: alloc::Allocator = alloc::Allocator;

/// Called in the child after `fork()`: background threads did not survive it.
#[pyfunction]
fn _after_fork_in_child() {
    // Ids also reseed through their own pthread_atfork handler (forks made by C code
    // run no Python hook); this covers a process where it could not be registered.
    otlp::ids::reseed_after_fork();
    otlp::runtime::forget_after_fork();
}

#[pyfunction]
fn _current_span_var(py: Python<'_>) -> PyResult<Py<PyAny>> {
    tracer::current_span_var(py)
}

/// Make spans current in `opentelemetry.context` from now on (see `context.rs`); an
/// error says why the installed OpenTelemetry API cannot be used.
#[pyfunction]
fn _otel_enable(py: Python<'_>) -> PyResult<()> {
    context::enable_otel(py).map(drop)
}

#[pymodule(gil_used = false)]
mod _native {
    #[pymodule_export]
    use super::_otel_enable;
    #[pymodule_export]
    use super::decode::{_decode, _decode_json};
    #[pymodule_export]
    use super::exporter::{_check, _defaults, PyExporter};
    #[pymodule_export]
    use super::gil::_at_exit;
    #[pymodule_export]
    use super::logger::{_log_limits, PyLogger, PyOtelLogger};
    #[pymodule_export]
    use super::meter::{
        _aggregate, _kernel, PyCounter, PyGauge, PyHistogram, PyMeter, PyObservable,
        PyUpDownCounter,
    };
    #[pymodule_export]
    use super::meter::{
        PyOtelCounter, PyOtelGauge, PyOtelHistogram, PyOtelObservableCounter,
        PyOtelObservableGauge, PyOtelObservableUpDownCounter, PyOtelUpDownCounter,
    };
    #[pymodule_export]
    use super::otel_trace::{PyAsCurrentSpan, PyOtelSpan, PyOtelTracer};
    #[pymodule_export]
    use super::receiver::PyReceiver;
    #[pymodule_export]
    use super::sdk::{encode_logs, encode_metrics, encode_spans, PySdkBridge};
    #[pymodule_export]
    use super::tracer::_current_span_context;
    #[pymodule_export]
    use super::tracer::{current_span, PySampler, PySpan, PySpanContext, PyTracer};
    #[pymodule_export]
    use super::{_after_fork_in_child, _current_span_var};

    #[pymodule_init]
    fn init(m: &pyo3::Bound<'_, pyo3::types::PyModule>) -> pyo3::PyResult<()> {
        use pyo3::types::PyModuleMethods;
        super::gil::register_exit_hook(m)?;
        m.add("__version__", otlp::VERSION)
    }
}
