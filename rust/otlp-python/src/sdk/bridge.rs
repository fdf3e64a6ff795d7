//! `SdkBridge`: where the exporters and processors of `otlp.sdk` hand the SDK's spans,
//! log records and metrics. Each is converted once, with the GIL held, and queued in
//! an exporter's pipeline; encoding and delivery happen on its threads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use otlp::model::{LogRecord, SpanData};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

use super::groups::Groups;
use super::spans::SpanReader;
use super::{logs, metrics};
use crate::errors::{guard, to_py};
use crate::exporter::PyExporter;
use crate::policy;

/// Resources and scopes remembered per bridge. Far beyond what an application has
/// (one resource, a scope per instrumented library), it only bounds a process that
/// makes a resource per span.
const GROUPS_LIMIT: usize = 1024;

/// Converts SDK objects and queues them in an exporter's pipelines.
#[pyclass(frozen, name = "SdkBridge", module = "otlp._native")]
pub struct PySdkBridge {
    exporter: Arc<otlp::Exporter>,
    spans: Groups,
    logs: Groups,
    /// Items that could not be converted (dropped, reported once).
    invalid: AtomicU64,
}

impl PySdkBridge {
    /// An item that could not be read: raised in strict mode, else dropped, counted
    /// and reported once per kind of item. Exceptions that are not `Exception`s
    /// (KeyboardInterrupt) always propagate.
    fn unreadable(&self, py: Python<'_>, what: &str, e: PyErr) -> PyResult<()> {
        let policy = self.exporter.policy();
        if !e.is_instance_of::<PyException>(py) || policy.strict() {
            return Err(e);
        }
        self.invalid.fetch_add(1, Ordering::Relaxed);
        if policy.first_time(&format!("sdk {what}")) {
            policy::warn(
                py,
                &format!(
                    "an OpenTelemetry SDK {what} could not be converted and was dropped: {} \
                     (reported once; strict=True raises instead)",
                    e.value(py)
                ),
            );
        }
        Ok(())
    }

    fn span(
        &self,
        py: Python<'_>,
        reader: &SpanReader,
        span: &Bound<'_, PyAny>,
    ) -> PyResult<Option<Box<SpanData>>> {
        match reader.read(span, &self.spans) {
            Ok(d) => Ok(Some(Box::new(d))),
            Err(e) => self.unreadable(py, "span", e).map(|()| None),
        }
    }

    fn log(&self, py: Python<'_>, record: &Bound<'_, PyAny>) -> PyResult<Option<Box<LogRecord>>> {
        match logs::read(record, &self.logs, true) {
            Ok(r) => Ok(Some(Box::new(r))),
            Err(e) => self.unreadable(py, "log record", e).map(|()| None),
        }
    }
}

#[pymethods]
impl PySdkBridge {
    #[new]
    fn new(exporter: &Bound<'_, PyExporter>) -> Self {
        Self {
            exporter: exporter.get().core().clone(),
            spans: Groups::bounded(GROUPS_LIMIT),
            logs: Groups::bounded(GROUPS_LIMIT),
            invalid: AtomicU64::new(0),
        }
    }

    /// Queue a batch of spans and have it sent now; returns how many could not be
    /// read (dropped). A full queue under `overflow="block"` waits with the GIL
    /// released; other losses are counted in the exporter's stats.
    fn export_spans(&self, py: Python<'_>, spans: &Bound<'_, PyAny>) -> PyResult<usize> {
        guard(|| {
            let reader = SpanReader::new(py);
            let traces = self.exporter.traces();
            let mut unreadable = 0;
            for span in spans.try_iter()? {
                match self.span(py, &reader, &span?)? {
                    Some(d) => traces.export_released(d, |wait| crate::gil::detach(py, wait)),
                    None => unreadable += 1,
                }
            }
            traces.pipeline().request_flush();
            Ok(unreadable)
        })
    }

    /// A batch span processor's `on_end`: queue the span if it is sampled. Never
    /// raises (but in strict mode).
    fn on_end(&self, py: Python<'_>, span: &Bound<'_, PyAny>) -> PyResult<()> {
        guard(|| {
            let reader = SpanReader::new(py);
            let sampled = match reader.sampled(span) {
                Ok(sampled) => sampled,
                Err(e) => return self.unreadable(py, "span", e),
            };
            if sampled {
                if let Some(d) = self.span(py, &reader, span)? {
                    self.exporter
                        .traces()
                        .export_released(d, |wait| crate::gil::detach(py, wait));
                }
            }
            Ok(())
        })
    }

    /// Queue a batch of log records and have it sent now; returns how many could not
    /// be read (dropped). Waits for room as [`Self::export_spans`] does.
    fn export_logs(&self, py: Python<'_>, records: &Bound<'_, PyAny>) -> PyResult<usize> {
        guard(|| {
            let Some(logs) = self.exporter.logs().map_err(to_py)? else {
                // Shut down before logs were ever used: the pipeline would drop them.
                return Ok(0);
            };
            let mut unreadable = 0;
            for record in records.try_iter()? {
                match self.log(py, &record?)? {
                    Some(r) => logs.export_released(r, |wait| crate::gil::detach(py, wait)),
                    None => unreadable += 1,
                }
            }
            logs.pipeline().request_flush();
            Ok(unreadable)
        })
    }

    /// A batch log record processor's `on_emit`: queue the record. Never raises (but
    /// in strict mode).
    fn on_emit(&self, py: Python<'_>, record: &Bound<'_, PyAny>) -> PyResult<()> {
        guard(|| {
            if let Some(r) = self.log(py, record)? {
                if let Some(logs) = self.exporter.logs().map_err(to_py)? {
                    logs.export_released(r, |wait| crate::gil::detach(py, wait));
                }
            }
            Ok(())
        })
    }

    /// Queue SDK `MetricsData` as one request; false when it could not be read
    /// (dropped). Waits for room as [`Self::export_spans`] does.
    fn export_metrics(&self, py: Python<'_>, metrics_data: &Bound<'_, PyAny>) -> PyResult<bool> {
        guard(|| {
            let data = match metrics::read(py, metrics_data) {
                Ok(data) => data,
                Err(e) => return self.unreadable(py, "metrics data", e).map(|()| false),
            };
            if let Some(m) = self.exporter.metrics().map_err(to_py)? {
                m.export_released(data, |wait| crate::gil::detach(py, wait));
            }
            Ok(true)
        })
    }

    /// Items dropped because they could not be converted.
    #[getter]
    fn dropped_invalid(&self) -> u64 {
        self.invalid.load(Ordering::Relaxed)
    }
}
