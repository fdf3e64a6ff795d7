//! `Logger` and `OtelLogger`: Python arguments, `logging.LogRecord`s and
//! OpenTelemetry API `LogRecord`s to the core's log records ([`otlp::logs`]).

use std::sync::Arc;

use otlp::exception::Exception;
use otlp::export::LogExporter;
use otlp::ids::now_unix_nano;
use otlp::limits::{self, AttributeLimits};
use otlp::logs::{self, LoggingRecord};
use otlp::model::{AnyValue, KeyValue, LogRecord, Scope};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::convert::{self, Mode};
use crate::errors::to_py;
use crate::policy;
use crate::tracer::{current_context, exception};

/// What both loggers share: where records go, their scope and their limits.
struct Emitter {
    exporter: Arc<otlp::Exporter>,
    /// `None` for a logger made after the exporter was shut down: it emits nothing.
    logs: Option<Arc<LogExporter>>,
    scope: Arc<Scope>,
    limits: AttributeLimits,
}

/// Whose conventions a `logging.LogRecord` is read by.
#[derive(Clone, Copy, PartialEq)]
enum Style {
    /// `otlp.LoggingHandler`'s: one scope, a `logger.name` attribute, the exception
    /// type module-qualified and its message `str(exception)`.
    Otlp,
    /// The OpenTelemetry SDK handler's: a scope per logger, the exception type the
    /// class's `__name__` and its message the first argument.
    Sdk,
}

impl Emitter {
    /// Where records go, or `None` when they are to be dropped (after shutdown).
    fn target(&self, py: Python<'_>) -> PyResult<Option<&LogExporter>> {
        if policy::closed(py, self.exporter.policy(), "a log record was emitted")? {
            return Ok(None);
        }
        Ok(self.logs.as_deref())
    }

    /// A body that is not an OTLP value is sent as its `str()` (and reported once), or
    /// raises in strict mode; `None` is an empty body.
    fn body(&self, py: Python<'_>, body: &Bound<'_, PyAny>, mode: Mode<'_>) -> PyResult<AnyValue> {
        if body.is_none() {
            return Ok(AnyValue::Empty);
        }
        match convert::any_value(body, mode) {
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
                Ok(AnyValue::from(text))
            }
        }
    }

    fn record(&self, body: AnyValue) -> LogRecord {
        LogRecord::new(self.exporter.resource().clone(), self.scope.clone(), body)
    }

    /// Queue `record`. A full queue with overflow="block" waits for room with the GIL
    /// released.
    fn send(&self, py: Python<'_>, to: &LogExporter, record: LogRecord) {
        to.export_released(Box::new(record), |wait| crate::gil::detach(py, wait));
    }

    /// A `logging.LogRecord` read in one native call; `body` is the formatted text when
    /// the handler has a formatter.
    fn logging<'py>(
        &self,
        py: Python<'py>,
        record: &Bound<'py, PyAny>,
        body: Option<&Bound<'py, PyAny>>,
        style: Style,
    ) -> PyResult<LogRecord> {
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
                            AnyValue::from(m.str().map(|s| s.to_string()).unwrap_or_default())
                        })
                    }
                    _ => AnyValue::from(
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
                Some(match style {
                    Style::Otlp => exception(py, ty.as_ref(), value.as_ref(), tb.as_ref())?,
                    Style::Sdk => sdk_handler_exception(py, ty.as_ref(), value.as_ref(), tb)?,
                })
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
            scope_is_logger: style == Style::Sdk,
        };
        let mut rec = self.record(body);
        logging.fill(&mut rec, extras, now_unix_nano(), &self.limits);
        Ok(rec)
    }
}

