//! The OpenTelemetry API's `Tracer` and `Span` (`opentelemetry.trace`), on the core's
//! spans: what `otlp.otel.TracerProvider` hands to instrumentation. Their semantics
//! are the OpenTelemetry Python SDK's (`start_span`, `start_as_current_span` with
//! `use_span`'s exception handling, `Span.__exit__`, `set_status`, `record_exception`
//! with `exception.escaped`), and their spans are exported as that SDK exports them
//! ([`FlagsRule::RemoteOnly`]).

use std::sync::{Arc, Mutex, MutexGuard};

use otlp::model::{KeyValue, SpanKind, StatusCode};
use otlp::trace::{FlagsRule, Span, Tracer};
use pyo3::exceptions::{PyException, PyRuntimeError, PyTypeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyString;

use crate::context::{self, classify, context_of, enable_otel, Otel, Token};
use crate::convert;
use crate::tracer::{self, kind_from_value, raised, span_repr, PySpan, PyTracer};

fn otel(py: Python<'_>) -> PyResult<&'static Otel> {
    enable_otel(py)
}

/// `opentelemetry.trace.Tracer` on an `otlp.Tracer`'s exporter, scope and sampler.
#[pyclass(frozen, name = "OtelTracer", module = "otlp.otel")]
pub struct PyOtelTracer {
    core: Arc<Tracer>,
}

/// `kind`: an OpenTelemetry `SpanKind` (or an `otlp.SpanKind`).
fn api_kind(o: &Otel, kind: Option<&Bound<'_, PyAny>>) -> PyResult<SpanKind> {
    let Some(kind) = kind else {
        return Ok(SpanKind::Internal);
    };
    if let Some(i) = o.kinds.iter().position(|k| kind.is(k)) {
        return kind_from_value(i as i64);
    }
    let value = kind
        .extract::<i64>()
        .or_else(|_| kind.getattr(intern!(kind.py(), "value"))?.extract::<i64>())
        .map_err(|_| PyTypeError::new_err("`kind` must be an opentelemetry.trace.SpanKind"))?;
    kind_from_value(value)
}

/// The arguments of a span start, kept by `start_as_current_span` until `__enter__`.
struct Start {
    name: Py<PyString>,
    context: Option<Py<PyAny>>,
    kind: SpanKind,
    attributes: Option<Py<PyAny>>,
    links: Option<Py<PyAny>>,
    start_time: Option<u64>,
    record_exception: bool,
    set_status_on_exception: bool,
}

impl Start {
    fn clone_ref(&self, py: Python<'_>) -> Self {
        let opt = |o: &Option<Py<PyAny>>| o.as_ref().map(|v| v.clone_ref(py));
        Self {
            name: self.name.clone_ref(py),
            context: opt(&self.context),
            kind: self.kind,
            attributes: opt(&self.attributes),
            links: opt(&self.links),
            start_time: self.start_time,
            record_exception: self.record_exception,
            set_status_on_exception: self.set_status_on_exception,
        }
    }
}

impl PyOtelTracer {
    fn start(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyString>,
        context: Option<&Bound<'_, PyAny>>,
        kind: SpanKind,
        attributes: Option<&Bound<'_, PyAny>>,
        links: Option<&Bound<'_, PyAny>>,
        start_time: Option<u64>,
        flags: (bool, bool),
    ) -> PyResult<PyOtelSpan> {
        let o = otel(py)?;
        // `get_current_span(context)`: an explicit context is read alone.
        let parent = match context.filter(|c| !c.is_none()) {
            Some(c) => match o.span_in(py, c)? {
                Some(span) => classify(py, Some(o), span)?.context(py)?,
                None => None,
            },
            None => context::current(py)?.context(py)?,
        };
        let tracer = &self.core;
        let (span, recording) = tracer::start(
            py,
            tracer,
            name,
            kind,
            parent.as_ref(),
            start_time,
            attributes,
            true,
        )?;
        if let Some(links) = links.filter(|l| recording && !l.is_none()) {
            for link in links.try_iter()? {
                let link = link?;
                if !link.is_truthy()? {
                    continue;
                }
                let target = context_of(&link.getattr(intern!(py, "context"))?, "links")?;
                let attrs = link.getattr_opt(intern!(py, "attributes"))?;
                span.add_link(&target, tracer::attributes(attrs.as_ref(), tracer, true)?);
            }
        }
        Ok(PyOtelSpan::new(span, flags))
    }

    fn start_from(&self, py: Python<'_>, s: &Start) -> PyResult<PyOtelSpan> {
        self.start(
            py,
            s.name.bind(py),
            s.context.as_ref().map(|c| c.bind(py)),
            s.kind,
            s.attributes.as_ref().map(|a| a.bind(py)),
            s.links.as_ref().map(|l| l.bind(py)),
            s.start_time,
            (s.record_exception, s.set_status_on_exception),
        )
    }
}

#[pymethods]
impl PyOtelTracer {
    /// The OpenTelemetry face of `tracer`: same exporter, scope, sampler and limits.
    #[new]
    fn new(py: Python<'_>, tracer: &Bound<'_, PyTracer>) -> PyResult<Self> {
        otel(py)?;
        let t = &tracer.get().core;
        Ok(Self {
            core: Arc::new(Tracer {
                exporter: t.exporter.clone(),
                scope: t.scope.clone(),
                sampler: t.sampler,
                limits: t.limits,
                flags: FlagsRule::RemoteOnly,
            }),
        })
    }

    #[pyo3(signature = (
        name, context = None, kind = None, attributes = None, links = None,
        start_time = None, record_exception = true, set_status_on_exception = true,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn start_span(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyString>,
        context: Option<&Bound<'_, PyAny>>,
        kind: Option<&Bound<'_, PyAny>>,
        attributes: Option<&Bound<'_, PyAny>>,
        links: Option<&Bound<'_, PyAny>>,
        start_time: Option<u64>,
        record_exception: bool,
        set_status_on_exception: bool,
    ) -> PyResult<PyOtelSpan> {
        let kind = api_kind(otel(py)?, kind)?;
        self.start(
            py,
            name,
            context,
            kind,
            attributes,
            links,
            start_time,
            (record_exception, set_status_on_exception),
        )
    }

    #[pyo3(signature = (
        name, context = None, kind = None, attributes = None, links = None,
        start_time = None, record_exception = true, set_status_on_exception = true,
        end_on_exit = true,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn start_as_current_span(
        slf: &Bound<'_, Self>,
        name: &Bound<'_, PyString>,
        context: Option<&Bound<'_, PyAny>>,
        kind: Option<&Bound<'_, PyAny>>,
        attributes: Option<&Bound<'_, PyAny>>,
        links: Option<&Bound<'_, PyAny>>,
        start_time: Option<u64>,
        record_exception: bool,
        set_status_on_exception: bool,
        end_on_exit: bool,
    ) -> PyResult<PyAsCurrentSpan> {
        let py = slf.py();
        let opt =
            |o: Option<&Bound<'_, PyAny>>| o.filter(|v| !v.is_none()).map(|v| v.clone().unbind());
        Ok(PyAsCurrentSpan {
            tracer: slf.clone().unbind(),
            start: Start {
                name: name.clone().unbind(),
                context: opt(context),
                kind: api_kind(otel(py)?, kind)?,
                attributes: opt(attributes),
                links: opt(links),
                start_time,
                record_exception,
                set_status_on_exception,
            },
            end_on_exit,
            entered: Mutex::new(None),
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "otlp.otel.Tracer(name={:?}, version={:?})",
            self.core.scope.name, self.core.scope.version
        )
    }
}

/// `start_as_current_span(...)`: a context manager that starts the span on entry and
/// makes it current (as `use_span` does), and a decorator (each call in a new span).
#[pyclass(frozen, name = "_AsCurrentSpan", module = "otlp.otel")]
pub struct PyAsCurrentSpan {
    tracer: Py<PyOtelTracer>,
    start: Start,
    end_on_exit: bool,
    entered: Mutex<Option<(Py<PyOtelSpan>, Token)>>,
}

impl PyAsCurrentSpan {
    fn entered(&self) -> MutexGuard<'_, Option<(Py<PyOtelSpan>, Token)>> {
        self.entered.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[pymethods]
impl PyAsCurrentSpan {
    fn __enter__(&self, py: Python<'_>) -> PyResult<Py<PyOtelSpan>> {
        if self.entered().is_some() {
            return Err(PyRuntimeError::new_err(
                "this start_as_current_span(...) is already in use; call it again for \
                 another span",
            ));
        }
        let span = Py::new(py, self.tracer.get().start_from(py, &self.start)?)?;
        let token = otel(py)?.attach(py, span.bind(py).as_any())?;
        *self.entered() = Some((span.clone_ref(py), token));
        Ok(span)
    }

    /// `use_span`: the span stops being current; an `Exception` (not other
    /// `BaseException`s) is recorded and sets an ERROR status, as asked at the start;
    /// the span ends if `end_on_exit`. The exception is never swallowed.
    #[pyo3(signature = (_exc_type = None, exc_value = None, _traceback = None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<&Bound<'_, PyAny>>,
        exc_value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let Some((span, token)) = self.entered().take() else {
            return Ok(false);
        };
        context::detach(py, token)?;
        let span = span.get();
        if let Some(exc) = exc_value.filter(|e| e.is_instance_of::<PyException>()) {
            if span.span.is_recording() {
                if self.start.record_exception {
                    span.record(py, exc, false, None, None)?;
                }
                if self.start.set_status_on_exception {
                    span.fail(py, exc)?;
                }
            }
        }
        if self.end_on_exit {
            span.span
                .end_released(None, |wait| crate::gil::detach(py, wait));
        }
        Ok(false)
    }

    /// As a decorator: each call of `func` (sync or async) runs in a new span.
    fn __call__(slf: &Bound<'_, Self>, func: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        Ok(py
            .import(intern!(py, "otlp.otel._trace"))?
            .getattr(intern!(py, "_decorate"))?
            .call1((slf, func))?
            .unbind())
    }

    /// A new manager with the same arguments (for each call of a decorated function).
    fn _recreate(&self, py: Python<'_>) -> Self {
        Self {
            tracer: self.tracer.clone_ref(py),
            start: self.start.clone_ref(py),
            end_on_exit: self.end_on_exit,
            entered: Mutex::new(None),
        }
    }
}

/// `opentelemetry.trace.Span` on a core span. A span the sampler dropped is one too:
/// it records nothing and still carries its context.
#[pyclass(frozen, name = "OtelSpan", module = "otlp.otel")]
pub struct PyOtelSpan {
    span: Arc<Span>,
    /// What `__exit__` does with an exception (`start_span`'s arguments).
    record_exception: bool,
    set_status_on_exception: bool,
    /// The API `SpanContext`, built on first use (it costs more than the span).
    api_context: PyOnceLock<Py<PyAny>>,
    /// The span as an `otlp.Span` (`otlp.current_span()`), made on first use, or the
    /// native span this is the face of.
    native: PyOnceLock<Py<PySpan>>,
}

impl PyOtelSpan {
    fn new(span: Arc<Span>, (record_exception, set_status_on_exception): (bool, bool)) -> Self {
        Self {
            span,
            record_exception,
            set_status_on_exception,
            api_context: PyOnceLock::new(),
            native: PyOnceLock::new(),
        }
    }

    /// The API face of a native span, to make it current in the OpenTelemetry context.
    pub fn face_of(native: &Bound<'_, PySpan>) -> Self {
        let face = Self::new(native.get().core().clone(), (true, true));
        let _ = face.native.set(native.py(), native.clone().unbind());
        face
    }

    pub fn core(&self) -> &Arc<Span> {
        &self.span
    }

    /// The same span as an `otlp.Span`.
    pub fn native_face(&self, py: Python<'_>) -> PyResult<Py<PySpan>> {
        self.native
            .get_or_try_init(py, || Py::new(py, PySpan::new(self.span.clone())))
            .map(|s| s.clone_ref(py))
    }

    fn attributes(&self, a: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<KeyValue>> {
        tracer::attributes(a, self.span.tracer(), true)
    }

    /// `record_exception(exc, attributes, timestamp, escaped)`.
    fn record(
        &self,
        py: Python<'_>,
        exception: &Bound<'_, PyAny>,
        escaped: bool,
        attributes: Option<&Bound<'_, PyAny>>,
        timestamp: Option<u64>,
    ) -> PyResult<()> {
        let e = raised(py, exception)?;
        // `str(escaped)`, as the SDK writes it.
        let escaped = if escaped { "True" } else { "False" };
        let mut attrs = vec![KeyValue::new("exception.escaped", escaped.into())];
        attrs.extend(self.attributes(attributes)?);
        self.span.record_exception(e, attrs, timestamp);
        Ok(())
    }

    /// `set_status(Status(ERROR, f"{type(exc).__name__}: {exc}"))`.
    fn fail(&self, py: Python<'_>, exc: &Bound<'_, PyAny>) -> PyResult<()> {
        let e = tracer::exception(py, Some(exc.get_type().as_any()), Some(exc), None)?;
        self.span
            .set_status(StatusCode::Error, Some(e.status_description()));
        Ok(())
    }
}

#[pymethods]
impl PyOtelSpan {
    /// The span's `opentelemetry.trace.SpanKind`, readable after `end()` as the SDK
    /// span's is (the WSGI and ASGI instrumentations read it).
    #[getter]
    fn kind(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        // The API numbers kinds from INTERNAL = 0; the model from UNSPECIFIED = 0.
        let i = (self.span.kind() as usize).saturating_sub(1);
        Ok(otel(py)?.kinds[i].clone_ref(py))
    }

    fn get_span_context(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.api_context
            .get_or_try_init(py, || otel(py)?.api_context(py, self.span.context()))
            .map(|c| c.clone_ref(py))
    }

    fn is_recording(&self) -> bool {
        self.span.is_recording()
    }

    fn set_attribute(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        if !self.span.is_recording() {
            return Ok(());
        }
        tracer::set_attribute(py, &self.span, key, value, true)
    }

    fn set_attributes(&self, attributes: &Bound<'_, PyAny>) -> PyResult<()> {
        if self.span.is_recording() {
            self.span.set_attributes(self.attributes(Some(attributes))?);
        }
        Ok(())
    }

    #[pyo3(signature = (name, attributes = None, timestamp = None))]
    fn add_event(
        &self,
        name: &Bound<'_, PyString>,
        attributes: Option<&Bound<'_, PyAny>>,
        timestamp: Option<u64>,
    ) -> PyResult<()> {
        if self.span.is_recording() {
            let attributes = self.attributes(attributes)?;
            self.span
                .add_event(name.to_cow()?.into_owned(), attributes, timestamp);
        }
        Ok(())
    }

    #[pyo3(signature = (context, attributes = None))]
    fn add_link(
        &self,
        context: &Bound<'_, PyAny>,
        attributes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        if self.span.is_recording() && !context.is_none() {
            let target = context_of(context, "context")?;
            self.span.add_link(&target, self.attributes(attributes)?);
        }
        Ok(())
    }

    fn update_name(&self, name: &Bound<'_, PyString>) -> PyResult<()> {
        self.span.update_name(convert::name(name)?);
        Ok(())
    }

    /// `Status`, or a `StatusCode` with a description (kept only with ERROR). UNSET
    /// is ignored and OK is final; anything else is ignored, as the SDK does.
    #[pyo3(signature = (status, description = None))]
    fn set_status(
        &self,
        py: Python<'_>,
        status: &Bound<'_, PyAny>,
        description: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let o = otel(py)?;
        let (code, description) = if status.is_instance(o.status_type.bind(py))? {
            (
                status.getattr(intern!(py, "status_code"))?,
                status.getattr(intern!(py, "description"))?,
            )
        } else {
            (
                status.clone(),
                description
                    .cloned()
                    .unwrap_or_else(|| py.None().into_bound(py)),
            )
        };
        let code = match o.status_codes.iter().position(|c| code.is(c)) {
            Some(0) => StatusCode::Unset,
            Some(1) => StatusCode::Ok,
            Some(_) => StatusCode::Error,
            None => return Ok(()),
        };
        self.span
            .set_status(code, description.extract::<String>().ok());
        Ok(())
    }

    #[pyo3(signature = (exception, attributes = None, timestamp = None, escaped = false))]
    fn record_exception(
        &self,
        py: Python<'_>,
        exception: &Bound<'_, PyAny>,
        attributes: Option<&Bound<'_, PyAny>>,
        timestamp: Option<u64>,
        escaped: bool,
    ) -> PyResult<()> {
        if !self.span.is_recording() {
            return Ok(());
        }
        self.record(py, exception, escaped, attributes, timestamp)
    }

    #[pyo3(signature = (end_time = None))]
    fn end(&self, py: Python<'_>, end_time: Option<u64>) {
        self.span
            .end_released(end_time, |wait| crate::gil::detach(py, wait));
    }

    fn __enter__<'py>(slf: &Bound<'py, Self>) -> Bound<'py, Self> {
        slf.clone()
    }

    /// The SDK's `Span.__exit__`: an exception (any `BaseException`) is recorded as
    /// escaped and sets an ERROR status, as `start_span` was asked; then the span ends.
    #[pyo3(signature = (exc_type = None, exc_val = None, exc_tb = None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        exc_val: Option<&Bound<'_, PyAny>>,
        exc_tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let _ = (exc_type, exc_tb);
        if let Some(exc) = exc_val.filter(|e| !e.is_none() && self.span.is_recording()) {
            if self.record_exception {
                self.record(py, exc, true, None, None)?;
            }
            if self.set_status_on_exception {
                self.fail(py, exc)?;
            }
        }
        self.span
            .end_released(None, |wait| crate::gil::detach(py, wait));
        Ok(())
    }

    fn __repr__(&self) -> String {
        span_repr(&self.span)
    }
}
