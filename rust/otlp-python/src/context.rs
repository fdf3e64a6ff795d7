//! Where the current span lives, and the OpenTelemetry API's span contexts.
//!
//! Until the OpenTelemetry API (`opentelemetry.trace`) is imported, the native API keeps
//! its current span in a `ContextVar` of its own: the cheapest. From then on, spans are
//! made current in `opentelemetry.context`, as the API's `use_span` does, so that
//! `trace.get_current_span()`, the API's propagators and any instrumentation see them,
//! and native spans and the API's nest in each other. The native `ContextVar` is still
//! read when the OpenTelemetry context holds no span (a native span entered before the
//! switch).
//!
//! With the default runtime context (`ContextVarsRuntimeContext`) the binding reads and
//! sets its `ContextVar` itself; another runtime context (`OTEL_PYTHON_CONTEXT`) is
//! used through `opentelemetry.context.attach` / `detach`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use otlp::trace::SpanContext;
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyTuple, PyType};

use crate::otel_trace::{PyOtelSpan, PyOtelTracer};
use crate::tracer::{PySpan, PySpanContext};

/// A `ContextVar` and its bound methods (those the C functions stand for elsewhere).
struct Var {
    var: Py<PyAny>,
    get: Py<PyAny>,
    #[cfg(windows)]
    set: Py<PyAny>,
    #[cfg(windows)]
    reset: Py<PyAny>,
}

impl Var {
    fn new(var: Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Self {
            get: var.getattr("get")?.unbind(),
            #[cfg(windows)]
            set: var.getattr("set")?.unbind(),
            #[cfg(windows)]
            reset: var.getattr("reset")?.unbind(),
            var: var.unbind(),
        })
    }

    /// `var.get()`.
    fn get<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        #[cfg(not(windows))]
        {
            let mut value = std::ptr::null_mut();
            // SAFETY: the GIL is held; CPython checks that `var` is a ContextVar (else
            // -1 with TypeError set); `value` receives a new reference, or NULL when the
            // variable has no value and no default.
            let rc = unsafe {
                capi::PyContextVar_Get(self.var.as_ptr(), std::ptr::null_mut(), &mut value)
            };
            if rc != 0 {
                return Err(PyErr::fetch(py));
            }
            if !value.is_null() {
                // SAFETY: a new reference, owned from here on.
                return Ok(unsafe { Bound::from_owned_ptr(py, value) });
            }
        }
        // No value: the method raises the `LookupError` Python code would see.
        self.get.bind(py).call0()
    }

    /// `var.set(value)`: the token.
    #[cfg(not(windows))]
    fn set<'py>(&self, value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        // SAFETY: the GIL is held; CPython checks the variable's type; the result is a
        // new reference to the token, or NULL with an exception set.
        unsafe {
            Bound::from_owned_ptr_or_err(
                value.py(),
                capi::PyContextVar_Set(self.var.as_ptr(), value.as_ptr()),
            )
        }
    }

    #[cfg(windows)]
    fn set<'py>(&self, value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        self.set.bind(value.py()).call1((value,))
    }

    /// `var.reset(token)`.
    #[cfg(not(windows))]
    fn reset(&self, token: &Bound<'_, PyAny>) -> PyResult<()> {
        // SAFETY: the GIL is held; CPython checks both types and that the token belongs
        // to this variable and context (else -1 with the exception set).
        match unsafe { capi::PyContextVar_Reset(self.var.as_ptr(), token.as_ptr()) } {
            0 => Ok(()),
            _ => Err(PyErr::fetch(token.py())),
        }
    }

    #[cfg(windows)]
    fn reset(&self, token: &Bound<'_, PyAny>) -> PyResult<()> {
        self.reset.bind(token.py()).call1((token,)).map(drop)
    }
}

/// `contextvars`' own C functions, called directly on the hot path (a `with` block
/// sets and resets a variable): public C API since Python 3.7 with the same signatures
/// in every version since, but outside the limited API. Only Windows enforces that,
/// at link time (`python3.dll` does not export them): there the methods are called.
#[cfg(not(windows))]
mod capi {
    use std::os::raw::c_int;

    use pyo3::ffi::PyObject;

