//! `Tracer`, `Span` and `SpanContext`.

use std::sync::{Arc, Mutex, MutexGuard};

use otlp::ids::{new_span_id, new_trace_id, now_unix_nano};
use otlp::model::{AnyValue, Event, KeyValue, Link, Scope, SpanData, SpanKind, Status, StatusCode};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyTuple};

use crate::convert::{self, Mode, ATTRIBUTE_LIMIT};
use crate::policy;
use otlp::export::Policy;

/// Most events and links a span keeps (OTel defaults); the rest are counted as dropped.
const EVENT_LIMIT: usize = 128;
const LINK_LIMIT: usize = 128;

const FLAG_HAS_IS_REMOTE: u32 = 0x100;
const FLAG_IS_REMOTE: u32 = 0x200;
const SAMPLED: u8 = 0x01;

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
pub fn current_context(py: Python<'_>) -> PyResult<Option<PySpanContext>> {
    let cur = current(py)?.get.bind(py).call0()?;
    if cur.is_none() {
        return Ok(None);
    }
    Ok(cur.cast::<PySpan>().ok().map(|s| s.get().context.clone()))
}

/// The `ContextVar` behind `current_span()` (for integrations that copy contexts).
pub fn current_span_var(py: Python<'_>) -> PyResult<Py<PyAny>> {
    Ok(current(py)?.var.clone_ref(py))
}

/// Identity of a span, as propagated between processes.
#[pyclass(frozen, eq, hash, name = "SpanContext", module = "otlp")]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PySpanContext {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub trace_flags: u8,
    pub is_remote: bool,
    pub trace_state: String,
}

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
        Self {
            trace_id: trace_id.to_be_bytes(),
            span_id: span_id.to_be_bytes(),
            trace_flags,
            is_remote,
            trace_state: trace_state.to_owned(),
        }
    }

    /// The 128-bit trace id as an int.
    #[getter]
    fn trace_id(&self) -> u128 {
        u128::from_be_bytes(self.trace_id)
    }

    /// The 64-bit span id as an int.
    #[getter]
    fn span_id(&self) -> u64 {
        u64::from_be_bytes(self.span_id)
    }

    #[getter]
    fn trace_flags(&self) -> u8 {
        self.trace_flags
    }

    #[getter]
    fn is_remote(&self) -> bool {
        self.is_remote
    }

    /// W3C `tracestate` (`k=v,k2=v2`), empty when none.
    #[getter]
    fn trace_state(&self) -> &str {
        &self.trace_state
    }

    /// The trace id as 32 lowercase hex digits.
    #[getter]
    fn trace_id_hex(&self) -> String {
        format!("{:032x}", u128::from_be_bytes(self.trace_id))
    }

    /// The span id as 16 lowercase hex digits.
    #[getter]
    fn span_id_hex(&self) -> String {
        format!("{:016x}", u64::from_be_bytes(self.span_id))
    }

    /// Whether both ids are non-zero.
    #[getter]
    fn is_valid(&self) -> bool {
        self.trace_id != [0; 16] && self.span_id != [0; 8]
    }

    fn __repr__(&self) -> String {
        format!(
            "SpanContext(trace_id=0x{}, span_id=0x{}, trace_flags=0x{:02x}, is_remote={})",
            self.trace_id_hex(),
            self.span_id_hex(),
            self.trace_flags,
            if self.is_remote { "True" } else { "False" }
        )
    }
}

/// What a tracer shares with its spans.
pub struct TracerCore {
    pub exporter: Arc<otlp::Exporter>,
    pub scope: Arc<Scope>,
}

impl TracerCore {
    fn policy(&self) -> &Policy {
        self.exporter.policy()
    }
}

