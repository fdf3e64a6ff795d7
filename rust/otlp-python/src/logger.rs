//! `Logger`: Python arguments and `logging.LogRecord`s to the core's log records
//! ([`otlp::logs`]).

use std::sync::Arc;

use otlp::export::LogExporter;
use otlp::ids::now_unix_nano;
use otlp::logs::{self, LoggingRecord};
use otlp::model::{AnyValue, KeyValue, LogRecord, Scope};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::convert::{self, Mode};
use crate::policy;
use crate::tracer::{current_context, exception};

/// Emits log records for one instrumentation scope. Get one from `Exporter.logger()`.
#[pyclass(frozen, name = "Logger", module = "otlp")]
pub struct PyLogger {
    pub exporter: Arc<otlp::Exporter>,
    /// `None` for a logger made after the exporter was shut down: it emits nothing.
    pub logs: Option<Arc<LogExporter>>,
    pub scope: Arc<Scope>,
}

impl PyLogger {
    /// Where records go, or `None` when they are to be dropped (after shutdown).
    fn target(&self, py: Python<'_>) -> PyResult<Option<&LogExporter>> {
        if policy::closed(py, self.exporter.policy(), "a log record was emitted")? {
            return Ok(None);
        }
        Ok(self.logs.as_deref())
    }

    /// A body that is not an OTLP value is sent as its `str()` (and reported once), or
    /// raises in strict mode.
    fn body(&self, py: Python<'_>, body: &Bound<'_, PyAny>) -> PyResult<AnyValue> {
        match convert::any_value(body, Mode::Native(self.exporter.policy())) {
            Ok(v) => Ok(v),
            Err(bad) if self.exporter.policy().strict() => Err(bad.into_err("body")),
            Err(_) => {
                let text = body.str()?.to_cow()?.into_owned();
                if self.exporter.policy().first_time("log body") {
                    let kind = body.get_type().qualname().map(|n| n.to_string());
                    policy::warn(
                        py,
                        &format!(
                            "a log body of type '{}' is not an OTLP value; it was sent as its \
                             str()",
                            kind.unwrap_or_default()
                        ),
                    );
                }
                Ok(AnyValue::String(text))
            }
        }
    }

    fn record(&self, body: AnyValue) -> LogRecord {
        LogRecord::new(self.exporter.resource().clone(), self.scope.clone(), body)
    }

    /// Export `record`, in the context of the current span.
    fn send(&self, py: Python<'_>, to: &LogExporter, mut record: LogRecord) -> PyResult<()> {
        if let Some(ctx) = current_context(py)? {
            record.set_context(&ctx);
        }
        // A full queue with overflow="block" waits for room with the GIL released.
        to.export_released(Box::new(record), |wait| py.detach(wait));
        Ok(())
    }
}

/// Whether a `LogRecord` field is of a type the OTel SDK handler exports as an extra.
fn is_exportable(v: &Bound<'_, PyAny>) -> bool {
    v.is_none()
        || v.is_instance_of::<PyBool>()
        || v.is_instance_of::<PyString>()
        || v.is_instance_of::<PyInt>()
        || v.is_instance_of::<PyFloat>()
        || v.is_instance_of::<PyBytes>()
        || v.is_instance_of::<PyList>()
        || v.is_instance_of::<PyTuple>()
        || v.is_instance_of::<PyDict>()
}

