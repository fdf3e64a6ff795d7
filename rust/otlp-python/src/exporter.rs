//! `otlp.Exporter`: configuration, tracers, flush, shutdown and stats.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use otlp::aggregate::TemporalityPreference;
use otlp::export::{ExporterConfig, LogExporter, TraceExporter};
use otlp::metrics::{MetricsConfig, MetricsExporter};
use otlp::model::{AnyValue, KeyValue, Resource, Scope};
use otlp::pipeline::{BatchConfig, Pipeline, Weighted};
use otlp::resilience::{CircuitConfig, RetryPolicy};
use otlp::stats::StatsSnapshot;
use otlp::transport::http::HttpVersion;
use otlp::transport::tls::TlsConfig;
use otlp::transport::{Compression, Protocol};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyString};

use crate::convert::{self, Mode};
use crate::errors::{config, guard, to_py};
use crate::logger::PyLogger;
use crate::meter::PyMeter;
use crate::policy::Policy;
use crate::tracer::{scope, PyTracer, TracerCore};

/// Waits are cut into slices so that Ctrl-C interrupts them.
const WAIT_SLICE: Duration = Duration::from_millis(100);

/// A configured duration: finite, >= 0 and at most `otlp::time::MAX_DURATION`.
fn seconds(value: f64, name: &str) -> PyResult<Duration> {
    otlp::time::seconds(value, name).map_err(to_py)
}

fn positive_seconds(value: f64, name: &str) -> PyResult<Duration> {
    let d = seconds(value, name)?;
    if d.is_zero() {
        return Err(config(format!("`{name}` must be > 0 seconds; got {value}")));
    }
    Ok(d)
}

/// The deadline of a wait (`force_flush`, `shutdown`): `timeout` seconds from now
/// (10 by default). A timeout too long to represent waits as long as it takes.
fn wait_deadline(timeout: Option<&Bound<'_, PyAny>>) -> PyResult<Instant> {
    let value = given(timeout).map_or(Ok(10.0), |t| number(t, "timeout"))?;
    if value.is_nan() || value < 0.0 {
        return Err(config(format!(
            "`timeout` must be a number of seconds >= 0; got {value}"
        )));
    }
    let wait = Duration::try_from_secs_f64(value).unwrap_or(Duration::MAX);
    Ok(otlp::time::after(wait))
}

/// A float argument, with a `TypeError` naming it when it is not a number.
fn number(value: &Bound<'_, PyAny>, name: &str) -> PyResult<f64> {
    if value.is_instance_of::<PyBool>() {
        return Err(type_error(format!(
            "`{name}` must be a number of seconds, not bool"
        )));
    }
    value.extract::<f64>().map_err(|_| {
        type_error(format!(
            "`{name}` must be a number of seconds; got {}",
            type_name(value)
        ))
    })
}

/// A size or count argument, with a `TypeError` naming it when it is not an int and
/// a `ConfigError` when it is negative or absurdly large.
fn size(value: &Bound<'_, PyAny>, name: &str) -> PyResult<usize> {
    if value.is_instance_of::<PyBool>() || !value.is_instance_of::<pyo3::types::PyInt>() {
        return Err(type_error(format!(
            "`{name}` must be an int; got {}",
            type_name(value)
        )));
    }
    value.extract::<usize>().map_err(|_| {
        config(format!(
            "`{name}` must be a positive int of a sensible size; got {value}"
        ))
    })
}

/// `OTLP_STRICT`: strict mode when `strict` is not given ("1"/"true"/"yes" or
/// "0"/"false"/"no"/empty).
fn strict_from_env() -> PyResult<bool> {
    let Ok(raw) = std::env::var("OTLP_STRICT") else {
        return Ok(false);
    };
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "" | "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(config(
            "OTLP_STRICT must be 'true' or 'false' (or 1 / 0); it is set to something else",
        )),
    }
}

/// An optional argument that was given (`None` means "the default").
fn given<'a, 'py>(arg: Option<&'a Bound<'py, PyAny>>) -> Option<&'a Bound<'py, PyAny>> {
    arg.filter(|a| !a.is_none())
}

