//! `otlp.Exporter`: its arguments into the core's settings, and its methods.

use std::sync::Arc;
use std::time::{Duration, Instant};

use otlp::export::{Settings, SignalKind, Stat};
use otlp::time::Done;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::convert::{self, Mode};
use crate::errors::{guard, to_py};
use crate::logger::PyLogger;
use crate::meter::PyMeter;
use crate::tracer::{PySampler, PyTracer};

/// Waits are cut into slices so that Ctrl-C interrupts them.
const WAIT_SLICE: Duration = Duration::from_millis(100);

/// Exports spans, metrics and log records to an OTLP collector. Everything is sent in
/// the background; nothing here waits on the network except `force_flush` and
/// `shutdown`.
#[pyclass(frozen, weakref, subclass, name = "Exporter", module = "otlp")]
pub struct PyExporter {
    core: Arc<otlp::Exporter>,
}

/// The deadline of a wait (`force_flush`, `shutdown`): `timeout` seconds from now
/// (10 by default).
fn wait_deadline(timeout: Option<&Bound<'_, PyAny>>) -> PyResult<Instant> {
    let seconds = match timeout
        .filter(|t| !t.is_none())
        .map(convert::value)
        .transpose()?
    {
        None => 10.0,
        Some(otlp::export::Value::Float(f)) => f,
        Some(otlp::export::Value::Int(i)) => i as f64,
        Some(other) => {
            return Err(to_py(otlp::Error::Type(format!(
                "`timeout` must be a number of seconds; got {}",
                other.type_name()
            ))))
        }
    };
    otlp::time::deadline_in(seconds).map_err(to_py)
}

