//! Decoding export requests with the core's decoder, for the receiver's output and as
//! the parity oracle of the tests: each function decodes a body and encodes the
//! result again.

use otlp::decode::request::{Format, Request};
use otlp::export::SignalKind;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{guard, to_py};

fn transcode<'py>(
    py: Python<'py>,
    signal: &str,
    body: &[u8],
    format: &str,
    to: Format,
) -> PyResult<Bound<'py, PyBytes>> {
    guard(|| {
        let signal =
            otlp::one_of("signal", &SignalKind::ALL, SignalKind::name, signal).map_err(to_py)?;
        let format = Format::parse(format).map_err(to_py)?;
        let out = crate::gil::detach(py, || {
            Request::decode(signal, body, format).map(|r| r.encode(to))
        })
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(PyBytes::new(py, &out))
    })
}

/// `body`, an export request of `signal` (`traces`, `metrics`, `logs`) in `format`
/// (`protobuf`, `json`), decoded and encoded again as protobuf.
#[pyfunction]
#[pyo3(signature = (signal, body, format = "protobuf"))]
pub fn _decode<'py>(
    py: Python<'py>,
    signal: &str,
    body: &[u8],
    format: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    transcode(py, signal, body, format, Format::Protobuf)
}

/// As [`_decode`], encoded again as OTLP/JSON.
#[pyfunction]
#[pyo3(signature = (signal, body, format = "protobuf"))]
pub fn _decode_json<'py>(
    py: Python<'py>,
    signal: &str,
    body: &[u8],
    format: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    transcode(py, signal, body, format, Format::Json)
}