/// An exception as the OpenTelemetry SDK's logging handlers describe it: the class's
/// `__name__`, the first argument, the formatted traceback.
fn sdk_handler_exception(
    py: Python<'_>,
    ty: Option<&Bound<'_, PyAny>>,
    value: Option<&Bound<'_, PyAny>>,
    tb: Option<Bound<'_, PyAny>>,
) -> PyResult<Exception> {
    let mut e = exception(py, ty, None, tb.as_ref())?;
    if let (Some(ty), Some(value)) = (ty, value) {
        // The traceback's last line names the exception by its message.
        e = exception(py, Some(ty), Some(value), tb.as_ref())?;
    }
    e.module = String::new();
    e.qualname = match ty {
        Some(ty) => Some(ty.getattr(intern!(py, "__name__"))?.extract()?),
        None => None,
    };
    e.message = match value.map(|v| v.getattr(intern!(py, "args"))).transpose()? {
        Some(args) if args.is_truthy()? => {
            Some(args.get_item(0)?.str()?.to_string_lossy().into_owned())
        }
        _ => None,
    };
    Ok(e)
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

/// Emits log records for one instrumentation scope. Get one from `Exporter.logger()`.
#[pyclass(frozen, name = "Logger", module = "otlp")]
pub struct PyLogger(Emitter);

impl PyLogger {
    /// A logger of `scope`; `logs` is `None` after the exporter was shut down.
    pub fn new(
        exporter: Arc<otlp::Exporter>,
        logs: Option<Arc<LogExporter>>,
        scope: Arc<Scope>,
    ) -> Self {
        Self(Emitter {
            exporter,
            logs,
            scope,
            limits: AttributeLimits::default(),
        })
    }

    /// Export `record`, in the context of the current span.
    fn send(&self, py: Python<'_>, to: &LogExporter, mut record: LogRecord) -> PyResult<()> {
        if let Some(ctx) = current_context(py)? {
            record.set_context(&ctx);
        }
        self.0.send(py, to, record);
        Ok(())
    }
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
        let Some(exporter) = self.0.target(py)? else {
            return Ok(());
        };
        let rec = self.0.logging(py, record, body, Style::Otlp)?;
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
        let Some(exporter) = self.0.target(py)? else {
            return Ok(());
        };
        let policy = self.0.exporter.policy();
        let body = self.0.body(py, body, Mode::Native(policy))?;
        let mut record = self.0.record(body);
        if let Some(a) = attributes {
            record.set_attributes(convert::attributes(a, Mode::Native(policy), usize::MAX)?.0);
        }
        let now = now_unix_nano();
        record.time_unix_nano = timestamp.unwrap_or(now);
        record.observed_time_unix_nano = observed_timestamp.unwrap_or(now);
        record.set_severity(severity, severity_text);
        record.event_name = event_name.unwrap_or_default();
        self.send(py, exporter, record)
    }

    /// The same scope, as an OpenTelemetry API logger (`otlp.otel.LoggerProvider`)
    /// keeping at most `attribute_count` attributes per record, their strings cut to
    /// `attribute_value_length` characters.
    #[pyo3(signature = (attribute_count, attribute_value_length = None))]
    fn _otel(&self, attribute_count: usize, attribute_value_length: Option<usize>) -> PyOtelLogger {
        PyOtelLogger(Emitter {
            exporter: self.0.exporter.clone(),
            logs: self.0.logs.clone(),
            scope: self.0.scope.clone(),
            limits: AttributeLimits {
                count: attribute_count,
                value_length: attribute_value_length,
            },
        })
    }

    #[getter]
    fn name(&self) -> &str {
        &self.0.scope.name
    }

    fn __repr__(&self) -> String {
        format!(
            "Logger(name={:?}, version={:?})",
            self.0.scope.name, self.0.scope.version
        )
    }
}

/// `opentelemetry.trace.get_current_span`, imported once.
fn get_current_span(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static GET: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    GET.import(py, "opentelemetry.trace", "get_current_span")
}

/// The trace context of the OpenTelemetry API span current in `context` (the current
/// context when `None`), on `record` (not set when the span context is invalid).
fn set_api_context(
    py: Python<'_>,
    context: Option<&Bound<'_, PyAny>>,
    record: &mut LogRecord,
) -> PyResult<()> {
    let span = get_current_span(py)?.call1((context.filter(|c| !c.is_none()),))?;
    let ctx = span.call_method0(intern!(py, "get_span_context"))?;
    set_ids(
        record,
        &ctx.getattr(intern!(py, "trace_id"))?,
        &ctx.getattr(intern!(py, "span_id"))?,
        &ctx.getattr(intern!(py, "trace_flags"))?,
    );
    Ok(())
}

/// Trace and span ids and flags given as Python ints, as the official encoder writes
/// them: an id of 0 is left out, flags are written as they are.
fn set_ids(
    record: &mut LogRecord,
    trace_id: &Bound<'_, PyAny>,
    span_id: &Bound<'_, PyAny>,
    flags: &Bound<'_, PyAny>,
) {
    record.trace_id = trace_id
        .extract::<u128>()
        .ok()
        .filter(|t| *t != 0)
        .map(u128::to_be_bytes);
    record.span_id = span_id
        .extract::<u64>()
        .ok()
        .filter(|s| *s != 0)
        .map(u64::to_be_bytes);
    record.flags = flags.extract::<u32>().unwrap_or(0);
}

