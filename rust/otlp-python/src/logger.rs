//! `Logger`: log records through the batching pipeline.

use std::sync::Arc;

use otlp::ids::now_unix_nano;
use otlp::model::{AnyValue, LogRecord, Resource, Scope};
use otlp::trace::LogExporter;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::convert::{self, Mode, ATTRIBUTE_LIMIT};
use crate::tracer::current_context;

/// Severity text for a severity number (OTel data model "displaying severity").
fn severity_text(n: i32) -> &'static str {
    match n {
        1 => "TRACE",
        2..=4 => ["TRACE2", "TRACE3", "TRACE4"][(n - 2) as usize],
        5 => "DEBUG",
        6..=8 => ["DEBUG2", "DEBUG3", "DEBUG4"][(n - 6) as usize],
        9 => "INFO",
        10..=12 => ["INFO2", "INFO3", "INFO4"][(n - 10) as usize],
        13 => "WARN",
        14..=16 => ["WARN2", "WARN3", "WARN4"][(n - 14) as usize],
        17 => "ERROR",
        18..=20 => ["ERROR2", "ERROR3", "ERROR4"][(n - 18) as usize],
        21 => "FATAL",
        22..=24 => ["FATAL2", "FATAL3", "FATAL4"][(n - 22) as usize],
        _ => "",
    }
}

/// Emits log records for one instrumentation scope. Get one from `Exporter.logger()`.
#[pyclass(frozen, name = "Logger", module = "otlp")]
pub struct PyLogger {
    pub exporter: Arc<LogExporter>,
    pub resource: Arc<Resource>,
    pub scope: Arc<Scope>,
}

#[pymethods]
impl PyLogger {
    /// Emit one record. `body` is any OTLP value (str, bytes, numbers, bool, lists,
    /// dicts, None). Inside a span the record carries its trace id, span id and flags.
    #[pyo3(signature = (
        body, *, severity = None, severity_text = None, attributes = None, timestamp = None,
        observed_timestamp = None, event_name = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &self,
        py: Python<'_>,
        body: &Bound<'_, PyAny>,
        severity: Option<&Bound<'_, PyAny>>,
        severity_text: Option<String>,
        attributes: Option<&Bound<'_, PyAny>>,
        timestamp: Option<u64>,
        observed_timestamp: Option<u64>,
        event_name: Option<String>,
    ) -> PyResult<()> {
        // Default: INFO.
        let severity: i64 = match severity {
            None => 9,
            Some(s) => s.extract().map_err(|_| {
                PyTypeError::new_err("`severity` must be an otlp.Severity (or an int from 0 to 24)")
            })?,
        };
        if !(0..=24).contains(&severity) {
            return Err(PyValueError::new_err(format!(
                "`severity` must be an otlp.Severity (0 to 24); got {severity}"
            )));
        }
        let severity = severity as i32;
        let body = if body.is_none() {
            AnyValue::Empty
        } else {
            convert::any_value(body, Mode::Strict).map_err(|b| b.into_err("body"))?
        };
        let mut record = LogRecord::new(self.resource.clone(), self.scope.clone(), body);
        if let Some(a) = attributes {
            let (attrs, dropped) = convert::attributes(a, Mode::Strict, ATTRIBUTE_LIMIT)?;
            record.attributes = attrs;
            record.dropped_attributes_count = dropped;
        }
        let now = now_unix_nano();
        record.time_unix_nano = timestamp.unwrap_or(now);
        record.observed_time_unix_nano = observed_timestamp.unwrap_or(now);
        record.severity_number = severity;
        record.severity_text =
            severity_text.unwrap_or_else(|| self::severity_text(severity).to_owned());
        record.event_name = event_name.unwrap_or_default();
        if let Some(ctx) = current_context(py)? {
            record.trace_id = Some(ctx.trace_id);
            record.span_id = Some(ctx.span_id);
            record.flags = ctx.trace_flags as u32;
        }
        self.exporter.export(Box::new(record));
        Ok(())
    }

    #[getter]
    fn name(&self) -> &str {
        &self.scope.name
    }

    fn __repr__(&self) -> String {
        format!(
            "Logger(name={:?}, version={:?})",
            self.scope.name, self.scope.version
        )
    }
}
