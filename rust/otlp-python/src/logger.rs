//! `Logger`: log records through the batching pipeline.

use std::sync::Arc;

use otlp::export::LogExporter;
use otlp::ids::now_unix_nano;
use otlp::model::{AnyValue, KeyValue, LogRecord, Scope};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::convert::{self, Mode, ATTRIBUTE_LIMIT};
use crate::policy;
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
    /// `None` for a logger made after the exporter was shut down: it emits nothing.
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
}

/// `LogRecord` attributes that are not user "extra" fields (as the OTel SDK handler).
fn reserved(key: &str) -> bool {
    matches!(
        key,
        "asctime"
            | "args"
            | "created"
            | "exc_info"
            | "exc_text"
            | "filename"
            | "funcName"
            | "getMessage"
            | "message"
            | "levelname"
            | "levelno"
            | "lineno"
            | "module"
            | "msecs"
            | "msg"
            | "name"
            | "pathname"
            | "process"
            | "processName"
            | "relativeCreated"
            | "stack_info"
            | "thread"
            | "threadName"
            | "taskName"
    )
}

/// Python level -> OTel severity number, as the OTel SDK maps them.
fn severity_of(levelno: i64) -> i32 {
    match levelno {
        i64::MIN..=9 => 0,
        10..=49 => {
            let base = [5, 9, 13, 17][(levelno / 10 - 1) as usize];
            base + (levelno % 10).min(3) as i32
        }
        50..=53 => 21 + (levelno - 50) as i32,
        _ => 24,
    }
}

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
    /// Emit a `logging.LogRecord` (used by `otlp.LoggingHandler`): severity from the
    /// level, extras, `code.*`, `logger.name`, exception attributes and the current
    /// span's context, read in one native call. `body` is the formatted text when the
    /// handler has a formatter.
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
        let mut rec = LogRecord::new(self.exporter.resource().clone(), self.scope.clone(), body);
        let mut attrs = Vec::with_capacity(dict.len().min(16));
        for (k, v) in dict.iter() {
            let Ok(key) = k.cast::<PyString>() else {
                continue;
            };
            let Ok(key) = key.to_cow() else { continue };
            if reserved(&key) || !is_exportable(&v) {
                continue;
            }
            // An extra the exporter cannot encode is left out (and counted); the
            // record still goes.
            match convert::any_value(&v, Mode::Native(self.exporter.policy())) {
                Ok(value) => attrs.push(KeyValue::new(key.into_owned(), value)),
                Err(bad) => policy::bad_attribute(py, self.exporter.policy(), &key, bad)?,
            }
        }
        let string_of = |k: &Bound<'py, PyString>| -> AnyValue {
            get(k)
                .and_then(|v| v.str().ok().map(|s| AnyValue::String(s.to_string())))
                .unwrap_or(AnyValue::Empty)
        };
        attrs.push(KeyValue::new(
            "code.file.path",
            string_of(intern!(py, "pathname")),
        ));
        attrs.push(KeyValue::new(
            "code.function.name",
            string_of(intern!(py, "funcName")),
        ));
        let lineno = get(intern!(py, "lineno"))
            .and_then(|l| l.extract::<i64>().ok())
            .unwrap_or(0);
        attrs.push(KeyValue::new("code.line.number", AnyValue::Int(lineno)));
        attrs.push(KeyValue::new("logger.name", string_of(intern!(py, "name"))));
        if let Some(exc_info) =
            get(intern!(py, "exc_info")).filter(|e| e.is_truthy().unwrap_or(false))
        {
            if let Ok(t) = exc_info.cast::<PyTuple>() {
                if t.len() == 3 {
                    let (ty, value, tb) = (t.get_item(0)?, t.get_item(1)?, t.get_item(2)?);
                    if !ty.is_none() {
                        let name: String = ty.getattr(intern!(py, "__name__"))?.extract()?;
                        attrs.push(KeyValue::new("exception.type", AnyValue::String(name)));
                    }
                    if !value.is_none() {
                        let message = value.str()?.to_cow()?.into_owned();
                        attrs.push(KeyValue::new(
                            "exception.message",
                            AnyValue::String(message),
                        ));
                    }
                    if !tb.is_none() {
                        let lines = py
                            .import(intern!(py, "traceback"))?
                            .getattr(intern!(py, "format_exception"))?
                            .call1((ty, value, tb))?;
                        let text: String = PyString::new(py, "")
                            .call_method1(intern!(py, "join"), (lines,))?
                            .extract()?;
                        attrs.push(KeyValue::new(
                            "exception.stacktrace",
                            AnyValue::String(text),
                        ));
                    }
                }
            }
        }
        if attrs.len() > ATTRIBUTE_LIMIT {
            rec.dropped_attributes_count = (attrs.len() - ATTRIBUTE_LIMIT) as u32;
            attrs.truncate(ATTRIBUTE_LIMIT);
        }
        rec.attributes = attrs;
        let levelno = get(intern!(py, "levelno"))
            .and_then(|l| l.extract::<i64>().ok())
            .unwrap_or(0);
        rec.severity_number = severity_of(levelno);
        rec.severity_text = match get(intern!(py, "levelname")) {
            Some(n) => match n.str()?.to_cow()?.as_ref() {
                "WARNING" => "WARN".to_owned(),
                "CRITICAL" => "FATAL".to_owned(),
                other => other.to_owned(),
            },
            None => String::new(),
        };
        let now = now_unix_nano();
        rec.time_unix_nano = get(intern!(py, "created"))
            .and_then(|c| c.extract::<f64>().ok())
            .map_or(now, |c| (c * 1e9) as u64);
        rec.observed_time_unix_nano = now;
        if let Some(ctx) = current_context(py)? {
            rec.trace_id = Some(ctx.trace_id);
            rec.span_id = Some(ctx.span_id);
            rec.flags = ctx.trace_flags as u32;
        }
        exporter.export(Box::new(rec));
        Ok(())
    }

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
        let Some(exporter) = self.target(py)? else {
            return Ok(());
        };
        let body = if body.is_none() {
            AnyValue::Empty
        } else {
            self.body(py, body)?
        };
        let mut record = LogRecord::new(self.exporter.resource().clone(), self.scope.clone(), body);
        if let Some(a) = attributes {
            let (attrs, dropped) =
                convert::attributes(a, Mode::Native(self.exporter.policy()), ATTRIBUTE_LIMIT)?;
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
        exporter.export(Box::new(record));
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