/// A timestamp in nanoseconds; what is not one counts as unset.
fn nanos(t: Option<&Bound<'_, PyAny>>) -> Option<u64> {
    t.filter(|t| !t.is_none())
        .and_then(|t| t.extract::<u64>().ok())
}

fn text(s: Option<&Bound<'_, PyAny>>) -> String {
    s.and_then(|s| s.cast::<PyString>().ok())
        .and_then(|s| s.to_cow().ok().map(|c| c.into_owned()))
        .unwrap_or_default()
}

/// A logger of the OpenTelemetry logs API (`opentelemetry._logs.Logger`), made by
/// `otlp.otel.LoggerProvider`.
#[pyclass(frozen, name = "OtelLogger", module = "otlp")]
pub struct PyOtelLogger(Emitter);

/// The fields of an API `LogRecord` (or of the same given as keywords).
struct ApiRecord<'a, 'py> {
    timestamp: Option<&'a Bound<'py, PyAny>>,
    observed_timestamp: Option<&'a Bound<'py, PyAny>>,
    severity_number: Option<&'a Bound<'py, PyAny>>,
    severity_text: Option<&'a Bound<'py, PyAny>>,
    body: Option<&'a Bound<'py, PyAny>>,
    attributes: Option<&'a Bound<'py, PyAny>>,
    event_name: Option<&'a Bound<'py, PyAny>>,
    exception: Option<&'a Bound<'py, PyAny>>,
}

impl PyOtelLogger {
    /// A core record of `fields`, as the official SDK's `Logger.emit` makes it:
    /// exception attributes first (the record's own win), then the limits.
    fn build(&self, py: Python<'_>, fields: ApiRecord<'_, '_>) -> PyResult<LogRecord> {
        let e = &self.0;
        let mode = Mode::Api(e.exporter.policy());
        let body = match fields.body {
            Some(b) => e.body(py, b, mode)?,
            None => AnyValue::Empty,
        };
        let mut record = e.record(body);
        let mut attributes = match fields.exception.filter(|x| !x.is_none()) {
            Some(x) => {
                let tb = x.getattr(intern!(py, "__traceback__"))?;
                exception(py, Some(&x.get_type().into_any()), Some(x), Some(&tb))?.into_attributes()
            }
            None => Vec::new(),
        };
        if let Some(a) = fields.attributes.filter(|a| !a.is_none()) {
            let own = convert::attributes(a, mode, usize::MAX)?.0;
            if attributes.is_empty() {
                attributes = own;
            } else {
                for kv in own {
                    match attributes.iter_mut().find(|x| x.key == kv.key) {
                        Some(x) => x.value = kv.value,
                        None => attributes.push(kv),
                    }
                }
            }
        }
        record.set_attributes_within(attributes, &e.limits);
        record.time_unix_nano = nanos(fields.timestamp).unwrap_or(0);
        record.observed_time_unix_nano =
            nanos(fields.observed_timestamp).unwrap_or_else(now_unix_nano);
        // A `SeverityNumber` (or any enum of ints), or a plain int.
        record.severity_number = match fields.severity_number.filter(|s| !s.is_none()) {
            Some(s) => match s.getattr(intern!(py, "value")) {
                Ok(v) => v.extract::<i32>().unwrap_or(0),
                Err(_) => s.extract::<i32>().unwrap_or(0),
            },
            None => 0,
        };
        record.severity_text = text(fields.severity_text);
        record.event_name = text(fields.event_name);
        Ok(record)
    }
}

