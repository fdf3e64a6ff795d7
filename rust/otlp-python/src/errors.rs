//! Core errors to the `otlp.errors` hierarchy (defined in Python, imported here).

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::PyTypeError;
use pyo3::{PyErr, Python};

pyo3::import_exception!(otlp.errors, OtlpError);
pyo3::import_exception!(otlp.errors, ConfigError);
pyo3::import_exception!(otlp.errors, ExportError);
pyo3::import_exception!(otlp.errors, ExportTimeoutError);
pyo3::import_exception!(otlp.errors, TransportError);

pub fn to_py(err: otlp::Error) -> PyErr {
    match err {
        otlp::Error::Config(m) => ConfigError::new_err(m),
        otlp::Error::Type(m) => PyTypeError::new_err(m),
        otlp::Error::Transport(m) => TransportError::new_err(m),
        e @ otlp::Error::Timeout(_) => ExportTimeoutError::new_err(e.to_string()),
        otlp::Error::Export(m) => ExportError::new_err(m),
        e @ otlp::Error::Internal(_) => OtlpError::new_err(e.to_string()),
    }
}

/// Run `f`; a panic in it (a bug) becomes `otlp.errors.OtlpError` rather than
/// pyo3's `PanicException`, which is a `BaseException` that `except Exception` in
/// the application would not catch.
pub fn guard<T>(f: impl FnOnce() -> pyo3::PyResult<T>) -> pyo3::PyResult<T> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|panic| Err(to_py(otlp::Error::from_panic(&*panic))))
}

/// `e` again, its message prefixed with where the bad value was (`` `resource` ``).
pub fn within(py: Python<'_>, place: &str, e: PyErr) -> PyErr {
    let message = format!("{place}: {}", e.value(py));
    if e.is_instance_of::<PyTypeError>(py) {
        PyTypeError::new_err(message)
    } else {
        ConfigError::new_err(message)
    }
}
