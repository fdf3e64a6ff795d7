//! Core errors to the `otlp.errors` hierarchy (defined in Python, imported here).

use pyo3::PyErr;

pyo3::import_exception!(otlp.errors, ConfigError);
pyo3::import_exception!(otlp.errors, ExportError);
pyo3::import_exception!(otlp.errors, ExportTimeoutError);
pyo3::import_exception!(otlp.errors, TransportError);

pub fn to_py(err: otlp::Error) -> PyErr {
    match err {
        otlp::Error::Config(m) => ConfigError::new_err(m),
        otlp::Error::Transport(m) => TransportError::new_err(m),
        e @ otlp::Error::Timeout(_) => ExportTimeoutError::new_err(e.to_string()),
        otlp::Error::Export(m) => ExportError::new_err(m),
    }
}

/// `ConfigError` with a message naming the argument.
pub fn config(message: impl Into<String>) -> PyErr {
    ConfigError::new_err(message.into())
}
