//! `Tracer`, `Span`, `SpanContext` and `Sampler`: Python arguments to the core's spans
//! ([`otlp::trace`]) and samplers ([`otlp::sampling`]). Where the current span lives is
//! [`crate::context`]'s business.

use std::sync::{Arc, Mutex, MutexGuard};

use otlp::exception::Exception;
use otlp::limits::SpanLimits;
use otlp::model::{KeyValue, Scope, SpanKind, StatusCode};
use otlp::sampling::Sampler;
use otlp::trace::{Span, SpanContext, Tracer};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};

use crate::context::{self, context_of, Current, Token};
use crate::convert::{self, Mode};
use crate::errors::to_py;
use crate::policy;

/// The span current in this thread / asyncio task, or `None`. Inside a span of the
/// OpenTelemetry API provider (`otlp.otel`) it is that span (as an `otlp.Span`); inside
/// a span of another OpenTelemetry SDK it is `None` (its context is still the parent of
/// new spans and what `otlp.propagate.inject` writes).
#[pyfunction]
pub fn current_span(py: Python<'_>) -> PyResult<Py<PyAny>> {
    Ok(match context::current(py)? {
        Current::Native(s) => s.into_any().unbind(),
        Current::Otel(s) => s.get().native_face(py)?.into_any(),
        Current::None | Current::Foreign(_) => py.None(),
    })
}

/// The context of the current span (whichever API made it), if it is valid.
pub fn current_context(py: Python<'_>) -> PyResult<Option<SpanContext>> {
    context::current(py)?.context(py)
}

/// `otlp.propagate.inject`'s default: the current span's context.
#[pyfunction]
pub fn _current_span_context(py: Python<'_>) -> PyResult<Option<PySpanContext>> {
    Ok(current_context(py)?.map(PySpanContext))
}

/// The `ContextVar` behind the native API's current span (for integrations that copy
/// contexts).
pub fn current_span_var(py: Python<'_>) -> PyResult<Py<PyAny>> {
    context::native_var(py)
}

/// Identity of a span, as propagated between processes.
#[pyclass(frozen, eq, hash, name = "SpanContext", module = "otlp")]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PySpanContext(SpanContext);

impl PySpanContext {
    pub fn core(&self) -> &SpanContext {
        &self.0
    }
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

/// Which spans a tracer records and exports: one of the samplers
/// `OTEL_TRACES_SAMPLER` names.
#[pyclass(frozen, eq, name = "Sampler", module = "otlp")]
#[derive(Clone, Copy, PartialEq)]
pub struct PySampler(pub Sampler);

#[pymethods]
impl PySampler {
    #[new]
    #[pyo3(signature = (name = "parentbased_always_on", ratio = None))]
    fn new(name: &str, ratio: Option<f64>) -> PyResult<Self> {
        Sampler::new(name, ratio).map(Self).map_err(to_py)
    }

    /// The sampler `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` name, or `None`.
    #[staticmethod]
    fn from_env() -> PyResult<Option<Self>> {
        Ok(Sampler::from_env().map_err(to_py)?.map(Self))
    }

    #[getter]
    fn name(&self) -> &'static str {
        self.0.name()
    }

    #[getter]
    fn ratio(&self) -> Option<f64> {
        self.0.ratio()
    }

    fn __repr__(&self) -> String {
        match self.0.ratio() {
            Some(r) => format!("Sampler({:?}, {r:?})", self.0.name()),
            None => format!("Sampler({:?})", self.0.name()),
        }
    }
}

/// Creates spans for one instrumentation scope. Get one from `Exporter.tracer()`.
#[pyclass(frozen, name = "Tracer", module = "otlp")]
pub struct PyTracer {
    pub core: Arc<Tracer>,
}

impl PyTracer {
    /// A tracer of `exporter` for `scope`; without a sampler, the one the environment
    /// names (else `parentbased_always_on`). Limits come from the environment.
    pub fn new(
        exporter: Arc<otlp::Exporter>,
        scope: Arc<Scope>,
        sampler: Option<Sampler>,
    ) -> PyResult<Self> {
        let sampler = match sampler {
            Some(s) => s,
            None => Sampler::from_env().map_err(to_py)?.unwrap_or_default(),
        };
        Ok(Self {
            core: Arc::new(Tracer {
                sampler,
                limits: SpanLimits::from_env().map_err(to_py)?,
                ..Tracer::new(exporter, scope)
            }),
        })
    }
}

/// A span kind from its OpenTelemetry Python value (INTERNAL=0; the wire adds one).
pub fn kind_from_value(v: i64) -> PyResult<SpanKind> {
    i32::try_from(v + 1)
        .ok()
        .filter(|w| (1..=5).contains(w))
        .and_then(SpanKind::from_wire)
        .ok_or_else(|| PyValueError::new_err(format!("`kind` must be a SpanKind; got {v}")))
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
    kind_from_value(v)
}

/// Attributes of a span, event or link: one that cannot be encoded goes to the policy.
pub fn attributes(
    attributes: Option<&Bound<'_, PyAny>>,
    tracer: &Tracer,
    api: bool,
) -> PyResult<Vec<KeyValue>> {
    let mode = match api {
        true => Mode::Api(tracer.policy()),
        false => Mode::Native(tracer.policy()),
    };
    match attributes.filter(|a| !a.is_none()) {
        Some(a) => Ok(convert::attributes(a, mode, usize::MAX)?.0),
        None => Ok(Vec::new()),
    }
}