/// An optional str argument, or its default.
fn text_or(arg: Option<&Bound<'_, PyAny>>, name: &str, default: &str) -> PyResult<String> {
    given(arg).map_or_else(|| Ok(default.to_owned()), |a| text(a, name))
}

/// A str argument, with a `TypeError` naming it otherwise.
fn text(value: &Bound<'_, PyAny>, name: &str) -> PyResult<String> {
    value
        .extract::<String>()
        .map_err(|_| type_error(format!("`{name}` must be a str; got {}", type_name(value))))
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .qualname()
        .map(|n| n.to_string())
        .unwrap_or_default()
}

fn field<'py, T: for<'a> FromPyObject<'a, 'py>>(
    obj: &Bound<'py, PyAny>,
    arg: &str,
    name: &str,
) -> PyResult<T> {
    let v = obj.getattr(name).map_err(|_| {
        PyTypeError::new_err(format!(
            "`{arg}` must be an otlp.{} instance; it has no `{name}`",
            type_of(arg)
        ))
    })?;
    v.extract::<T>().map_err(|_| {
        PyTypeError::new_err(format!(
            "`{arg}.{name}` has the wrong type ({})",
            type_name(&v)
        ))
    })
}

fn type_of(arg: &str) -> &'static str {
    match arg {
        "batch" => "BatchConfig",
        "metrics" => "MetricsConfig",
        "circuit_breaker" => "CircuitBreaker",
        "tls" => "TLS",
        _ => "RetryPolicy",
    }
}

fn batch_config(obj: Option<&Bound<'_, PyAny>>) -> PyResult<BatchConfig> {
    let mut cfg = BatchConfig {
        schedule_delay: Duration::from_millis(500),
        ..BatchConfig::default()
    };
    if let Some(b) = obj.filter(|b| !b.is_none()) {
        cfg.max_queue_size = field(b, "batch", "max_queue_size")?;
        cfg.max_export_batch_size = field(b, "batch", "max_export_batch_size")?;
        cfg.schedule_delay =
            positive_seconds(field(b, "batch", "schedule_delay")?, "batch.schedule_delay")?;
        cfg.max_concurrent_exports = field(b, "batch", "max_concurrent_exports")?;
    }
    cfg.validate().map_err(to_py)?;
    Ok(cfg)
}

fn retry_policy(obj: Option<&Bound<'_, PyAny>>) -> PyResult<RetryPolicy> {
    let mut policy = RetryPolicy::default();
    if let Some(r) = obj.filter(|r| !r.is_none()) {
        policy.initial_backoff = positive_seconds(
            field(r, "retry", "initial_backoff")?,
            "retry.initial_backoff",
        )?;
        policy.max_backoff =
            positive_seconds(field(r, "retry", "max_backoff")?, "retry.max_backoff")?;
        policy.max_elapsed = seconds(field(r, "retry", "max_elapsed")?, "retry.max_elapsed")?;
        policy.multiplier = field(r, "retry", "multiplier")?;
    }
    policy.validate().map_err(to_py)?;
    Ok(policy)
}

fn tls_config(obj: Option<&Bound<'_, PyAny>>) -> PyResult<TlsConfig> {
    let Some(t) = obj.filter(|t| !t.is_none()) else {
        return Ok(TlsConfig::default());
    };
    Ok(TlsConfig {
        ca_file: field(t, "tls", "ca_file")?,
        cert_file: field(t, "tls", "cert_file")?,
        key_file: field(t, "tls", "key_file")?,
        insecure: field(t, "tls", "insecure")?,
    })
}

fn circuit_config(obj: Option<&Bound<'_, PyAny>>) -> PyResult<CircuitConfig> {
    let mut cfg = CircuitConfig::default();
    if let Some(c) = obj.filter(|c| !c.is_none()) {
        cfg.failure_threshold = field(c, "circuit_breaker", "failure_threshold")?;
        cfg.cool_down = positive_seconds(
            field(c, "circuit_breaker", "cool_down")?,
            "circuit_breaker.cool_down",
        )?;
    }
    cfg.validate().map_err(to_py)?;
    Ok(cfg)
}