/// Wait until `done(until)` is true or `deadline` passes, with the GIL released, in
/// slices that let signal handlers (Ctrl-C) run.
fn wait_in_slices(py: Python<'_>, deadline: Instant, done: &Done<'_>) -> PyResult<bool> {
    loop {
        let until = deadline.min(Instant::now() + WAIT_SLICE);
        if crate::gil::detach(py, || done(until)) {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        py.check_signals()?;
    }
}

impl PyExporter {
    /// The core exporter (the SDK bridge queues into its pipelines).
    pub fn core(&self) -> &Arc<otlp::Exporter> {
        &self.core
    }

    fn scope(
        &self,
        name: &Bound<'_, PyString>,
        version: Option<String>,
        schema_url: Option<String>,
        attributes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Arc<otlp::model::Scope>> {
        let attributes = match attributes.filter(|a| !a.is_none()) {
            Some(a) => convert::attributes(a, Mode::Raise, usize::MAX)?.0,
            None => Vec::new(),
        };
        Ok(self.core.scope(
            name.to_cow()?.into_owned(),
            version.unwrap_or_default(),
            schema_url.unwrap_or_default(),
            attributes,
        ))
    }
}

#[pymethods]
impl PyExporter {
    #[new]
    #[pyo3(
        signature = (
            endpoint = None, *, protocol = None, headers = None, compression = None,
            timeout = None, resource = None, batch = None, retry = None, metrics = None,
            circuit_breaker = None, max_request_size = None, tls = None, http_version = None,
            signals = None, strict = None, queue = None,
        ),
        text_signature = "(endpoint='http://localhost:4317', *, protocol='grpc', headers=None, \
                          compression='none', timeout=10.0, resource=None, batch=None, \
                          retry=None, metrics=None, circuit_breaker=None, \
                          max_request_size=4194304, tls=None, http_version='auto', signals=None, \
                          strict=None, queue=None)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn new(
        endpoint: Option<&Bound<'_, PyAny>>,
        protocol: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        compression: Option<&Bound<'_, PyAny>>,
        timeout: Option<&Bound<'_, PyAny>>,
        resource: Option<&Bound<'_, PyAny>>,
        batch: Option<&Bound<'_, PyAny>>,
        retry: Option<&Bound<'_, PyAny>>,
        metrics: Option<&Bound<'_, PyAny>>,
        circuit_breaker: Option<&Bound<'_, PyAny>>,
        max_request_size: Option<&Bound<'_, PyAny>>,
        tls: Option<&Bound<'_, PyAny>>,
        http_version: Option<&Bound<'_, PyAny>>,
        signals: Option<&Bound<'_, PyAny>>,
        strict: Option<&Bound<'_, PyAny>>,
        queue: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        guard(|| {
            let given = [
                ("endpoint", endpoint),
                ("protocol", protocol),
                ("headers", headers),
                ("compression", compression),
                ("timeout", timeout),
                ("batch", batch),
                ("retry", retry),
                ("metrics", metrics),
                ("circuit_breaker", circuit_breaker),
                ("max_request_size", max_request_size),
                ("tls", tls),
                ("http_version", http_version),
                ("signals", signals),
                ("strict", strict),
                ("queue", queue),
            ];
            let mut args = Vec::with_capacity(given.len());
            for (name, value) in given {
                if let Some(v) = value.filter(|v| !v.is_none()) {
                    args.push((name.to_owned(), convert::value(v)?));
                }
            }
            let settings = Settings::from_args(&args).map_err(to_py)?;
            let user = match resource.filter(|r| !r.is_none()) {
                Some(r) => {
                    convert::attributes(r, Mode::Raise, usize::MAX)
                        .map_err(|e| crate::errors::within(r.py(), "`resource`", e))?
                        .0
                }
                None => Vec::new(),
            };
            let resource = otlp::export::resource("python", user);
            let core = otlp::Exporter::new(settings, resource).map_err(to_py)?;
            Ok(Self {
                core: Arc::new(core),
            })
        })
    }

    /// A tracer for one instrumentation scope (library). Tracers with the same name,
    /// version and schema URL share one scope on the wire. `sampler` defaults to the
    /// one `OTEL_TRACES_SAMPLER` names, else `parentbased_always_on`.
    #[pyo3(signature = (name, version = None, *, schema_url = None, attributes = None, sampler = None))]
    fn tracer(
        &self,
        name: &Bound<'_, PyString>,
        version: Option<String>,
        schema_url: Option<String>,
        attributes: Option<&Bound<'_, PyAny>>,
        sampler: Option<&Bound<'_, PySampler>>,
    ) -> PyResult<PyTracer> {
        let scope = self.scope(name, version, schema_url, attributes)?;
        PyTracer::new(self.core.clone(), scope, sampler.map(|s| s.get().0))
    }

    /// A logger for one instrumentation scope (library).
    #[pyo3(signature = (name, version = None, *, schema_url = None, attributes = None))]
    fn logger(
        &self,
        name: &Bound<'_, PyString>,
        version: Option<String>,
        schema_url: Option<String>,
        attributes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyLogger> {
        let logs = self.core.logs().map_err(to_py)?;
        let scope = self.scope(name, version, schema_url, attributes)?;
        Ok(PyLogger::new(self.core.clone(), logs, scope))
    }

    /// A meter for one instrumentation scope (library).
    #[pyo3(signature = (name, version = None, *, schema_url = None, attributes = None))]
    fn meter(
        &self,
        name: &Bound<'_, PyString>,
        version: Option<String>,
        schema_url: Option<String>,
        attributes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyMeter> {
        let metrics = self.core.metrics().map_err(to_py)?;
        let scope = self.scope(name, version, schema_url, attributes)?;
        Ok(PyMeter::new(self.core.clone(), metrics, scope))
    }

    /// Export everything recorded so far; wait up to `timeout` seconds. Returns True
    /// when all of it was delivered in time; False when the deadline passed or some
    /// items were dropped, rejected or failed meanwhile (`stats()` says which). With
    /// a disk queue, True means durable: written to disk and synced, to be delivered
    /// by this process or, after a crash, by the next one on the same directory.
    #[pyo3(signature = (timeout = None), text_signature = "(self, timeout=10.0)")]
    fn force_flush(&self, py: Python<'_>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
        let deadline = wait_deadline(timeout)?;
        guard(|| {
            self.core
                .force_flush_with(|done| wait_in_slices(py, deadline, done))
        })
    }

    /// Flush, then stop. Returns by `timeout` seconds whatever the collector does;
    /// items still unsent then are dropped and counted. Calling it again does nothing
    /// and returns True.
    #[pyo3(signature = (timeout = None), text_signature = "(self, timeout=10.0)")]
    fn shutdown(&self, py: Python<'_>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
        let deadline = wait_deadline(timeout)?;
        guard(|| {
            self.core
                .shutdown_with(deadline, |done| wait_in_slices(py, deadline, done))
        })
    }

    /// Called in the parent just before `fork()` (by `otlp._lifecycle`).
    fn _before_fork(&self, py: Python<'_>) {
        crate::gil::detach(py, || self.core.before_fork());
    }

    /// Called in the parent after `fork()`.
    fn _after_fork_in_parent(&self) {
        self.core.after_fork_in_parent();
    }

    /// Called in the child after `fork()` (by `otlp._lifecycle`).
    fn _after_fork_in_child(&self) -> PyResult<()> {
        self.core.after_fork_in_child().map_err(to_py)
    }

    /// Counters since construction (ints; `last_error`s are a str or None).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (key, value) in self.core.stats() {
            match value {
                Stat::Count(n) => d.set_item(key, n)?,
                Stat::Text(t) => d.set_item(key, t)?,
                Stat::Name(n) => d.set_item(key, n)?,
            }
        }
        Ok(d)
    }

    #[getter]
    fn endpoint(&self) -> String {
        self.core.endpoint().to_string()
    }

    #[getter]
    fn protocol(&self) -> &'static str {
        self.core
            .settings()
            .signal(SignalKind::Traces)
            .protocol
            .name()
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.shutdown(py, None)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        // Headers are never shown: they often carry credentials.
        let traces = self.core.settings().signal(SignalKind::Traces);
        format!(
            "Exporter({:?}, protocol={:?}, compression={:?})",
            self.core.endpoint().to_string(),
            traces.protocol.name(),
            traces.compression.name()
        )
    }
}

/// Check a configuration object made on its own (`otlp.BatchConfig(...)`): the core
/// holds the rules; `kind` is `batch`, `retry`, `metrics`, `circuit_breaker` or `tls`.
#[pyfunction]
pub fn _check(kind: &str, config: &Bound<'_, PyAny>) -> PyResult<()> {
    let (otlp::export::Value::Object(_, fields) | otlp::export::Value::Map(fields)) =
        convert::value(config)?
    else {
        return Err(config_type(kind));
    };
    otlp::export::check_part(kind, &fields).map_err(to_py)
}

fn config_type(kind: &str) -> PyErr {
    pyo3::exceptions::PyTypeError::new_err(format!("`{kind}` must be a configuration object"))
}

/// Every configurable default, from the core (the Python config classes read theirs).
#[pyfunction]
pub fn _defaults(py: Python<'_>) -> PyResult<Py<PyAny>> {
    convert::to_python(py, &otlp::export::defaults())
}
