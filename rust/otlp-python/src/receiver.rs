//! `otlp._native.Receiver`: the embedded OTLP receiver, for `serve`, the demo and tests.

use otlp::receiver::{Receiver, ReceiverLimits};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::sync::atomic::Ordering;

use crate::errors::to_py;

/// A local OTLP receiver (OTLP/gRPC, OTLP/HTTP over HTTP/1.1 and h2c) that counts what
/// arrives and keeps up to `keep` accepted requests for `take()`.
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
            grpc = "127.0.0.1:0", http = None, *, keep = 0, max_message_size = None,
            max_decompressed_size = None, max_connections = None, handshake_timeout = None,
            idle_timeout = None, request_timeout = None,
        ),
        text_signature = "(grpc='127.0.0.1:0', http=None, *, keep=0, max_message_size=16777216, \
                          max_decompressed_size=67108864, max_connections=256, \
                          handshake_timeout=10.0, idle_timeout=120.0, request_timeout=30.0)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        grpc: &str,
        http: Option<&str>,
        keep: usize,
        max_message_size: Option<usize>,
        max_decompressed_size: Option<usize>,
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
        let max_message_size = max_message_size.unwrap_or(d.max_message_size);
        // A larger message than the default needs room to be buffered: the budgets
        // grow with it.
        let max_connection_buffered_bytes = d
            .max_connection_buffered_bytes
            .max(max_message_size.saturating_add(5));
        let limits = ReceiverLimits {
            max_message_size,
            max_decompressed_size: max_decompressed_size.unwrap_or(d.max_decompressed_size),
            max_connection_buffered_bytes,
            max_buffered_bytes: d.max_buffered_bytes.max(max_connection_buffered_bytes),
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
        let inner = crate::gil::detach(py, || {
            Receiver::start_on(&runtime, grpc, http, limits, keep)
        })
        .map_err(to_py)?;
        Ok(Self { inner })
    }

    /// `http://host:port` of the first listener, to give to an exporter.
    #[getter]
    fn endpoint(&self) -> String {
        format!("http://{}", self.inner.local_addr())
    }

    #[getter]
    fn port(&self) -> u16 {
        self.inner.local_addr().port()
    }

    /// `http://host:port` of the `http` listener, or None.
    #[getter]
    fn http_endpoint(&self) -> Option<String> {
        self.inner.http_addr().map(|a| format!("http://{a}"))
    }

    /// Counters: requests (of which http1_requests came over HTTP/1.1), spans, metrics,
    /// log_records, bytes, errors, dropped.
    fn counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.inner.counts();
        let d = PyDict::new(py);
        d.set_item("requests", c.requests.load(Ordering::Relaxed))?;
        d.set_item("spans", c.spans.load(Ordering::Relaxed))?;
        d.set_item("metrics", c.metrics.load(Ordering::Relaxed))?;
        d.set_item("log_records", c.log_records.load(Ordering::Relaxed))?;
        d.set_item("bytes", c.bytes.load(Ordering::Relaxed))?;
        d.set_item("errors", c.errors.load(Ordering::Relaxed))?;
        d.set_item("http1_requests", c.http1_requests.load(Ordering::Relaxed))?;
        d.set_item("dropped", self.inner.dropped())?;
        Ok(d)
    }

    /// The accepted requests kept since the last call, oldest first: (signal, format,
    /// decompressed body) with signal `traces`, `metrics` or `logs` and format
    /// `protobuf` or `json`.
    fn take<'py>(&self, py: Python<'py>) -> Vec<(&'static str, &'static str, Bound<'py, PyBytes>)> {
        self.inner
            .take()
            .into_iter()
            .map(|r| (r.signal, r.format.name(), PyBytes::new(py, &r.body)))
            .collect()
    }

    fn stop(&self) {
        self.inner.stop();
    }
}