/// Start a span for either API: its first attributes converted only when it records,
/// a late start reported (or raised) by the policy. Returns the span and whether it
/// records.
#[allow(clippy::too_many_arguments)]
pub fn start(
    py: Python<'_>,
    tracer: &Arc<Tracer>,
    name: &Bound<'_, PyString>,
    kind: SpanKind,
    parent: Option<&SpanContext>,
    start_time: Option<u64>,
    attributes: Option<&Bound<'_, PyAny>>,
    api: bool,
) -> PyResult<(Arc<Span>, bool)> {
    let mut recording = false;
    let (span, late) = tracer.start_with(convert::name(name)?, kind, parent, start_time, || {
        recording = true;
        self::attributes(attributes, tracer, api)
    })?;
    let recording = !policy::late(py, late, "a span was started")? && recording;
    Ok((span, recording))
}

/// `span.set_attribute(key, value)`, for both APIs.
pub fn set_attribute(
    py: Python<'_>,
    span: &Span,
    key: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
    api: bool,
) -> PyResult<()> {
    let p = span.tracer().policy();
    let key = match convert::key(key) {
        Ok(k) => k,
        Err(e) => {
            let shown = key.repr().map(|r| r.to_string()).unwrap_or_default();
            return policy::bad_attribute(py, p, &shown, convert::Bad::Py(e));
        }
    };
    let mode = match api {
        true => Mode::Api(p),
        false => Mode::Native(p),
    };
    match convert::any_value(value, mode) {
        Ok(v) => span.set_attribute(key, v),
        Err(bad) => policy::bad_attribute(py, p, &key, bad)?,
    }
    Ok(())
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

/// An exception object, with its class and its own traceback.
pub fn raised(py: Python<'_>, exc: &Bound<'_, PyAny>) -> PyResult<Exception> {
    let tb = exc.getattr(intern!(py, "__traceback__"))?;
    exception(py, Some(exc.get_type().as_any()), Some(exc), Some(&tb))
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
            None => context::current(py)?.context(py)?,
        };
        let tracer = &self.core;
        let (span, recording) = start(
            py,
            tracer,
            name,
            kind,
            parent.as_ref(),
            start_time,
            attributes,
            false,
        )?;
        if let Some(links) = links.filter(|_| recording) {
            for item in links.try_iter()? {
                let item = item?;
                let (target, attrs) = match item.cast::<PyTuple>() {
                    Ok(t) if t.len() == 2 => (t.get_item(0)?, Some(t.get_item(1)?)),
                    _ => (item, None),
                };
                let target = context_of(&target, "links")?;
                span.add_link(&target, self::attributes(attrs.as_ref(), tracer, false)?);
            }
        }
        Ok(PySpan::new(span))
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
        self::attributes(attributes, &slf.get().core, false)?;
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

    /// Which spans this tracer records and exports.
    #[getter]
    fn sampler(&self) -> PySampler {
        PySampler(self.core.sampler)
    }

    fn __repr__(&self) -> String {
        format!(
            "Tracer(name={:?}, version={:?})",
            self.core.scope.name, self.core.scope.version
        )
    }
}

/// A span in progress. Mutators do nothing once the span has ended (or when the
/// sampler dropped it).
#[pyclass(frozen, name = "Span", module = "otlp")]
pub struct PySpan {
    /// Shared with the span's OpenTelemetry API face, if it has one.
    span: Arc<Span>,
    /// Of the `with` block the span is current in.
    token: Mutex<Option<Token>>,
}

impl PySpan {
    pub fn new(span: Arc<Span>) -> Self {
        Self {
            span,
            token: Mutex::new(None),
        }
    }

    pub fn core(&self) -> &Arc<Span> {
        &self.span
    }

    fn token(&self) -> MutexGuard<'_, Option<Token>> {
        self.token.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn attributes(&self, a: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<KeyValue>> {
        attributes(a, self.span.tracer(), false)
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
        set_attribute(py, &self.span, key, value, false)
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

    /// Set the status (UNSET is ignored, OK is final; a description is kept only with
    /// ERROR).
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
        if !self.span.is_recording() {
            return Ok(());
        }
        let e = raised(py, exception)?;
        let attributes = self.attributes(attributes)?;
        self.span.record_exception(e, attributes, timestamp);
        Ok(())
    }

    fn update_name(&self, name: &Bound<'_, PyString>) -> PyResult<()> {
        self.span.update_name(convert::name(name)?);
        Ok(())
    }

    /// End the span and hand it to the exporter; later calls do nothing.
    #[pyo3(signature = (end_time = None))]
    fn end(&self, py: Python<'_>, end_time: Option<u64>) {
        // A full queue with overflow="block" waits for room with the GIL released.
        self.span
            .end_released(end_time, |wait| crate::gil::detach(py, wait));
    }

    fn __enter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, Self>> {
        let token = context::attach_native(slf.py(), slf)?;
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
        if let Some(exc) = exc_value.filter(|e| !e.is_none() && self.span.is_recording()) {
            self.span.record_failure(raised(py, exc)?);
        }
        let token = self.token().take();
        if let Some(token) = token {
            context::detach(py, token)?;
        }
        self.span
            .end_released(None, |wait| crate::gil::detach(py, wait));
        Ok(false)
    }

    fn __repr__(&self) -> String {
        span_repr(&self.span)
    }
}

/// `Span("name", trace_id=..., span_id=...)`.
pub fn span_repr(span: &Span) -> String {
    let ctx = span.context();
    let name = match span.name() {
        Some(n) => format!("{n:?}"),
        None => "<ended or not recording>".to_owned(),
    };
    format!(
        "Span({name}, trace_id={}, span_id={})",
        ctx.trace_id_hex(),
        ctx.span_id_hex()
    )
}
