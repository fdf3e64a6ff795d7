//! `otlp._native.Receiver`: the embedded OTLP receiver, for the demo and tests.

use otlp::receiver::{Receiver, ReceiverLimits};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::atomic::Ordering;

use crate::errors::to_py;

/// A local OTLP receiver (gRPC, and OTLP/HTTP over HTTP/2) that counts what arrives.
#[pyclass(frozen, name = "Receiver", module = "otlp._native")]
pub struct PyReceiver {
    inner: Receiver,
}

#[pymethods]
impl PyReceiver {
    /// Defaults: `otlp::receiver::ReceiverLimits::default()` (`None` means the default).
    #[new]
    #[pyo3(
        signature = (
            address = "127.0.0.1:0", *, max_connections = None, handshake_timeout = None,
            idle_timeout = None, request_timeout = None,
        ),
        text_signature = "(address='127.0.0.1:0', *, max_connections=256, handshake_timeout=10.0, \
                          idle_timeout=120.0, request_timeout=30.0)"
    )]
    fn new(
        py: Python<'_>,
        address: &str,
        max_connections: Option<usize>,
        handshake_timeout: Option<f64>,
        idle_timeout: Option<f64>,
        request_timeout: Option<f64>,
    ) -> PyResult<Self> {
        let d = ReceiverLimits::default();
        let seconds = |value: Option<f64>, name, default| match value {
            Some(v) => otlp::time::seconds(v, name).map_err(to_py),
            None => Ok(default),
        };
        let limits = ReceiverLimits {
            max_connections: max_connections.unwrap_or(d.max_connections),
            handshake_timeout: seconds(
                handshake_timeout,
                "handshake_timeout",
                d.handshake_timeout,
            )?,
            idle_timeout: seconds(idle_timeout, "idle_timeout", d.idle_timeout)?,
            request_timeout: seconds(request_timeout, "request_timeout", d.request_timeout)?,
            ..d
        };
        let runtime =
            otlp::runtime::handle().map_err(|e| to_py(otlp::Error::Transport(e.to_string())))?;
        let inner = py
            .detach(|| Receiver::start_with(&runtime, address, limits))
            .map_err(to_py)?;
        Ok(Self { inner })
    }

    /// `http://host:port` to give to an exporter.
    #[getter]
    fn endpoint(&self) -> String {
        format!("http://{}", self.inner.local_addr())
    }

    #[getter]
    fn port(&self) -> u16 {
        self.inner.local_addr().port()
    }

    /// Counters: requests, spans, metrics, log_records, bytes, errors.
    fn counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.inner.counts();
        let d = PyDict::new(py);
        d.set_item("requests", c.requests.load(Ordering::Relaxed))?;
        d.set_item("spans", c.spans.load(Ordering::Relaxed))?;
        d.set_item("metrics", c.metrics.load(Ordering::Relaxed))?;
        d.set_item("log_records", c.log_records.load(Ordering::Relaxed))?;
        d.set_item("bytes", c.bytes.load(Ordering::Relaxed))?;
        d.set_item("errors", c.errors.load(Ordering::Relaxed))?;
        Ok(d)
    }

    fn stop(&self) {
        self.inner.stop();
    }
}