    extern "C" {
        pub fn PyContextVar_Get(
            var: *mut PyObject,
            default_value: *mut PyObject,
            value: *mut *mut PyObject,
        ) -> c_int;
        pub fn PyContextVar_Set(var: *mut PyObject, value: *mut PyObject) -> *mut PyObject;
        pub fn PyContextVar_Reset(var: *mut PyObject, token: *mut PyObject) -> c_int;
    }
}

/// The native API's own `ContextVar`.
fn native(py: Python<'_>) -> PyResult<&'static Var> {
    static NATIVE: PyOnceLock<Var> = PyOnceLock::new();
    NATIVE.get_or_try_init(py, || {
        let kwargs = PyDict::new(py);
        kwargs.set_item("default", py.None())?;
        let var = py
            .import("contextvars")?
            .getattr("ContextVar")?
            .call(("otlp.current_span",), Some(&kwargs))?;
        Var::new(var)
    })
}

/// The `ContextVar` behind the native API's current span (for integrations that copy
/// contexts).
pub fn native_var(py: Python<'_>) -> PyResult<Py<PyAny>> {
    Ok(native(py)?.var.clone_ref(py))
}

/// How the OpenTelemetry context is read and changed.
enum Runtime {
    /// `ContextVarsRuntimeContext`'s own `ContextVar`.
    Var(Var),
    /// `opentelemetry.context.get_current` and `attach`.
    Calls {
        get_current: Py<PyAny>,
        attach: Py<PyAny>,
    },
}

/// What the binding uses of the OpenTelemetry API, looked up once.
pub struct Otel {
    runtime: Runtime,
    /// `opentelemetry.context.detach`: also the fallback when resetting fails, so that
    /// such a failure is reported as the API reports it.
    detach: Py<PyAny>,
    /// `opentelemetry.context.Context`.
    context_type: Py<PyAny>,
    /// The key of the current span in a `Context`.
    span_key: Py<PyString>,
    /// `opentelemetry.trace.Span`, the abstract class every API span registers with.
    span_type: Py<PyType>,
    span_context_type: Py<PyAny>,
    tuple_new: Py<PyAny>,
    trace_flags_type: Py<PyAny>,
    /// `TraceFlags(0)` to `TraceFlags(3)`: the flags of nearly every span.
    trace_flags: [Py<PyAny>; 4],
    default_trace_state: Py<PyAny>,
    trace_state_from_header: Py<PyAny>,
    pub status_type: Py<PyType>,
    /// `StatusCode.UNSET`, `OK`, `ERROR`.
    pub status_codes: [Py<PyAny>; 3],
    /// `SpanKind.INTERNAL` ... `CONSUMER`, in the order of their values.
    pub kinds: [Py<PyAny>; 5],
}

static OTEL: PyOnceLock<Otel> = PyOnceLock::new();
/// Set when the API was found but could not be used (an incompatible version): then
/// the native API keeps its own `ContextVar` for good instead of retrying at each span.
static UNUSABLE: AtomicBool = AtomicBool::new(false);

/// `len(sys.modules)` + 1 when `opentelemetry.trace` was last found missing from it
/// (0: not yet looked). Importing a module adds to `sys.modules`, so while its length
/// is the same the API is still not imported, and a span need not look it up again
/// (a lookup in that large dict twice per span was 5% of a native span's cost). Only
/// a module removed from `sys.modules` and the API imported alone in its place could
/// hide the API, until the next import of anything.
static MISSING_AT: AtomicUsize = AtomicUsize::new(0);

/// The OpenTelemetry API, once it has been imported (by anyone).
#[inline]
pub fn otel(py: Python<'_>) -> Option<&'static Otel> {
    match OTEL.get(py) {
        Some(o) => Some(o),
        None => look_for_otel(py),
    }
}

#[cold]
fn look_for_otel(py: Python<'_>) -> Option<&'static Otel> {
    static MODULES: PyOnceLock<Py<PyDict>> = PyOnceLock::new();
    if UNUSABLE.load(Ordering::Relaxed) {
        return None;
    }
    let modules = MODULES
        .get_or_try_init(py, || -> PyResult<_> {
            Ok(py
                .import("sys")?
                .getattr("modules")?
                .cast_into::<PyDict>()?
                .unbind())
        })
        .ok()?
        .bind(py);
    let len = modules.len() + 1;
    if MISSING_AT.load(Ordering::Relaxed) == len {
        return None;
    }
    let Some(trace) = modules.get_item(intern!(py, "opentelemetry.trace")).ok()? else {
        MISSING_AT.store(len, Ordering::Relaxed);
        return None;
    };
    // `use_span` is among the last names the module defines: without it, the module
    // is still being imported.
    trace.getattr_opt(intern!(py, "use_span")).ok()??;
    match enable_otel(py) {
        Ok(o) => Some(o),
        Err(_) => {
            UNUSABLE.store(true, Ordering::Relaxed);
            None
        }
    }
}

/// Look up the OpenTelemetry API (importing it if need be) and register the API
/// classes; an error says why it cannot be used.
pub fn enable_otel(py: Python<'_>) -> PyResult<&'static Otel> {
    OTEL.get_or_try_init(py, || {
        let context = py.import("opentelemetry.context")?;
        let trace = py.import("opentelemetry.trace")?;
        let runtime_context = context.getattr_opt("_RUNTIME_CONTEXT")?;
        let default_runtime = py
            .import("opentelemetry.context.contextvars_context")?
            .getattr("ContextVarsRuntimeContext")?;
        let runtime = match runtime_context {
            Some(rc) if rc.get_type().is(&default_runtime) => {
                Runtime::Var(Var::new(rc.getattr("_current_context")?)?)
            }
            _ => Runtime::Calls {
                get_current: context.getattr("get_current")?.unbind(),
                attach: context.getattr("attach")?.unbind(),
            },
        };
        let trace_flags_type = trace.getattr("TraceFlags")?;
        let flag = |v: u8| -> PyResult<Py<PyAny>> { Ok(trace_flags_type.call1((v,))?.unbind()) };
        let members = |class: &str, names: &[&str]| -> PyResult<Vec<Py<PyAny>>> {
            let class = trace.getattr(class)?;
            names
                .iter()
                .map(|n| Ok(class.getattr(*n)?.unbind()))
                .collect()
        };
        let status_codes = members("StatusCode", &["UNSET", "OK", "ERROR"])?;
        let kinds = members(
            "SpanKind",
            &["INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"],
        )?;
        let trace_state = trace.getattr("TraceState")?;
        let span_type = trace.getattr("Span")?.cast_into::<PyType>()?;
        span_type.call_method1("register", (py.get_type::<PyOtelSpan>(),))?;
        trace
            .getattr("Tracer")?
            .call_method1("register", (py.get_type::<PyOtelTracer>(),))?;
        Ok(Otel {
            runtime,
            detach: context.getattr("detach")?.unbind(),
            context_type: context.getattr("Context")?.unbind(),
            span_key: py
                .import("opentelemetry.trace.propagation")?
                .getattr("_SPAN_KEY")?
                .cast_into::<PyString>()?
                .unbind(),
            span_type: span_type.unbind(),
            span_context_type: trace.getattr("SpanContext")?.unbind(),
            tuple_new: py.get_type::<PyTuple>().getattr("__new__")?.unbind(),
            trace_flags: [flag(0)?, flag(1)?, flag(2)?, flag(3)?],
            trace_flags_type: trace_flags_type.unbind(),
            default_trace_state: trace.getattr("DEFAULT_TRACE_STATE")?.unbind(),
            trace_state_from_header: trace_state.getattr("from_header")?.unbind(),
            status_type: trace.getattr("Status")?.cast_into::<PyType>()?.unbind(),
            status_codes: status_codes
                .try_into()
                .map_err(|_| PyTypeError::new_err("StatusCode"))?,
            kinds: kinds
                .try_into()
                .map_err(|_| PyTypeError::new_err("SpanKind"))?,
        })
    })
}

/// A token of [`attach`]: what `__exit__` hands back to [`detach`].
pub enum Token {
    /// Of the native `ContextVar`.
    Native(Py<PyAny>),
    /// Of the OpenTelemetry context.
    Otel(Py<PyAny>),
}

impl Otel {
    /// The current OpenTelemetry `Context`.
    pub fn current_context<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.runtime {
            Runtime::Var(v) => v.get(py),
            Runtime::Calls { get_current, .. } => get_current.bind(py).call0(),
        }
    }

    /// The span a `Context` holds, if any.
    pub fn span_in<'py>(
        &self,
        py: Python<'py>,
        context: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let key = self.span_key.bind(py);
        match context.cast::<PyDict>() {
            Ok(d) => d.get_item(key),
            Err(_) => {
                let span = context.call_method1(intern!(py, "get"), (key,))?;
                Ok(Some(span).filter(|s| !s.is_none()))
            }
        }
    }

    /// Make `span` current in the OpenTelemetry context (`use_span`'s `attach`).
    pub fn attach(&self, py: Python<'_>, span: &Bound<'_, PyAny>) -> PyResult<Token> {
        let current = self.current_context(py)?;
        // Context is a dict whose Python-level mutators raise; PyDict_SetItem is the
        // dict's own, on a copy nobody else holds yet.
        let context = self.context_type.bind(py).call1((current,))?;
        context
            .cast::<PyDict>()?
            .set_item(self.span_key.bind(py), span)?;
        let token = match &self.runtime {
            Runtime::Var(v) => v.set(&context)?,
            Runtime::Calls { attach, .. } => attach.bind(py).call1((context,))?,
        };
        Ok(Token::Otel(token.unbind()))
    }

    fn detach(&self, py: Python<'_>, token: Py<PyAny>) -> PyResult<()> {
        if let Runtime::Var(v) = &self.runtime {
            if v.reset(token.bind(py)).is_ok() {
                return Ok(());
            }
        }
        // `detach` logs a failure (a token of another context) and returns.
        self.detach.bind(py).call1((token,)).map(drop)
    }

    /// The API `SpanContext` of `ctx`.
    pub fn api_context(&self, py: Python<'_>, ctx: &SpanContext) -> PyResult<Py<PyAny>> {
        let flags = match self.trace_flags.get(usize::from(ctx.trace_flags)) {
            Some(f) => f.clone_ref(py),
            None => self.trace_flags_type.call1(py, (ctx.trace_flags,))?,
        };
        let state = if ctx.trace_state.is_empty() {
            self.default_trace_state.clone_ref(py)
        } else {
            self.trace_state_from_header
                .call1(py, ([ctx.trace_state.as_str()],))?
        };
        let fields = (
            u128::from_be_bytes(ctx.trace_id),
            u64::from_be_bytes(ctx.span_id),
            ctx.is_remote,
            flags,
            state,
            ctx.is_valid(),
        );
        // What SpanContext.__new__ does once it has checked the ids: the tuple directly.
        self.tuple_new
            .call1(py, (self.span_context_type.bind(py), fields))
    }

    /// The context an API `SpanContext` (or anything with its attributes) names.
    pub fn core_context(&self, sc: &Bound<'_, PyAny>) -> PyResult<SpanContext> {
        let py = sc.py();
        let (trace_id, span_id, remote, flags, state) = match sc.cast::<PyTuple>() {
            Ok(t) if t.len() >= 5 => (
                t.get_item(0)?,
                t.get_item(1)?,
                t.get_item(2)?,
                t.get_item(3)?,
                t.get_item(4)?,
            ),
            _ => (
                sc.getattr(intern!(py, "trace_id"))?,
                sc.getattr(intern!(py, "span_id"))?,
                sc.getattr(intern!(py, "is_remote"))?,
                sc.getattr(intern!(py, "trace_flags"))?,
                sc.getattr(intern!(py, "trace_state"))?,
            ),
        };
        // Ids out of range make an invalid context, as SpanContext.is_valid says.
        let trace_id = trace_id.extract::<u128>().unwrap_or(0);
        let span_id = span_id.extract::<u64>().unwrap_or(0);
        let empty = state.is_none()
            || state.is(self.default_trace_state.bind(py))
            || state.len().unwrap_or(0) == 0;
        let trace_state = if empty {
            String::new()
        } else {
            state.call_method0(intern!(py, "to_header"))?.extract()?
        };
        Ok(SpanContext {
            trace_id: trace_id.to_be_bytes(),
            span_id: span_id.to_be_bytes(),
            trace_flags: flags.extract::<u64>().map_or(0, |f| f as u8),
            is_remote: remote.is_truthy()?,
            trace_state,
        })
    }

    /// Whether `obj` is an API span (ours registered, the SDK's, `NonRecordingSpan`).
    pub fn is_api_span(&self, obj: &Bound<'_, PyAny>) -> PyResult<bool> {
        obj.is_instance(self.span_type.bind(obj.py()))
    }
}

/// The current span, wherever it lives.
pub enum Current<'py> {
    None,
    Native(Bound<'py, PySpan>),
    Otel(Bound<'py, PyOtelSpan>),
    /// A span of another API implementation (the SDK's, a `NonRecordingSpan` of an
    /// extracted context).
    Foreign(Bound<'py, PyAny>),
}

impl Current<'_> {
    /// Its context when it is valid: the parent of a span started now.
    pub fn context(&self, py: Python<'_>) -> PyResult<Option<SpanContext>> {
        let ctx = match self {
            Current::None => return Ok(None),
            Current::Native(s) => s.get().core().context().clone(),
            Current::Otel(s) => s.get().core().context().clone(),
            Current::Foreign(s) => {
                let sc = s.call_method0(intern!(py, "get_span_context"))?;
                if sc.is_none() {
                    return Ok(None);
                }
                match otel(py) {
                    Some(o) => o.core_context(&sc)?,
                    None => return Ok(None),
                }
            }
        };
        Ok(Some(ctx).filter(|c| c.is_valid()))
    }
}

/// What a `Context`'s span (or the native `ContextVar`'s) is.
pub fn classify<'py>(
    py: Python<'py>,
    o: Option<&Otel>,
    span: Bound<'py, PyAny>,
) -> PyResult<Current<'py>> {
    if span.is_none() {
        return Ok(Current::None);
    }
    let span = match span.cast_into::<PyOtelSpan>() {
        Ok(s) => return Ok(Current::Otel(s)),
        Err(e) => e.into_inner(),
    };
    let span = match span.cast_into::<PySpan>() {
        Ok(s) => return Ok(Current::Native(s)),
        Err(e) => e.into_inner(),
    };
    // `get_current_span` treats anything else as no span.
    match o {
        Some(o) if o.is_api_span(&span)? => Ok(Current::Foreign(span)),
        _ => {
            let _ = py;
            Ok(Current::None)
        }
    }
}

/// The span current in this thread / asyncio task.
pub fn current(py: Python<'_>) -> PyResult<Current<'_>> {
    let o = otel(py);
    if let Some(o) = o {
        let context = o.current_context(py)?;
        if let Some(span) = o.span_in(py, &context)? {
            return classify(py, Some(o), span);
        }
    }
    classify(py, o, native(py)?.get(py)?)
}

/// Make `span` (a native one) current: in the OpenTelemetry context through its API
/// face once the API is in use, else in the native `ContextVar`.
pub fn attach_native(py: Python<'_>, span: &Bound<'_, PySpan>) -> PyResult<Token> {
    match otel(py) {
        Some(o) => {
            let face = Bound::new(py, PyOtelSpan::face_of(span))?;
            o.attach(py, face.as_any())
        }
        None => Ok(Token::Native(native(py)?.set(span.as_any())?.unbind())),
    }
}

/// Undo an [`attach_native`] or an attach of an API span. A token of another context
/// (the span was exited elsewhere) cannot be reset; that is not the caller's error.
pub fn detach(py: Python<'_>, token: Token) -> PyResult<()> {
    match token {
        Token::Native(token) => match native(py)?.reset(token.bind(py)) {
            Err(e) if !e.is_instance_of::<pyo3::exceptions::PyValueError>(py) => Err(e),
            _ => Ok(()),
        },
        Token::Otel(token) => match OTEL.get(py) {
            Some(o) => o.detach(py, token),
            None => Ok(()),
        },
    }
}

/// The context of a span or span context given as an argument (`parent=`, a link):
/// native or OpenTelemetry API ones.
pub fn context_of(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<SpanContext> {
    let py = obj.py();
    if let Ok(span) = obj.cast::<PySpan>() {
        return Ok(span.get().core().context().clone());
    }
    if let Ok(ctx) = obj.cast::<PySpanContext>() {
        return Ok(ctx.get().core().clone());
    }
    if let Ok(span) = obj.cast::<PyOtelSpan>() {
        return Ok(span.get().core().context().clone());
    }
    if let Some(o) = otel(py) {
        if obj.is_instance(o.span_context_type.bind(py))? {
            return o.core_context(obj);
        }
        if o.is_api_span(obj)? {
            let sc = obj.call_method0(intern!(py, "get_span_context"))?;
            return o.core_context(&sc);
        }
    }
    Err(PyTypeError::new_err(format!(
        "`{what}` must be an otlp.Span or otlp.SpanContext (or an OpenTelemetry span or \
         span context); got {}",
        obj.get_type()
            .qualname()
            .map(|n| n.to_string())
            .unwrap_or_default()
    )))
}