#[pymethods]
impl PyLogger {
    /// Emit a `logging.LogRecord` (for `otlp.LoggingHandler`), read in one native call;
    /// `body` is the formatted text when the handler has a formatter.
    #[pyo3(signature = (record, body = None))]
    fn _emit_record<'py>(
        &self,
        py: Python<'py>,
        record: &Bound<'py, PyAny>,
        body: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<()> {
        let Some(exporter) = self.target(py)? else {
            return Ok(());
        };
        let dict = record
            .getattr(intern!(py, "__dict__"))?
            .cast_into::<PyDict>()
            .map_err(|_| PyTypeError::new_err("`record` must be a logging.LogRecord"))?;
        let get = |k: &Bound<'py, PyString>| -> Option<Bound<'py, PyAny>> {
            dict.get_item(k).ok().flatten()
        };
        // Body: the formatted text, or getMessage(), or a structured msg kept as is.
        let body = match body {
            Some(b) => convert::any_value(b, Mode::Raise).unwrap_or(AnyValue::Empty),
            None => {
                let msg = get(intern!(py, "msg"));
                let no_args =
                    get(intern!(py, "args")).is_none_or(|a| !a.is_truthy().unwrap_or(true));
                match msg {
                    // `logger.info(None)`: an empty body, as the OTel SDK handler.
                    Some(m) if no_args && m.is_none() => AnyValue::Empty,
                    Some(m) if no_args && !m.is_instance_of::<PyString>() => {
                        let m = if is_exportable(&m) {
                            m
                        } else {
                            m.str()?.into_any()
                        };
                        convert::any_value(&m, Mode::Raise).unwrap_or_else(|_| {
                            AnyValue::String(m.str().map(|s| s.to_string()).unwrap_or_default())
                        })
                    }
                    _ => AnyValue::String(
                        record
                            .call_method0(intern!(py, "getMessage"))?
                            .str()?
                            .to_cow()?
                            .into_owned(),
                    ),
                }
            }
        };
        let mut extras = Vec::with_capacity(dict.len().min(16));
        for (k, v) in dict.iter() {
            let Ok(key) = k.cast::<PyString>() else {
                continue;
            };
            let Ok(key) = key.to_cow() else { continue };
            if logs::is_reserved(&key) || !is_exportable(&v) {
                continue;
            }
            // An extra the exporter cannot encode is left out (and counted); the
            // record still goes.
            match convert::any_value(&v, Mode::Native(self.exporter.policy())) {
                Ok(value) => extras.push(KeyValue::new(key.into_owned(), value)),
                Err(bad) => policy::bad_attribute(py, self.exporter.policy(), &key, bad)?,
            }
        }
        let text = |k: &Bound<'py, PyString>| {
            get(k).and_then(|v| v.str().ok().map(|s| s.to_string_lossy().into_owned()))
        };
        let number = |k: &Bound<'py, PyString>| get(k).and_then(|v| v.extract::<i64>().ok());
        let info = get(intern!(py, "exc_info"))
            .filter(|e| e.is_truthy().unwrap_or(false))
            .and_then(|e| e.cast_into::<PyTuple>().ok())
            .filter(|t| t.len() == 3);
        let caught = match info {
            Some(t) => {
                let part = |i| t.get_item(i).map(|p| Some(p).filter(|p| !p.is_none()));
                let (ty, value, tb) = (part(0)?, part(1)?, part(2)?);
                Some(exception(py, ty.as_ref(), value.as_ref(), tb.as_ref())?)
            }
            None => None,
        };
        let level_name = match get(intern!(py, "levelname")) {
            Some(n) => Some(n.str()?.to_cow()?.into_owned()),
            None => None,
        };
        let logging = LoggingRecord {
            level: number(intern!(py, "levelno")).unwrap_or(0),
            level_name,
            created: get(intern!(py, "created")).and_then(|c| c.extract::<f64>().ok()),
            file_path: text(intern!(py, "pathname")),
            function_name: text(intern!(py, "funcName")),
            line_number: number(intern!(py, "lineno")).unwrap_or(0),
            logger_name: text(intern!(py, "name")),
            exception: caught,
        };
        let mut rec = self.record(body);
        logging.fill(&mut rec, extras, now_unix_nano());
        self.send(py, exporter, rec)
    }

    /// Emit one record; inside a span it carries the span's trace context.
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
        let severity = match severity {
            None => logs::DEFAULT_SEVERITY,
            Some(s) => {
                let n: i64 = s.extract().map_err(|_| {
                    PyTypeError::new_err(
                        "`severity` must be an otlp.Severity (or an int from 0 to 24)",
                    )
                })?;
                logs::severity(n).ok_or_else(|| {
                    PyValueError::new_err(format!(
                        "`severity` must be an otlp.Severity (0 to 24); got {n}"
                    ))
                })?
            }
        };
        let Some(exporter) = self.target(py)? else {
            return Ok(());
        };
        let body = match body.is_none() {
            true => AnyValue::Empty,
            false => self.body(py, body)?,
        };
        let mut record = self.record(body);
        if let Some(a) = attributes {
            let policy = self.exporter.policy();
            record.set_attributes(convert::attributes(a, Mode::Native(policy), usize::MAX)?.0);
        }
        let now = now_unix_nano();
        record.time_unix_nano = timestamp.unwrap_or(now);
        record.observed_time_unix_nano = observed_timestamp.unwrap_or(now);
        record.set_severity(severity, severity_text);
        record.event_name = event_name.unwrap_or_default();
        self.send(py, exporter, record)
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