fn headers(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<(String, String)>> {
    let Some(obj) = obj.filter(|h| !h.is_none()) else {
        return Ok(Vec::new());
    };
    let dict = obj
        .cast::<PyDict>()
        .map_err(|_| PyTypeError::new_err("`headers` must be a dict of str to str"))?;
    let mut out = Vec::with_capacity(dict.len());
    for (k, v) in dict.iter() {
        let k: String = k
            .extract()
            .map_err(|_| PyTypeError::new_err("`headers` keys must be str"))?;
        let v: String = v.extract().map_err(|_| {
            PyTypeError::new_err(format!("`headers`: the value of {k:?} must be str"))
        })?;
        out.push((k, v));
    }
    Ok(out)
}

/// `OTEL_RESOURCE_ATTRIBUTES` (`k=v,k2=v2`, values percent-decoded).
fn env_resource_attributes() -> Vec<(String, String)> {
    let Ok(raw) = std::env::var("OTEL_RESOURCE_ATTRIBUTES") else {
        return Vec::new();
    };
    raw.split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let k = k.trim();
            (!k.is_empty()).then(|| {
                (
                    k.to_owned(),
                    otlp::transport::grpc::decode_grpc_message(v.trim().as_bytes()),
                )
            })
        })
        .collect()
}

/// The resource: SDK identity, then `OTEL_RESOURCE_ATTRIBUTES`, then
/// `OTEL_SERVICE_NAME`, then the user's attributes, later ones winning.
fn resource(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Resource> {
    let mut attrs: Vec<KeyValue> = vec![
        KeyValue::new("telemetry.sdk.language", AnyValue::from("python")),
        KeyValue::new("telemetry.sdk.name", AnyValue::from("otlp")),
        KeyValue::new("telemetry.sdk.version", AnyValue::from(otlp::VERSION)),
        KeyValue::new("service.name", AnyValue::from("unknown_service")),
    ];
    let mut put = |kv: KeyValue| match attrs.iter_mut().find(|a| a.key == kv.key) {
        Some(a) => a.value = kv.value,
        None => attrs.push(kv),
    };
    for (k, v) in env_resource_attributes() {
        put(KeyValue::new(k, AnyValue::String(v)));
    }
    if let Ok(name) = std::env::var("OTEL_SERVICE_NAME") {
        if !name.is_empty() {
            put(KeyValue::new("service.name", AnyValue::String(name)));
        }
    }
    if let Some(obj) = obj.filter(|r| !r.is_none()) {
        let (user, _) = convert::attributes(obj, Mode::Raise, usize::MAX).map_err(|e| {
            if e.is_instance_of::<PyTypeError>(obj.py()) {
                PyTypeError::new_err(format!("`resource`: {}", e.value(obj.py())))
            } else {
                e
            }
        })?;
        for kv in user {
            put(kv);
        }
    }
    Ok(Resource {
        attributes: attrs,
        schema_url: String::new(),
    })
}

type ScopeKey = (String, Option<String>, Option<String>);

/// The signals `signals=` may configure, and the settings each may override.
const SIGNALS: [&str; 3] = ["traces", "metrics", "logs"];
const SIGNAL_KEYS: &str = "'endpoint', 'protocol', 'headers', 'compression', 'timeout', \
                           'tls', 'http_version', 'batch' (not for metrics)";

/// `e` again, its message prefixed with where the bad value was (`signals['logs']`).
fn within(py: Python<'_>, place: &str, e: PyErr) -> PyErr {
    let message = format!("{place}: {}", e.value(py));
    if e.is_instance_of::<PyTypeError>(py) {
        PyTypeError::new_err(message)
    } else {
        config(message)
    }
}

/// Per-signal settings over each signal's base configuration (`bases`, in `SIGNALS`
/// order): `{"logs": {"endpoint": ..., "compression": ...}}`. A per-signal `endpoint` is
/// that signal's whole URL (OTLP/HTTP posts to it as it is). Returns one configuration
/// per signal, in `SIGNALS` order.
fn signal_configs(
    bases: [ExporterConfig; 3],
    signals: Option<&Bound<'_, PyAny>>,
) -> PyResult<[ExporterConfig; 3]> {
    let mut out = bases;
    let Some(obj) = signals.filter(|s| !s.is_none()) else {
        return Ok(out);
    };
    let py = obj.py();
    let dict = obj.cast::<PyDict>().map_err(|_| {
        PyTypeError::new_err("`signals` must be a dict like {'logs': {'endpoint': ...}}")
    })?;
    for (name, settings) in dict.iter() {
        let name: String = name
            .extract()
            .map_err(|_| PyTypeError::new_err("`signals` keys must be str"))?;
        let Some(i) = SIGNALS.iter().position(|s| *s == name) else {
            return Err(config(format!(
                "`signals`: unknown signal '{name}'; expected 'traces', 'metrics' or 'logs'"
            )));
        };
        let place = format!("`signals['{name}']`");
        let settings = settings
            .cast::<PyDict>()
            .map_err(|_| PyTypeError::new_err(format!("{place} must be a dict of settings")))?;
        let cfg = &mut out[i];
        for (key, value) in settings.iter() {
            let key: String = key
                .extract()
                .map_err(|_| PyTypeError::new_err(format!("{place} keys must be str")))?;
            let text = || -> PyResult<String> {
                value
                    .extract()
                    .map_err(|_| type_error(format!("`signals['{name}']['{key}']` must be a str")))
            };
            let bad = |e: PyErr| within(py, &place, e);
            match key.as_str() {
                "endpoint" => {
                    cfg.endpoint = text()?;
                    cfg.signal_url = true;
                }
                "protocol" => {
                    cfg.protocol = Protocol::parse(&text()?).map_err(|e| bad(to_py(e)))?
                }
                "compression" => {
                    cfg.compression = Compression::parse(&text()?).map_err(|e| bad(to_py(e)))?
                }
                "http_version" => {
                    cfg.http_version = HttpVersion::parse(&text()?).map_err(|e| bad(to_py(e)))?
                }
                "timeout" => {
                    let t = number(&value, &format!("signals['{name}']['timeout']"))?;
                    cfg.timeout = positive_seconds(t, "timeout").map_err(bad)?;
                }
                "headers" => cfg.headers = headers(Some(&value)).map_err(bad)?,
                "tls" => cfg.tls = tls_config(Some(&value)).map_err(bad)?,
                "batch" if name != "metrics" => {
                    cfg.batch = batch_config(Some(&value)).map_err(bad)?
                }
                other => {
                    return Err(config(format!(
                        "{place}: unknown setting '{other}'; expected {SIGNAL_KEYS}"
                    )))
                }
            }
        }
        // Reported now, not when the first logger or meter is made.
        cfg.check().map_err(|e| bad_config(py, &place, e))?;
    }
    Ok(out)
}

fn type_error(message: String) -> PyErr {
    PyTypeError::new_err(message)
}

fn bad_config(py: Python<'_>, place: &str, e: otlp::Error) -> PyErr {
    within(py, place, to_py(e))
}

fn metrics_config(obj: Option<&Bound<'_, PyAny>>) -> PyResult<MetricsConfig> {
    let mut cfg = MetricsConfig::default();
    if let Some(m) = obj.filter(|m| !m.is_none()) {
        cfg.interval = positive_seconds(field(m, "metrics", "interval")?, "metrics.interval")?;
        cfg.timeout = positive_seconds(field(m, "metrics", "timeout")?, "metrics.timeout")?;
        let t: String = field(m, "metrics", "temporality")?;
        cfg.temporality = TemporalityPreference::parse(&t).ok_or_else(|| {
            config(format!(
                "`metrics.temporality` must be one of 'cumulative', 'delta', 'lowmemory'; got {t:?}"
            ))
        })?;
        cfg.cardinality_limit = field(m, "metrics", "cardinality_limit")?;
    }
    Ok(cfg)
}

impl PyExporter {
    /// The scope for a tracer or meter; equal name, version and schema URL share one.
    fn scope(
        &self,
        name: &Bound<'_, PyString>,
        version: Option<String>,
        schema_url: Option<String>,
        attributes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Arc<Scope>> {
        let name = name.to_cow()?.into_owned();
        Ok(match attributes.filter(|a| !a.is_none()) {
            Some(a) => {
                let (attrs, _) = convert::attributes(a, Mode::Raise, usize::MAX)?;
                Arc::new(scope(name, version, schema_url, attrs))
            }
            None => {
                let mut scopes = self.scopes.lock().unwrap_or_else(|e| e.into_inner());
                scopes
                    .entry((name.clone(), version.clone(), schema_url.clone()))
                    .or_insert_with(|| Arc::new(scope(name, version, schema_url, Vec::new())))
                    .clone()
            }
        })
    }

    fn logs(&self) -> Option<Arc<LogExporter>> {
        self.logs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn metrics(&self) -> Option<Arc<MetricsExporter>> {
        self.metrics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Exports spans to an OTLP collector. Spans are batched and sent in the background;
/// nothing here waits on the network except `force_flush` and `shutdown`.
#[pyclass(frozen, weakref, subclass, name = "Exporter", module = "otlp")]
pub struct PyExporter {
    traces: Arc<TraceExporter>,
    /// Created on the first `meter()` call, so span-only users run no reader thread.
    metrics: Mutex<Option<Arc<MetricsExporter>>>,
    /// Created on the first `logger()` call.
    logs: Mutex<Option<Arc<LogExporter>>>,
    /// Where metrics and logs go (the exporter's settings, or their `signals=` entry).
    metrics_export_config: ExporterConfig,
    /// With the batch log record processor's 1 s delay unless a `batch` was given.
    logs_config: ExporterConfig,
    metrics_config: MetricsConfig,
    resource: Arc<Resource>,
    scopes: Mutex<HashMap<ScopeKey, Arc<Scope>>>,
    endpoint: String,
    protocol: Protocol,
    compression: Compression,
    shut_down: AtomicBool,
    /// Bad values and late calls: dropped and counted, or raised in strict mode.
    policy: Arc<Policy>,
}

#[pymethods]
impl PyExporter {
    #[new]
    #[pyo3(
        signature = (
            endpoint = None, *, protocol = None, headers = None, compression = None,
            timeout = None, resource = None, batch = None, retry = None, metrics = None,
            circuit_breaker = None, max_request_size = None, tls = None, http_version = None,
            signals = None, strict = None,
        ),
        text_signature = "(endpoint='http://localhost:4317', *, protocol='grpc', headers=None, \
                          compression='none', timeout=10.0, resource=None, batch=None, \
                          retry=None, metrics=None, circuit_breaker=None, \
                          max_request_size=4194304, tls=None, http_version='auto', signals=None, \
                          strict=None)"
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
    ) -> PyResult<Self> {
        // Arguments are taken as objects so that a wrong type is a TypeError naming
        // the argument; `None` (the default) means the documented default.
        guard(|| {
            let endpoint = text_or(endpoint, "endpoint", "http://localhost:4317")?;
            let protocol =
                Protocol::parse(&text_or(protocol, "protocol", "grpc")?).map_err(to_py)?;
            let compression =
                Compression::parse(&text_or(compression, "compression", "none")?).map_err(to_py)?;
            let http_version = HttpVersion::parse(&text_or(http_version, "http_version", "auto")?)
                .map_err(to_py)?;
            let timeout = given(timeout).map_or(Ok(10.0), |t| number(t, "timeout"))?;
            let strict = match given(strict) {
                Some(s) => s.extract::<bool>().map_err(|_| {
                    type_error(format!("`strict` must be a bool; got {}", type_name(s)))
                })?,
                None => strict_from_env()?,
            };
            let max_request_size = match given(max_request_size) {
                None => otlp::export::DEFAULT_MAX_REQUEST_SIZE,
                Some(m) => size(m, "max_request_size")?,
            };
            if !(1024..=otlp::export::MAX_REQUEST_SIZE).contains(&max_request_size) {
                return Err(config(format!(
                    "`max_request_size` must be between 1024 and {} bytes; got {max_request_size}",
                    otlp::export::MAX_REQUEST_SIZE
                )));
            }
            let cfg = ExporterConfig {
                endpoint,
                protocol,
                headers: self::headers(headers)?,
                compression,
                timeout: positive_seconds(timeout, "timeout")?,
                batch: batch_config(batch)?,
                retry: retry_policy(retry)?,
                circuit: circuit_config(circuit_breaker)?,
                max_request_size,
                tls: tls_config(tls)?,
                http_version,
                signal_url: false,
            };
            if cfg.tls != TlsConfig::default() {
                // Unreadable or mismatched files are reported now, whatever the scheme.
                otlp::transport::tls::client_config(&cfg.tls, &[b"h2"]).map_err(to_py)?;
            }
            let resource = Arc::new(self::resource(resource)?);
            let metrics_config = metrics_config(metrics)?;
            let mut logs_base = cfg.clone();
            if batch.is_none_or(|b| b.is_none()) {
                // The batch log record processor's default delay (spec: 1 s).
                logs_base.batch.schedule_delay = Duration::from_millis(1000);
            }
            let [traces_cfg, metrics_cfg, logs_cfg] =
                signal_configs([cfg.clone(), cfg, logs_base], signals)?;
            let (protocol, compression) = (traces_cfg.protocol, traces_cfg.compression);
            let traces = TraceExporter::new(traces_cfg).map_err(to_py)?;
            Ok(Self {
                metrics: Mutex::new(None),
                logs: Mutex::new(None),
                metrics_export_config: metrics_cfg,
                logs_config: logs_cfg,
                metrics_config,
                endpoint: traces.endpoint().to_string(),
                traces: Arc::new(traces),
                resource,
                scopes: Mutex::new(HashMap::new()),
                protocol,
                compression,
                shut_down: AtomicBool::new(false),
                policy: Arc::new(Policy::new(strict)),
            })
        })
    }

    /// A tracer for one instrumentation scope (library). Tracers with the same name,
    /// version and schema URL share one scope on the wire.
    #[pyo3(signature = (name, version = None, *, schema_url = None, attributes = None))]
    fn tracer(
        &self,
        name: &Bound<'_, PyString>,
        version: Option<String>,
        schema_url: Option<String>,
        attributes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyTracer> {
        let scope = self.scope(name, version, schema_url, attributes)?;
        Ok(PyTracer {
            core: Arc::new(TracerCore {
                exporter: self.traces.clone(),
                resource: self.resource.clone(),
                scope,
                policy: self.policy.clone(),
            }),
        })
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
        // After shutdown: a logger that emits nothing (counted), rather than a new
        // pipeline nobody will shut down.
        let exporter = if self.shut_down.load(Ordering::Acquire) {
            self.logs()
        } else {
            let mut slot = self.logs.lock().unwrap_or_else(|e| e.into_inner());
            match slot.as_ref() {
                Some(l) => Some(l.clone()),
                None => {
                    let l = Arc::new(LogExporter::new(self.logs_config.clone()).map_err(to_py)?);
                    *slot = Some(l.clone());
                    Some(l)
                }
            }
        };
        let scope = self.scope(name, version, schema_url, attributes)?;
        Ok(PyLogger {
            exporter,
            resource: self.resource.clone(),
            scope,
            policy: self.policy.clone(),
        })
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
        // After shutdown: instruments that record nothing (counted), rather than a
        // new reader nobody will stop.
        let exporter = if self.shut_down.load(Ordering::Acquire) {
            self.metrics()
        } else {
            let mut slot = self.metrics.lock().unwrap_or_else(|e| e.into_inner());
            match slot.as_ref() {
                Some(m) => Some(m.clone()),
                None => {
                    let m = MetricsExporter::new(
                        &self.metrics_export_config,
                        self.metrics_config,
                        self.resource.clone(),
                    )
                    .map_err(to_py)?;
                    *slot = Some(m.clone());
                    Some(m)
                }
            }
        };
        let scope = self.scope(name, version, schema_url, attributes)?;
        Ok(PyMeter {
            exporter,
            scope,
            policy: self.policy.clone(),
        })
    }

    /// Export everything recorded so far; wait up to `timeout` seconds. Returns True
    /// when all of it was delivered in time; False when the deadline passed or some
    /// spans were dropped, rejected or failed meanwhile (`stats()` says which).
    #[pyo3(signature = (timeout = None), text_signature = "(self, timeout=10.0)")]
    fn force_flush(&self, py: Python<'_>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
        let deadline = wait_deadline(timeout)?;
        guard(|| {
            let mut ok = flush_pipeline(py, &self.traces.pipeline(), deadline)?;
            if let Some(l) = self.logs() {
                ok &= flush_pipeline(py, &l.pipeline(), deadline)?;
            }
            if let Some(m) = self.metrics() {
                let before = lost(&m.stats());
                let flushed = m.force_flush_with(|done| wait_in_slices(py, deadline, done))?;
                ok &= flushed && lost(&m.stats()) == before;
            }
            Ok(ok)
        })
    }

    /// Flush, then stop. Returns by `timeout` seconds whatever the collector does;
    /// spans still unsent then are dropped and counted (`spans_dropped_shutdown`).
    /// Calling it again does nothing and returns True.
    #[pyo3(signature = (timeout = None), text_signature = "(self, timeout=10.0)")]
    fn shutdown(&self, py: Python<'_>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
        let deadline = wait_deadline(timeout)?;
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return Ok(true);
        }
        self.policy.mark_shut_down();
        guard(|| {
            let clean = shutdown_pipeline(py, &self.traces.pipeline(), deadline);
            let logs_clean = match self.logs() {
                Some(l) => shutdown_pipeline(py, &l.pipeline(), deadline)?,
                None => true,
            };
            let metrics_clean = match self.metrics() {
                Some(m) => m.shutdown_with(deadline, |done| wait_in_slices(py, deadline, done))?,
                None => true,
            };
            Ok(clean? && logs_clean && metrics_clean)
        })
    }

    /// Called in the parent just before `fork()` (by `otlp._lifecycle`): the metrics
    /// reader pauses so that no lock is held across the fork.
    fn _before_fork(&self, py: Python<'_>) {
        if let Some(m) = self.metrics() {
            py.detach(|| m.pause_for_fork());
        }
    }

    /// Called in the parent after `fork()`.
    fn _after_fork_in_parent(&self) {
        if let Some(m) = self.metrics() {
            m.resume_after_fork();
        }
    }

    /// Called in the child after `fork()` (by `otlp._lifecycle`).
    fn _after_fork_in_child(&self) -> PyResult<()> {
        if self.shut_down.load(Ordering::Acquire) {
            return Ok(());
        }
        self.traces.after_fork_in_child().map_err(to_py)?;
        if let Some(l) = self.logs() {
            l.after_fork_in_child().map_err(to_py)?;
        }
        if let Some(m) = self.metrics() {
            m.after_fork_in_child().map_err(to_py)?;
        }
        Ok(())
    }

    /// Counters since construction, as a dict of ints (and `last_error`, a str or None).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.traces.stats();
        let d = PyDict::new(py);
        d.set_item("spans_accepted", s.accepted)?;
        d.set_item("spans_exported", s.exported)?;
        d.set_item("spans_rejected", s.rejected)?;
        d.set_item("spans_dropped", s.dropped())?;
        d.set_item("spans_dropped_queue_full", s.dropped_queue_full)?;
        d.set_item("spans_dropped_shutdown", s.dropped_shutdown)?;
        d.set_item("spans_dropped_too_large", s.dropped_too_large)?;
        d.set_item("spans_failed", s.failed())?;
        d.set_item("spans_failed_non_retryable", s.failed_non_retryable)?;
        d.set_item("spans_failed_retries_exhausted", s.failed_retries_exhausted)?;
        d.set_item("spans_pending", self.traces.pipeline().pending())?;
        d.set_item("requests_sent", s.requests_ok + s.requests_failed)?;
        d.set_item("requests_ok", s.requests_ok)?;
        d.set_item("requests_failed", s.requests_failed)?;
        d.set_item("requests_retried", s.requests_retried)?;
        d.set_item("bytes_sent", s.bytes_sent)?;
        d.set_item("last_error", s.last_error)?;
        let pipeline = self.traces.pipeline();
        d.set_item("circuit_state", pipeline.circuit().state().name())?;
        let policy = &self.policy;
        let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        d.set_item(
            "attributes_dropped_invalid",
            get(&policy.attributes_dropped_invalid),
        )?;
        d.set_item(
            "measurements_dropped_invalid",
            get(&policy.measurements_dropped_invalid),
        )?;
        d.set_item(
            "dropped_after_shutdown",
            get(&policy.dropped_after_shutdown),
        )?;
        d.set_item("circuit_opened", pipeline.circuit().times_opened())?;
        let logs = self.logs();
        let ls = logs.as_ref().map(|l| l.stats()).unwrap_or_default();
        d.set_item(
            "logs_pending",
            logs.as_ref().map_or(0, |l| l.pipeline().pending()),
        )?;
        d.set_item("logs_accepted", ls.accepted)?;
        d.set_item("logs_exported", ls.exported)?;
        d.set_item("logs_rejected", ls.rejected)?;
        d.set_item("logs_dropped", ls.dropped())?;
        d.set_item("logs_failed", ls.failed())?;
        d.set_item("logs_requests_ok", ls.requests_ok)?;
        d.set_item("logs_requests_failed", ls.requests_failed)?;
        d.set_item("logs_bytes_sent", ls.bytes_sent)?;
        d.set_item("logs_last_error", ls.last_error)?;
        let m = self.metrics();
        let ms = m.as_ref().map(|m| m.stats()).unwrap_or_default();
        d.set_item("metric_points_accepted", ms.accepted)?;
        d.set_item("metric_points_exported", ms.exported)?;
        d.set_item("metric_points_rejected", ms.rejected)?;
        d.set_item("metric_points_dropped", ms.dropped())?;
        d.set_item("metric_points_failed", ms.failed())?;
        d.set_item("metric_requests_ok", ms.requests_ok)?;
        d.set_item("metric_requests_failed", ms.requests_failed)?;
        d.set_item("metric_bytes_sent", ms.bytes_sent)?;
        d.set_item(
            "metric_callback_errors",
            m.as_ref().map_or(0, |m| m.callback_errors()),
        )?;
        d.set_item(
            "metric_collections_late",
            m.as_ref().map_or(0, |m| m.collections_late()),
        )?;
        d.set_item(
            "metric_last_error",
            ms.last_error
                .or_else(|| m.as_ref().and_then(|m| m.last_callback_error())),
        )?;
        Ok(d)
    }

    #[getter]
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    #[getter]
    fn protocol(&self) -> &str {
        self.protocol.name()
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
        format!(
            "Exporter({:?}, protocol={:?}, compression={:?})",
            self.endpoint,
            self.protocol.name(),
            self.compression.token().replace("identity", "none")
        )
    }
}

/// Items a pipeline has lost (dropped, failed or rejected) so far.
fn lost(s: &StatsSnapshot) -> u64 {
    s.dropped() + s.failed() + s.rejected
}

/// Flush one pipeline: true when everything was delivered by `deadline`.
fn flush_pipeline<T: Weighted + Send + 'static>(
    py: Python<'_>,
    pipeline: &Pipeline<T>,
    deadline: Instant,
) -> PyResult<bool> {
    let before = lost(&pipeline.stats().snapshot());
    let generation = pipeline.request_flush();
    let settled = wait_in_slices(py, deadline, |until| pipeline.wait_flush(generation, until))?;
    Ok(settled && lost(&pipeline.stats().snapshot()) == before)
}

/// Shut one pipeline down by `deadline`: true when it was idle in time.
fn shutdown_pipeline<T: Weighted + Send + 'static>(
    py: Python<'_>,
    pipeline: &Pipeline<T>,
    deadline: Instant,
) -> PyResult<bool> {
    pipeline.begin_shutdown();
    let clean = wait_in_slices(py, deadline, |until| pipeline.wait_idle(until));
    py.detach(|| pipeline.finish_shutdown());
    clean
}

/// Wait until `done(until)` is true or `deadline` passes, with the GIL released, in
/// slices that let signal handlers (Ctrl-C) run.
fn wait_in_slices(
    py: Python<'_>,
    deadline: Instant,
    done: impl Fn(Instant) -> bool + Sync,
) -> PyResult<bool> {
    loop {
        let now = Instant::now();
        let until = deadline.min(now + WAIT_SLICE);
        if py.detach(|| done(until)) {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        py.check_signals()?;
    }
}