#[pymethods]
impl PyOtelLogger {
    /// Emit an API `LogRecord`, or one made of the keyword arguments (its trace
    /// context from the span current in `context`, or in the current context).
    #[pyo3(signature = (
        record = None, *, timestamp = None, observed_timestamp = None, context = None,
        severity_number = None, severity_text = None, body = None, attributes = None,
        event_name = None, exception = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &self,
        py: Python<'_>,
        record: Option<&Bound<'_, PyAny>>,
        timestamp: Option<&Bound<'_, PyAny>>,
        observed_timestamp: Option<&Bound<'_, PyAny>>,
        context: Option<&Bound<'_, PyAny>>,
        severity_number: Option<&Bound<'_, PyAny>>,
        severity_text: Option<&Bound<'_, PyAny>>,
        body: Option<&Bound<'_, PyAny>>,
        attributes: Option<&Bound<'_, PyAny>>,
        event_name: Option<&Bound<'_, PyAny>>,
        exception: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let Some(exporter) = self.0.target(py)? else {
            return Ok(());
        };
        let out = match record.filter(|r| !r.is_none()) {
            Some(r) => {
                // An SDK `ReadWriteLogRecord` wraps the API record.
                let r = match r.getattr(intern!(py, "log_record")) {
                    Ok(inner) => inner,
                    Err(_) => r.clone(),
                };
                fn attr<'py>(
                    r: &Bound<'py, PyAny>,
                    name: &Bound<'py, PyString>,
                ) -> Option<Bound<'py, PyAny>> {
                    r.getattr(name).ok()
                }
                let get = |name| attr(&r, name);
                let f = [
                    get(intern!(py, "timestamp")),
                    get(intern!(py, "observed_timestamp")),
                    get(intern!(py, "severity_number")),
                    get(intern!(py, "severity_text")),
                    get(intern!(py, "body")),
                    get(intern!(py, "attributes")),
                    get(intern!(py, "event_name")),
                    get(intern!(py, "exception")),
                ];
                let mut out = self.build(
                    py,
                    ApiRecord {
                        timestamp: f[0].as_ref(),
                        observed_timestamp: f[1].as_ref(),
                        severity_number: f[2].as_ref(),
                        severity_text: f[3].as_ref(),
                        body: f[4].as_ref(),
                        attributes: f[5].as_ref(),
                        event_name: f[6].as_ref(),
                        exception: f[7].as_ref(),
                    },
                )?;
                let none = py.None().into_bound(py);
                let ids = [
                    get(intern!(py, "trace_id")),
                    get(intern!(py, "span_id")),
                    get(intern!(py, "trace_flags")),
                ]
                .map(|id| id.unwrap_or_else(|| none.clone()));
                set_ids(&mut out, &ids[0], &ids[1], &ids[2]);
                out
            }
            None => {
                let mut out = self.build(
                    py,
                    ApiRecord {
                        timestamp,
                        observed_timestamp,
                        severity_number,
                        severity_text,
                        body,
                        attributes,
                        event_name,
                        exception,
                    },
                )?;
                set_api_context(py, context, &mut out)?;
                out
            }
        };
        self.0.send(py, exporter, out);
        Ok(())
    }

    /// Whether records are exported: until the exporter is shut down.
    #[pyo3(signature = (*, context = None, severity_number = None, event_name = None))]
    fn enabled(
        &self,
        context: Option<&Bound<'_, PyAny>>,
        severity_number: Option<&Bound<'_, PyAny>>,
        event_name: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        let _ = (context, severity_number, event_name);
        self.0.logs.is_some() && !self.0.exporter.policy().is_shut_down()
    }

    /// Emit a `logging.LogRecord` as the OpenTelemetry SDK's logging handler does
    /// (for `otlp.otel`'s logging bridge), in the context of the current span.
    #[pyo3(signature = (record, body = None))]
    fn _emit_record<'py>(
        &self,
        py: Python<'py>,
        record: &Bound<'py, PyAny>,
        body: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<()> {
        let Some(exporter) = self.0.target(py)? else {
            return Ok(());
        };
        let mut rec = self.0.logging(py, record, body, Style::Sdk)?;
        match current_context(py)? {
            Some(ctx) => rec.set_context(&ctx),
            // A span of another OpenTelemetry implementation.
            None => set_api_context(py, None, &mut rec)?,
        }
        self.0.send(py, exporter, rec);
        Ok(())
    }

    #[getter]
    fn name(&self) -> &str {
        &self.0.scope.name
    }

    #[getter]
    fn version(&self) -> Option<&str> {
        Some(self.0.scope.version.as_str()).filter(|v| !v.is_empty())
    }

    fn __repr__(&self) -> String {
        format!(
            "OtelLogger(name={:?}, version={:?})",
            self.0.scope.name, self.0.scope.version
        )
    }
}

/// The log record limits the environment sets (`OTEL_LOGRECORD_ATTRIBUTE_*_LIMIT`,
/// else `OTEL_ATTRIBUTE_*_LIMIT`): `(attribute_count, attribute_value_length)`.
#[pyfunction]
pub fn _log_limits() -> PyResult<(usize, Option<usize>)> {
    let l = limits::log_record_limits_from_env().map_err(to_py)?;
    Ok((l.count, l.value_length))
}
