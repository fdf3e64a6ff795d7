//! `Tracer`, `Span` and `SpanContext`: Python arguments to the core's spans
//! ([`otlp::trace`]), and the `ContextVar` holding the current span.

use std::sync::{Arc, Mutex, MutexGuard};

use otlp::exception::Exception;
use otlp::model::{KeyValue, SpanKind, StatusCode};
use otlp::trace::{Span, SpanContext, Tracer};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyTuple};

use crate::convert::{self, Mode};
use crate::policy;

/// The name the exporter makes tracers with.
pub use otlp::trace::Tracer as TracerCore;

/// The `ContextVar` holding the current span, and its bound methods.
struct CurrentSpan {
    var: Py<PyAny>,
    get: Py<PyAny>,
    set: Py<PyAny>,
    reset: Py<PyAny>,
}

fn current(py: Python<'_>) -> PyResult<&'static CurrentSpan> {
    static CURRENT: PyOnceLock<CurrentSpan> = PyOnceLock::new();
    CURRENT.get_or_try_init(py, || {
        let kwargs = PyDict::new(py);
        kwargs.set_item("default", py.None())?;
        let var = py
            .import("contextvars")?
            .getattr("ContextVar")?
            .call(("otlp.current_span",), Some(&kwargs))?;
        Ok(CurrentSpan {
            get: var.getattr("get")?.unbind(),
            set: var.getattr("set")?.unbind(),
            reset: var.getattr("reset")?.unbind(),
            var: var.unbind(),
        })
    })
}

/// The span current in this thread / asyncio task, or `None`.
#[pyfunction]
pub fn current_span(py: Python<'_>) -> PyResult<Py<PyAny>> {
    current(py)?.get.call0(py)
}

/// The context of the current span, if any.
pub fn current_context(py: Python<'_>) -> PyResult<Option<SpanContext>> {
    let cur = current(py)?.get.bind(py).call0()?;
    Ok(cur
        .cast::<PySpan>()
        .ok()
        .map(|s| s.get().span.context().clone()))
}

/// The `ContextVar` behind `current_span()` (for integrations that copy contexts).
pub fn current_span_var(py: Python<'_>) -> PyResult<Py<PyAny>> {
    Ok(current(py)?.var.clone_ref(py))
}

/// Identity of a span, as propagated between processes.
#[pyclass(frozen, eq, hash, name = "SpanContext", module = "otlp")]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PySpanContext(SpanContext);

#[pymethods]
impl PySpanContext {
    #[new]
    #[pyo3(signature = (trace_id, span_id, *, trace_flags = 1, is_remote = false, trace_state = ""))]
    fn new(
        trace_id: u128,
        span_id: u64,
        trace_flags: u8,
        is_remote: bool,
        trace_state: &str,
    ) -> Self {
        Self(SpanContext {
            trace_id: trace_id.to_be_bytes(),
            span_id: span_id.to_be_bytes(),
            trace_flags,
            is_remote,
            trace_state: trace_state.to_owned(),
        })
    }

    #[getter]
    fn trace_id(&self) -> u128 {
        u128::from_be_bytes(self.0.trace_id)
    }

    #[getter]
    fn span_id(&self) -> u64 {
        u64::from_be_bytes(self.0.span_id)
    }

    #[getter]
    fn trace_flags(&self) -> u8 {
        self.0.trace_flags
    }

    #[getter]
    fn is_remote(&self) -> bool {
        self.0.is_remote
    }

    #[getter]
    fn trace_state(&self) -> &str {
        &self.0.trace_state
    }

    #[getter]
    fn trace_id_hex(&self) -> String {
        self.0.trace_id_hex()
    }

    #[getter]
    fn span_id_hex(&self) -> String {
        self.0.span_id_hex()
    }

    #[getter]
    fn is_valid(&self) -> bool {
        self.0.is_valid()
    }

    fn __repr__(&self) -> String {
        format!(
            "SpanContext(trace_id=0x{}, span_id=0x{}, trace_flags=0x{:02x}, is_remote={})",
            self.0.trace_id_hex(),
            self.0.span_id_hex(),
            self.0.trace_flags,
            if self.0.is_remote { "True" } else { "False" }
        )
    }
}

/// Creates spans for one instrumentation scope. Get one from `Exporter.tracer()`.
#[pyclass(frozen, name = "Tracer", module = "otlp")]
pub struct PyTracer {
    pub core: Arc<Tracer>,
}

fn kind_from(kind: Option<&Bound<'_, PyAny>>) -> PyResult<SpanKind> {
    let Some(kind) = kind else {
        return Ok(SpanKind::Internal);
    };
    let v: i64 = kind.extract().map_err(|_| {
        PyTypeError::new_err(
            "`kind` must be an otlp.SpanKind (INTERNAL, SERVER, CLIENT, PRODUCER, CONSUMER)",
        )
    })?;
    // otlp.SpanKind follows OpenTelemetry Python (INTERNAL=0); the wire adds one.
    i32::try_from(v + 1)
        .ok()
        .filter(|w| (1..=5).contains(w))
        .and_then(SpanKind::from_wire)
        .ok_or_else(|| PyValueError::new_err(format!("`kind` must be an otlp.SpanKind; got {v}")))
}

/// The context of a `Span` or `SpanContext` argument.
fn context_of(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<SpanContext> {
    if let Ok(span) = obj.cast::<PySpan>() {
        return Ok(span.get().span.context().clone());
    }
    if let Ok(ctx) = obj.cast::<PySpanContext>() {
        return Ok(ctx.get().0.clone());
    }
    Err(PyTypeError::new_err(format!(
        "`{what}` must be an otlp.Span or otlp.SpanContext; got {}",
        obj.get_type()
            .qualname()
            .map(|n| n.to_string())
            .unwrap_or_default()
    )))
}

/// Attributes of a span, event or link: one that cannot be encoded goes to the policy.
fn attributes(attributes: Option<&Bound<'_, PyAny>>, tracer: &Tracer) -> PyResult<Vec<KeyValue>> {
    match attributes {
        Some(a) => Ok(convert::attributes(a, Mode::Native(tracer.policy()), usize::MAX)?.0),
        None => Ok(Vec::new()),
    }
}

/// An exception's `(type, value, traceback)` read for the core; a part that is `None`
/// here is left out (a Python `None` traceback still gives a stack trace).
pub fn exception(
    py: Python<'_>,
    ty: Option<&Bound<'_, PyAny>>,
    value: Option<&Bound<'_, PyAny>>,
    tb: Option<&Bound<'_, PyAny>>,
) -> PyResult<Exception> {
    let mut e = Exception::default();
    if let Some(ty) = ty {
        e.module = ty
            .getattr(intern!(py, "__module__"))
            .and_then(|m| m.extract())
            .unwrap_or_default();
        e.qualname = Some(ty.getattr(intern!(py, "__qualname__"))?.extract()?);
    }
    let text = |v: &Bound<'_, PyAny>| v.str().map(|s| s.to_string_lossy().into_owned());
    e.message = value.map(|v| text(v).unwrap_or_default());
    if let Some(tb) = tb {
        let none = py.None().into_bound(py);
        let lines = py
            .import(intern!(py, "traceback"))?
            .getattr(intern!(py, "format_exception"))?
            .call1((ty.unwrap_or(&none), value.unwrap_or(&none), tb))?;
        e.stacktrace = Some(
            PyString::new(py, "")
                .call_method1(intern!(py, "join"), (lines,))?
                .extract()?,
        );
    }
    Ok(e)
}

#[pymethods]
impl PyTracer {
    /// Start a span; as a context manager it is current inside and ends on exit.
    #[pyo3(signature = (name, *, kind = None, attributes = None, links = None, start_time = None, parent = None))]
    fn start_span(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyString>,
        kind: Option<&Bound<'_, PyAny>>,
        attributes: Option<&Bound<'_, PyAny>>,
        links: Option<&Bound<'_, PyAny>>,
        start_time: Option<u64>,
        parent: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PySpan> {
        let kind = kind_from(kind)?;
        let parent = match parent.filter(|p| !p.is_none()) {
            Some(p) => Some(context_of(p, "parent")?),
            None => {
                let cur = current(py)?.get.bind(py).call0()?;
                match cur.is_none() {
                    true => None,
                    false => Some(context_of(&cur, "parent")?),
                }
            }
        };
        let tracer = &self.core;
        let (mut span, late) = tracer.start(name.to_cow()?, kind, parent.as_ref(), start_time);
        let late = policy::late(py, late, "a span was started")?;
        if !late && attributes.is_some() {
            span = span.with_attributes(self::attributes(attributes, tracer)?);
        }
        let span = PySpan {
            span,
            token: Mutex::new(None),
        };
        if let Some(links) = links.filter(|_| !late) {
            for item in links.try_iter()? {
                let item = item?;
                let (target, attrs) = match item.cast::<PyTuple>() {
                    Ok(t) if t.len() == 2 => (t.get_item(0)?, Some(t.get_item(1)?)),
                    _ => (item, None),
                };
                let target = context_of(&target, "links")?;
                let attrs = self::attributes(attrs.as_ref(), tracer)?;
                span.span.add_link(&target, attrs);
            }
        }
        Ok(span)
    }

    /// Same as `start_span`; reads well as `with tracer.span("name") as span:`.
    #[pyo3(signature = (name, *, kind = None, attributes = None, links = None, start_time = None, parent = None))]
    fn span(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyString>,
        kind: Option<&Bound<'_, PyAny>>,
        attributes: Option<&Bound<'_, PyAny>>,
        links: Option<&Bound<'_, PyAny>>,
        start_time: Option<u64>,
        parent: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PySpan> {
        self.start_span(py, name, kind, attributes, links, start_time, parent)
    }

    /// Decorator: run each call of the function (sync or async) in a span.
    #[pyo3(signature = (name = None, *, kind = None, attributes = None))]
    fn trace(
        slf: &Bound<'_, Self>,
        name: Option<&Bound<'_, PyString>>,
        kind: Option<&Bound<'_, PyAny>>,
        attributes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        kind_from(kind)?;
        self::attributes(attributes, &slf.get().core)?;
        let make = py
            .import(intern!(py, "otlp._decorator"))?
            .getattr("make_decorator")?;
        Ok(make.call1((slf, name, kind, attributes))?.unbind())
    }

    #[getter]
    fn name(&self) -> &str {
        &self.core.scope.name
    }

    #[getter]
    fn version(&self) -> Option<&str> {
        Some(self.core.scope.version.as_str()).filter(|v| !v.is_empty())
    }

    fn __repr__(&self) -> String {
        format!(
            "Tracer(name={:?}, version={:?})",
            self.core.scope.name, self.core.scope.version
        )
    }
}

/// A span in progress. Mutators do nothing once the span has ended.
#[pyclass(frozen, name = "Span", module = "otlp")]
pub struct PySpan {
    span: Span,
    /// Token of the `ContextVar.set` made by `__enter__`.
    token: Mutex<Option<Py<PyAny>>>,
}

impl PySpan {
    fn token(&self) -> MutexGuard<'_, Option<Py<PyAny>>> {
        self.token.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn attributes(&self, a: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<KeyValue>> {
        attributes(a, self.span.tracer())
    }
}

#[pymethods]
impl PySpan {
    #[getter]
    fn context(&self) -> PySpanContext {
        PySpanContext(self.span.context().clone())
    }

    #[getter]
    fn is_recording(&self) -> bool {
        self.span.is_recording()
    }

    /// Set (or replace) one attribute.
    fn set_attribute(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let p = self.span.tracer().policy();
        let key = match convert::key(key) {
            Ok(k) => k,
            Err(e) => {
                let shown = key.repr().map(|r| r.to_string()).unwrap_or_default();
                return policy::bad_attribute(py, p, &shown, convert::Bad::Py(e));
            }
        };
        match convert::any_value(value, Mode::Native(p)) {
            Ok(v) => self.span.set_attribute(key, v),
            Err(bad) => policy::bad_attribute(py, p, &key, bad)?,
        }
        Ok(())
    }

    /// Set several attributes from a mapping.
    fn set_attributes(&self, attributes: &Bound<'_, PyAny>) -> PyResult<()> {
        self.span.set_attributes(self.attributes(Some(attributes))?);
        Ok(())
    }

    /// Record an event; `timestamp` in nanoseconds since the epoch (default: now).
    #[pyo3(signature = (name, attributes = None, *, timestamp = None))]
    fn add_event(
        &self,
        name: &Bound<'_, PyString>,
        attributes: Option<&Bound<'_, PyAny>>,
        timestamp: Option<u64>,
    ) -> PyResult<()> {
        let attributes = self.attributes(attributes)?;
        let name = name.to_cow()?.into_owned();
        self.span.add_event(name, attributes, timestamp);
        Ok(())
    }

    /// Link this span to another span (or span context).
    #[pyo3(signature = (context, attributes = None))]
    fn add_link(
        &self,
        context: &Bound<'_, PyAny>,
        attributes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let target = context_of(context, "links")?;
        self.span.add_link(&target, self.attributes(attributes)?);
        Ok(())
    }

    /// Set the status (a description is kept only with ERROR; OK is final).
    #[pyo3(signature = (code, description = None))]
    fn set_status(&self, code: &Bound<'_, PyAny>, description: Option<String>) -> PyResult<()> {
        let v: i64 = code.extract().map_err(|_| {
            PyTypeError::new_err("`code` must be an otlp.StatusCode (UNSET, OK, ERROR)")
        })?;
        let code = i32::try_from(v)
            .ok()
            .and_then(StatusCode::from_wire)
            .ok_or_else(|| {
                PyValueError::new_err(format!("`code` must be an otlp.StatusCode; got {v}"))
            })?;
        self.span.set_status(code, description);
        Ok(())
    }

    /// Record an exception as an `exception` event.
    #[pyo3(signature = (exception, attributes = None, *, timestamp = None))]
    fn record_exception(
        &self,
        py: Python<'_>,
        exception: &Bound<'_, PyAny>,
        attributes: Option<&Bound<'_, PyAny>>,
        timestamp: Option<u64>,
    ) -> PyResult<()> {
        let e = raised(py, exception)?;
        let attributes = self.attributes(attributes)?;
        self.span.record_exception(e, attributes, timestamp);
        Ok(())
    }

    fn update_name(&self, name: &Bound<'_, PyString>) -> PyResult<()> {
        self.span.update_name(name.to_cow()?.into_owned());
        Ok(())
    }

    /// End the span and hand it to the exporter; later calls do nothing.
    #[pyo3(signature = (end_time = None))]
    fn end(&self, py: Python<'_>, end_time: Option<u64>) {
        // A full queue with overflow="block" waits for room with the GIL released.
        self.span.end_released(end_time, |wait| py.detach(wait));
    }

    fn __enter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, Self>> {
        let py = slf.py();
        let token = current(py)?.set.call1(py, (slf,))?;
        *slf.get().token() = Some(token);
        Ok(slf.clone())
    }

    #[pyo3(signature = (_exc_type = None, exc_value = None, _traceback = None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<&Bound<'_, PyAny>>,
        exc_value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        if let Some(exc) = exc_value.filter(|e| !e.is_none()) {
            self.span.record_failure(raised(py, exc)?);
        }
        let token = self.token().take();
        if let Some(token) = token {
            // A token from another context (the span was exited elsewhere) cannot be
            // reset; the span still ends.
            if let Err(e) = current(py)?.reset.call1(py, (token,)) {
                if !e.is_instance_of::<PyValueError>(py) {
                    return Err(e);
                }
            }
        }
        self.span.end_released(None, |wait| py.detach(wait));
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let ctx = self.span.context();
        let name = match self.span.name() {
            Some(n) => format!("{n:?}"),
            None => "<ended>".to_owned(),
        };
        format!(
            "Span({name}, trace_id={}, span_id={})",
            ctx.trace_id_hex(),
            ctx.span_id_hex()
        )
    }
}

/// An exception object, with its class and its own traceback.
fn raised(py: Python<'_>, exc: &Bound<'_, PyAny>) -> PyResult<Exception> {
    let tb = exc.getattr(intern!(py, "__traceback__"))?;
    exception(py, Some(exc.get_type().as_any()), Some(exc), Some(&tb))
}