/// Creates spans for one instrumentation scope. Get one from `Exporter.tracer()`.
#[pyclass(frozen, name = "Tracer", module = "otlp")]
pub struct PyTracer {
    pub core: Arc<TracerCore>,
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
fn context_of(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<PySpanContext> {
    if let Ok(span) = obj.cast::<PySpan>() {
        return Ok(span.get().context.clone());
    }
    if let Ok(ctx) = obj.cast::<PySpanContext>() {
        return Ok(ctx.get().clone());
    }
    Err(PyTypeError::new_err(format!(
        "`{what}` must be an otlp.Span or otlp.SpanContext; got {}",
        obj.get_type()
            .qualname()
            .map(|n| n.to_string())
            .unwrap_or_default()
    )))
}

fn link_from(
    target: &Bound<'_, PyAny>,
    attributes: Option<&Bound<'_, PyAny>>,
    policy: &Policy,
) -> PyResult<Link> {
    let ctx = context_of(target, "links")?;
    let (attributes, dropped) = match attributes {
        Some(a) => convert::attributes(a, Mode::Native(policy), ATTRIBUTE_LIMIT)?,
        None => (Vec::new(), 0),
    };
    Ok(Link {
        trace_id: ctx.trace_id,
        span_id: ctx.span_id,
        trace_state: ctx.trace_state,
        attributes,
        dropped_attributes_count: dropped,
        flags: ctx.trace_flags as u32
            | FLAG_HAS_IS_REMOTE
            | if ctx.is_remote { FLAG_IS_REMOTE } else { 0 },
    })
}

fn time_arg(t: Option<u64>) -> u64 {
    t.unwrap_or_else(now_unix_nano)
}

#[pymethods]
impl PyTracer {
    /// Start a span. Use it as a context manager to make it current and end it on exit,
    /// or call `end()` yourself.
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
        let parent = match parent {
            Some(p) if !p.is_none() => Some(context_of(p, "parent")?),
            _ => {
                let cur = current(py)?.get.bind(py).call0()?;
                if cur.is_none() {
                    None
                } else {
                    Some(context_of(&cur, "parent")?)
                }
            }
        };
        let core = &self.core;
        if policy::closed(py, core.policy(), "a span was started")? {
            return Ok(PySpan::non_recording(core, parent.as_ref()));
        }
        let mut data = SpanData::new(
            core.exporter.resource().clone(),
            core.scope.clone(),
            name.to_cow()?,
        );
        data.kind = kind;
        data.span_id = new_span_id();
        let trace_flags = match &parent {
            Some(p) if p.trace_id != [0; 16] => {
                data.trace_id = p.trace_id;
                data.parent_span_id = Some(p.span_id);
                data.trace_state = p.trace_state.clone();
                data.flags = FLAG_HAS_IS_REMOTE | if p.is_remote { FLAG_IS_REMOTE } else { 0 };
                p.trace_flags
            }
            _ => {
                data.trace_id = new_trace_id();
                data.flags = FLAG_HAS_IS_REMOTE;
                SAMPLED
            }
        };
        data.flags |= trace_flags as u32;
        if let Some(a) = attributes {
            let (attrs, dropped) =
                convert::attributes(a, Mode::Native(core.policy()), ATTRIBUTE_LIMIT)?;
            data.attributes = attrs;
            data.dropped_attributes_count = dropped;
        }
        if let Some(links) = links {
            for item in links.try_iter()? {
                let item = item?;
                let link = match item.cast::<PyTuple>() {
                    Ok(t) if t.len() == 2 => {
                        link_from(&t.get_item(0)?, Some(&t.get_item(1)?), core.policy())?
                    }
                    _ => link_from(&item, None, core.policy())?,
                };
                if data.links.len() < LINK_LIMIT {
                    data.links.push(link);
                } else {
                    data.dropped_links_count += 1;
                }
            }
        }
        data.start_time_unix_nano = time_arg(start_time);
        Ok(PySpan {
            context: PySpanContext {
                trace_id: data.trace_id,
                span_id: data.span_id,
                trace_flags,
                is_remote: false,
                trace_state: data.trace_state.clone(),
            },
            tracer: core.clone(),
            state: Mutex::new(SpanState {
                data: Some(Box::new(data)),
                token: None,
            }),
        })
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

    /// Decorator: run each call of the function (sync or async) in a span named after
    /// it (or `name`).
    #[pyo3(signature = (name = None, *, kind = None, attributes = None))]
    fn trace(
        slf: &Bound<'_, Self>,
        name: Option<&Bound<'_, PyString>>,
        kind: Option<&Bound<'_, PyAny>>,
        attributes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        if let Some(k) = kind {
            kind_from(Some(k))?;
        }
        if let Some(a) = attributes {
            convert::attributes(a, Mode::Native(slf.get().core.policy()), ATTRIBUTE_LIMIT)?;
        }
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

struct SpanState {
    /// `None` once the span has ended.
    data: Option<Box<SpanData>>,
    /// Token of the `ContextVar.set` made by `__enter__`.
    token: Option<Py<PyAny>>,
}

/// A span in progress. Mutators do nothing once the span has ended.
#[pyclass(frozen, name = "Span", module = "otlp")]
pub struct PySpan {
    context: PySpanContext,
    tracer: Arc<TracerCore>,
    state: Mutex<SpanState>,
}

impl PySpan {
    /// A span that records nothing (started after shutdown): it carries its parent's
    /// trace, so that context still propagates, and is not sampled unless the parent is.
    fn non_recording(tracer: &Arc<TracerCore>, parent: Option<&PySpanContext>) -> Self {
        let (trace_id, trace_flags, trace_state) = match parent {
            Some(p) if p.trace_id != [0; 16] => (p.trace_id, p.trace_flags, p.trace_state.clone()),
            _ => (new_trace_id(), 0, String::new()),
        };
        PySpan {
            context: PySpanContext {
                trace_id,
                span_id: new_span_id(),
                trace_flags,
                is_remote: false,
                trace_state,
            },
            tracer: tracer.clone(),
            state: Mutex::new(SpanState {
                data: None,
                token: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SpanState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Run `f` on the span's data if it is still recording.
    fn with_data(&self, f: impl FnOnce(&mut SpanData)) {
        if let Some(data) = self.lock().data.as_deref_mut() {
            f(data);
        }
    }

    fn push_event(&self, event: Event) {
        self.with_data(|d| {
            if d.events.len() < EVENT_LIMIT {
                d.events.push(event);
            } else {
                d.dropped_events_count += 1;
            }
        });
    }

    fn set_error_status(&self, description: String) {
        self.with_data(|d| {
            if d.status.as_ref().is_none_or(|s| s.code != StatusCode::Ok) {
                d.status = Some(Status {
                    code: StatusCode::Error,
                    message: description,
                });
            }
        });
    }
}

fn exception_event(py: Python<'_>, exc: &Bound<'_, PyAny>) -> PyResult<Vec<KeyValue>> {
    let ty = exc.get_type();
    let module: String = ty
        .getattr(intern!(py, "__module__"))?
        .extract()
        .unwrap_or_default();
    let qualname = ty.qualname()?.to_string();
    let type_name = if module.is_empty() || module == "builtins" {
        qualname
    } else {
        format!("{module}.{qualname}")
    };
    let message = exc.str().map(|s| s.to_string()).unwrap_or_default();
    let tb = exc.getattr(intern!(py, "__traceback__"))?;
    let lines = py
        .import(intern!(py, "traceback"))?
        .getattr(intern!(py, "format_exception"))?
        .call1((ty, exc, tb))?;
    let stacktrace: String = PyString::new(py, "")
        .call_method1(intern!(py, "join"), (lines,))?
        .extract()?;
    Ok(vec![
        KeyValue::new("exception.type", AnyValue::String(type_name)),
        KeyValue::new("exception.message", AnyValue::String(message)),
        KeyValue::new("exception.stacktrace", AnyValue::String(stacktrace)),
    ])
}

#[pymethods]
impl PySpan {
    /// This span's identity.
    #[getter]
    fn context(&self) -> PySpanContext {
        self.context.clone()
    }

    /// Whether the span has not ended yet.
    #[getter]
    fn is_recording(&self) -> bool {
        self.lock().data.is_some()
    }

    /// Set (or replace) one attribute.
    fn set_attribute(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let p = self.tracer.policy();
        let key = match convert::key(key) {
            Ok(k) => k,
            Err(e) => {
                let shown = key.repr().map(|r| r.to_string()).unwrap_or_default();
                return policy::bad_attribute(py, p, &shown, convert::Bad::Py(e));
            }
        };
        let value = match convert::any_value(value, Mode::Native(p)) {
            Ok(v) => v,
            Err(bad) => return policy::bad_attribute(py, p, &key, bad),
        };
        self.with_data(|d| {
            convert::set_attribute(
                &mut d.attributes,
                &mut d.dropped_attributes_count,
                key,
                value,
            )
        });
        Ok(())
    }

    /// Set several attributes from a mapping; nothing is set if one value is invalid.
    fn set_attributes(&self, attributes: &Bound<'_, PyAny>) -> PyResult<()> {
        let (attrs, _) =
            convert::attributes(attributes, Mode::Native(self.tracer.policy()), usize::MAX)?;
        self.with_data(|d| {
            for kv in attrs {
                convert::set_attribute(
                    &mut d.attributes,
                    &mut d.dropped_attributes_count,
                    kv.key,
                    kv.value,
                );
            }
        });
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
        let (attributes, dropped) = match attributes {
            Some(a) => convert::attributes(a, Mode::Native(self.tracer.policy()), ATTRIBUTE_LIMIT)?,
            None => (Vec::new(), 0),
        };
        let event = Event {
            time_unix_nano: time_arg(timestamp),
            name: name.to_cow()?.into_owned(),
            attributes,
            dropped_attributes_count: dropped,
        };
        self.push_event(event);
        Ok(())
    }

    /// Link this span to another span (or span context).
    #[pyo3(signature = (context, attributes = None))]
    fn add_link(
        &self,
        context: &Bound<'_, PyAny>,
        attributes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let link = link_from(context, attributes, self.tracer.policy())?;
        self.with_data(|d| {
            if d.links.len() < LINK_LIMIT {
                d.links.push(link);
            } else {
                d.dropped_links_count += 1;
            }
        });
        Ok(())
    }

    /// Set the status. A description is kept only with ERROR; once OK, the status is final.
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
        self.with_data(|d| {
            if d.status.as_ref().is_some_and(|s| s.code == StatusCode::Ok) {
                return;
            }
            let message = if code == StatusCode::Error {
                description.unwrap_or_default()
            } else {
                String::new()
            };
            d.status = Some(Status { code, message });
        });
        Ok(())
    }

    /// Record an exception as an `exception` event (OTel semantic conventions).
    #[pyo3(signature = (exception, attributes = None, *, timestamp = None))]
    fn record_exception(
        &self,
        py: Python<'_>,
        exception: &Bound<'_, PyAny>,
        attributes: Option<&Bound<'_, PyAny>>,
        timestamp: Option<u64>,
    ) -> PyResult<()> {
        let mut attrs = exception_event(py, exception)?;
        let mut dropped = 0;
        if let Some(a) = attributes {
            let (extra, _) =
                convert::attributes(a, Mode::Native(self.tracer.policy()), ATTRIBUTE_LIMIT)?;
            for kv in extra {
                convert::set_attribute(&mut attrs, &mut dropped, kv.key, kv.value);
            }
        }
        let event = Event {
            time_unix_nano: time_arg(timestamp),
            name: "exception".into(),
            attributes: attrs,
            dropped_attributes_count: dropped,
        };
        self.push_event(event);
        Ok(())
    }

    /// Rename the span.
    fn update_name(&self, name: &Bound<'_, PyString>) -> PyResult<()> {
        let name = name.to_cow()?.into_owned();
        self.with_data(|d| d.name = name);
        Ok(())
    }

    /// End the span and hand it to the exporter; later calls do nothing.
    #[pyo3(signature = (end_time = None))]
    fn end(&self, end_time: Option<u64>) {
        let data = self.lock().data.take();
        if let Some(mut data) = data {
            data.end_time_unix_nano = time_arg(end_time).max(data.start_time_unix_nano);
            self.tracer.exporter.traces().export(data);
        }
    }

    fn __enter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, Self>> {
        let py = slf.py();
        let token = current(py)?.set.call1(py, (slf,))?;
        slf.get().lock().token = Some(token);
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
            self.record_exception(py, exc, None, None)?;
            let description = format!(
                "{}: {}",
                exc.get_type().qualname()?,
                exc.str().map(|s| s.to_string()).unwrap_or_default()
            );
            self.set_error_status(description);
        }
        let token = self.lock().token.take();
        if let Some(token) = token {
            // A token from another context (the span was exited elsewhere) cannot be
            // reset; the span still ends.
            if let Err(e) = current(py)?.reset.call1(py, (token,)) {
                if !e.is_instance_of::<PyValueError>(py) {
                    return Err(e);
                }
            }
        }
        self.end(None);
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let name = self.lock().data.as_ref().map(|d| d.name.clone());
        match name {
            Some(n) => format!(
                "Span({n:?}, trace_id={}, span_id={})",
                self.context.trace_id_hex(),
                self.context.span_id_hex()
            ),
            None => format!(
                "Span(<ended>, trace_id={}, span_id={})",
                self.context.trace_id_hex(),
                self.context.span_id_hex()
            ),
        }
    }
}
