//! An exporter's settings as a binding hands them over: a tree of plain [`Value`]s
//! (the keyword arguments of Python's `otlp.Exporter`, its config objects as maps).
//!
//! Every default and every validation rule of the exporter lives here, once: bindings
//! convert their values into a tree and report the errors; they do not check ranges or
//! know defaults (they read them from [`defaults`]). Messages name the argument as the
//! user wrote it (`batch.schedule_delay`, `signals['logs']`) and say what is allowed.

use std::time::Duration;

use crate::aggregate::TemporalityPreference;
use crate::error::{Error, Result};
use crate::metrics::MetricsConfig;
use crate::pipeline::{
    BatchConfig, Fsync, Overflow, QueueConfig, MAX_CONCURRENT_EXPORTS, MAX_QUEUE_BYTES,
    MAX_QUEUE_SIZE,
};
use crate::resilience::{CircuitConfig, RetryPolicy};
use crate::transport::http::HttpVersion;
use crate::transport::tls::TlsConfig;
use crate::transport::{Compression, Protocol};

use super::config::{ExporterConfig, MAX_REQUEST_SIZE};

/// A setting's value, as a binding converted it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Not given: the default.
    None,
    /// A boolean.
    Bool(bool),
    /// An integer, saturated at the bounds of `i128`.
    Int(i128),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A mapping (`signals`, `headers`).
    Map(Vec<(String, Value)>),
    /// A list (only in [`defaults`]).
    List(Vec<Value>),
    /// A configuration object: its type's name (`BatchConfig`) and its fields.
    Object(String, Vec<(String, Value)>),
    /// A value of a type no setting takes; the name of its type, for the message.
    Other(String),
}

impl Value {
    /// The name of the value's type as a Python user knows it.
    pub fn type_name(&self) -> &str {
        match self {
            Value::None => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Map(_) => "dict",
            Value::List(_) => "list",
            Value::Object(t, _) | Value::Other(t) => t,
        }
    }
}

/// Which signal a per-signal setting is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalKind {
    /// Spans.
    Traces,
    /// Metric data points.
    Metrics,
    /// Log records.
    Logs,
}

impl SignalKind {
    /// All signals, in this order.
    pub const ALL: [SignalKind; 3] = [SignalKind::Traces, SignalKind::Metrics, SignalKind::Logs];

    /// `traces`, `metrics` or `logs`.
    pub fn name(self) -> &'static str {
        match self {
            SignalKind::Traces => "traces",
            SignalKind::Metrics => "metrics",
            SignalKind::Logs => "logs",
        }
    }
}

/// The defaults of the batch log record processor: the specification's 1 s delay.
pub fn logs_batch_default() -> BatchConfig {
    BatchConfig {
        schedule_delay: Duration::from_secs(1),
        ..BatchConfig::default()
    }
}

/// Everything an [`super::Exporter`] is made from.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Each signal's exporter, in [`SignalKind::ALL`] order, per-signal settings applied.
    pub signals: [ExporterConfig; 3],
    /// The periodic metric reader.
    pub metrics: MetricsConfig,
    /// Strict mode: bad values and late calls raise instead of being dropped and
    /// counted (argument `strict`, else `OTLP_STRICT`).
    pub strict: bool,
}

impl Settings {
    /// The settings for these constructor arguments (`endpoint`, `protocol`,
    /// `headers`, `compression`, `timeout`, `batch`, `retry`, `metrics`,
    /// `circuit_breaker`, `max_request_size`, `tls`, `http_version`, `signals`,
    /// `strict`; `resource` is the binding's to convert). Every signal's settings
    /// are checked, so a bad one is reported now rather than on first use.
    pub fn from_args(args: &[(String, Value)]) -> Result<Self> {
        let args = Fields::new("", args, ARGS)?;
        let mut base = ExporterConfig {
            endpoint: args
                .text("endpoint")?
                .unwrap_or_else(|| ExporterConfig::default().endpoint),
            ..ExporterConfig::default()
        };
        if let Some(p) = args.text("protocol")? {
            base.protocol = Protocol::parse(&p)?;
        }
        if let Some(c) = args.text("compression")? {
            base.compression = Compression::parse(&c)?;
        }
        if let Some(v) = args.text("http_version")? {
            base.http_version = HttpVersion::parse(&v)?;
        }
        if let Some(t) = args.seconds("timeout")? {
            base.timeout = t;
        }
        if let Some(h) = args.headers("headers")? {
            base.headers = h;
        }
        if let Some(n) = args.count("max_request_size", 1024, MAX_REQUEST_SIZE as i128)? {
            base.max_request_size = n;
        }
        if let Some(r) = args.map("retry")? {
            base.retry = retry(&r)?;
        }
        if let Some(c) = args.map("circuit_breaker")? {
            base.circuit = circuit(&c)?;
        }
        if let Some(q) = args.map("queue")? {
            base.queue = queue(&q)?;
        }
        if let Some(t) = args.map("tls")? {
            base.tls = tls(&t)?;
        }
        let batch = args.map("batch")?.map(|b| batch(&b)).transpose()?;
        let mut logs = base.clone();
        base.batch = batch.unwrap_or_default();
        logs.batch = batch.unwrap_or_else(logs_batch_default);
        let mut signals = [base.clone(), base, logs];
        let mut overlaid = [false; 3];
        if let Some(per) = args.map("signals")? {
            for (name, value) in per.map {
                let Some(i) = SignalKind::ALL.iter().position(|s| s.name() == name) else {
                    return Err(Error::Config(format!(
                        "`signals`: unknown signal '{name}'; expected 'traces', 'metrics' or 'logs'"
                    )));
                };
                let place = format!("signals['{name}']");
                let Value::Map(fields) = value else {
                    return Err(Error::Type(format!(
                        "`{place}` must be a dict of settings; got {}",
                        value.type_name()
                    )));
                };
                overlay(&mut signals[i], SignalKind::ALL[i], &place, fields)?;
                overlaid[i] = true;
            }
        }
        for ((cfg, kind), own) in signals.iter().zip(SignalKind::ALL).zip(overlaid) {
            cfg.check().map_err(|e| match own {
                true => within(&format!("signals['{}']", kind.name()), e),
                false => e,
            })?;
        }
        let metrics = match args.map("metrics")? {
            Some(m) => metrics(&m)?,
            None => MetricsConfig::default(),
        };
        let strict = match args.get("strict") {
            Value::None => strict_from_env()?,
            Value::Bool(b) => *b,
            other => {
                return Err(Error::Type(format!(
                    "`strict` must be a bool; got {}",
                    other.type_name()
                )))
            }
        };
        Ok(Self {
            signals,
            metrics,
            strict,
        })
    }

    /// The settings of one signal.
    pub fn signal(&self, kind: SignalKind) -> &ExporterConfig {
        &self.signals[kind as usize]
    }
}

/// Check a configuration object made on its own (`BatchConfig(...)` in Python): its
/// errors name the field alone. `kind` is `batch`, `retry`, `metrics`,
/// `circuit_breaker` or `tls`.
pub fn check_part(kind: &str, fields: &[(String, Value)]) -> Result<()> {
    let map = Fields::object("", fields, part_fields(kind)?)?;
    match kind {
        "batch" => batch(&map).map(drop),
        "retry" => retry(&map).map(drop),
        "metrics" => metrics(&map).map(drop),
        "circuit_breaker" => circuit(&map).map(drop),
        "queue" => queue(&map).map(drop),
        _ => tls(&map).map(drop),
    }
}

/// Every configurable default, as the tree a binding reads its own defaults from:
/// `{"exporter": {...}, "batch": {...}, "logs_batch": {...}, "retry": {...},
/// "metrics": {...}, "circuit_breaker": {...}, "choices": {...}, "max_seconds": ...,
/// "max_queue_size": ...}`, durations in seconds; `choices` lists the names each
/// string setting accepts.
pub fn defaults() -> Value {
    let e = ExporterConfig::default();
    let secs = |d: Duration| Value::Float(d.as_secs_f64());
    let int = |n: usize| Value::Int(n as i128);
    let map = |pairs: Vec<(&str, Value)>| {
        Value::Map(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    };
    let batch = |b: BatchConfig| {
        map(vec![
            ("max_queue_size", int(b.max_queue_size)),
            ("max_export_batch_size", int(b.max_export_batch_size)),
            ("schedule_delay", secs(b.schedule_delay)),
            ("max_concurrent_exports", int(b.max_concurrent_exports)),
        ])
    };
    let r = RetryPolicy::default();
    let m = MetricsConfig::default();
    let c = CircuitConfig::default();
    let rl = crate::receiver::ReceiverLimits::default();
    let q = QueueConfig::default();
    map(vec![
        (
            "exporter",
            map(vec![
                ("endpoint", Value::Str(e.endpoint)),
                ("protocol", Value::Str(e.protocol.name().into())),
                ("compression", Value::Str(e.compression.name().into())),
                ("timeout", secs(e.timeout)),
                ("max_request_size", int(e.max_request_size)),
                ("http_version", Value::Str(e.http_version.name().into())),
            ]),
        ),
        ("batch", batch(BatchConfig::default())),
        ("logs_batch", batch(logs_batch_default())),
        (
            "retry",
            map(vec![
                ("initial_backoff", secs(r.initial_backoff)),
                ("max_backoff", secs(r.max_backoff)),
                ("max_elapsed", secs(r.max_elapsed)),
                ("multiplier", Value::Float(r.multiplier)),
            ]),
        ),
        (
            "metrics",
            map(vec![
                ("interval", secs(m.interval)),
                ("timeout", secs(m.timeout)),
                ("temporality", Value::Str(m.temporality.name().into())),
                ("cardinality_limit", int(m.cardinality_limit)),
            ]),
        ),
        (
            "circuit_breaker",
            map(vec![
                ("failure_threshold", int(c.failure_threshold as usize)),
                ("cool_down", secs(c.cool_down)),
            ]),
        ),
        (
            "choices",
            map(vec![
                ("protocol", names(&Protocol::ALL, Protocol::name)),
                ("compression", names(&Compression::ALL, Compression::name)),
                ("http_version", names(&HttpVersion::ALL, HttpVersion::name)),
                (
                    "temporality",
                    names(&TemporalityPreference::ALL, TemporalityPreference::name),
                ),
                ("overflow", names(&Overflow::ALL, Overflow::name)),
                ("fsync", names(&Fsync::ALL, Fsync::name)),
            ]),
        ),
        (
            "receiver",
            map(vec![
                ("max_message_size", int(rl.max_message_size)),
                ("max_decompressed_size", int(rl.max_decompressed_size)),
                ("max_connections", int(rl.max_connections)),
                ("handshake_timeout", secs(rl.handshake_timeout)),
                ("idle_timeout", secs(rl.idle_timeout)),
                ("request_timeout", secs(rl.request_timeout)),
            ]),
        ),
        (
            "queue",
            map(vec![
                ("overflow", Value::Str(q.overflow.name().into())),
                ("block_timeout", secs(q.block_timeout)),
                ("max_queue_bytes", int(q.max_queue_bytes)),
                ("directory", Value::None),
                ("max_bytes", int(q.max_bytes)),
                ("fsync", Value::Str(q.fsync.name().into())),
            ]),
        ),
        ("max_seconds", secs(crate::time::MAX_DURATION)),
        ("max_queue_size", int(MAX_QUEUE_SIZE)),
    ])
}

/// The names of a setting's choices, as a list.
fn names<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> Value {
    Value::List(all.iter().map(|v| Value::Str(name(*v).into())).collect())
}

const ARGS: &[&str] = &[
    "endpoint",
    "protocol",
    "headers",
    "compression",
    "timeout",
    "batch",
    "retry",
    "metrics",
    "circuit_breaker",
    "max_request_size",
    "tls",
    "http_version",
    "signals",
    "strict",
    "queue",
];

/// Fields of configuration objects that may be `None`.
const OPTIONAL: &[&str] = &["ca_file", "cert_file", "key_file", "directory"];

const SIGNAL_KEYS: &[&str] = &[
    "endpoint",
    "protocol",
    "headers",
    "compression",
    "timeout",
    "tls",
    "http_version",
    "queue",
    "batch",
];

fn part_fields(kind: &str) -> Result<&'static [&'static str]> {
    Ok(match kind {
        "batch" => &[
            "max_queue_size",
            "max_export_batch_size",
            "schedule_delay",
            "max_concurrent_exports",
        ],
        "retry" => &[
            "initial_backoff",
            "max_backoff",
            "max_elapsed",
            "multiplier",
        ],
        "metrics" => &["interval", "timeout", "temporality", "cardinality_limit"],
        "circuit_breaker" => &["failure_threshold", "cool_down"],
        "tls" => &["ca_file", "cert_file", "key_file", "insecure"],
        "queue" => &[
            "overflow",
            "block_timeout",
            "max_queue_bytes",
            "directory",
            "max_bytes",
            "fsync",
        ],
        other => return Err(Error::Config(format!("unknown configuration {other:?}"))),
    })
}

/// One signal's own settings over its base: `{"endpoint": ..., "compression": ...}`.
/// A signal's endpoint is its whole URL (OTLP/HTTP posts to it as it is).
fn overlay(
    cfg: &mut ExporterConfig,
    kind: SignalKind,
    place: &str,
    fields: &[(String, Value)],
) -> Result<()> {
    let allowed: &[&str] = if kind == SignalKind::Metrics {
        &SIGNAL_KEYS[..SIGNAL_KEYS.len() - 1]
    } else {
        SIGNAL_KEYS
    };
    let f = Fields::new("", fields, allowed).map_err(|e| within(place, e))?;
    let bad = |e| within(place, e);
    if let Some(e) = f.text("endpoint").map_err(bad)? {
        cfg.endpoint = e;
        cfg.signal_url = true;
    }
    if let Some(p) = f.text("protocol").map_err(bad)? {
        cfg.protocol = Protocol::parse(&p).map_err(bad)?;
    }
    if let Some(c) = f.text("compression").map_err(bad)? {
        cfg.compression = Compression::parse(&c).map_err(bad)?;
    }
    if let Some(v) = f.text("http_version").map_err(bad)? {
        cfg.http_version = HttpVersion::parse(&v).map_err(bad)?;
    }
    if let Some(t) = f.seconds("timeout").map_err(bad)? {
        cfg.timeout = t;
    }
    if let Some(h) = f.headers("headers").map_err(bad)? {
        cfg.headers = h;
    }
    if let Some(t) = f.map("tls").map_err(bad)? {
        cfg.tls = tls(&t).map_err(bad)?;
        crate::transport::tls::client_config(&cfg.tls, &[b"h2"]).map_err(bad)?;
    }
    if let Some(b) = f.map("batch").map_err(bad)? {
        cfg.batch = batch(&b).map_err(bad)?;
    }
    if let Some(q) = f.map("queue").map_err(bad)? {
        cfg.queue = queue(&q).map_err(bad)?;
    }
    Ok(())
}

/// `e` again, its message prefixed with where the bad value was.
fn within(place: &str, e: Error) -> Error {
    match e {
        Error::Type(m) => Error::Type(format!("`{place}`: {m}")),
        Error::Config(m) => Error::Config(format!("`{place}`: {m}")),
        other => other,
    }
}

fn batch(f: &Fields<'_>) -> Result<BatchConfig> {
    let d = BatchConfig::default();
    let queue = MAX_QUEUE_SIZE as i128;
    let cfg = BatchConfig {
        max_queue_size: f
            .count("max_queue_size", 1, queue)?
            .unwrap_or(d.max_queue_size),
        max_export_batch_size: f
            .count("max_export_batch_size", 1, queue)?
            .unwrap_or(d.max_export_batch_size),
        schedule_delay: f.seconds("schedule_delay")?.unwrap_or(d.schedule_delay),
        max_concurrent_exports: f
            .count("max_concurrent_exports", 1, MAX_CONCURRENT_EXPORTS as i128)?
            .unwrap_or(d.max_concurrent_exports),
    };
    cfg.validate_at(&f.prefix)?;
    Ok(cfg)
}

fn retry(f: &Fields<'_>) -> Result<RetryPolicy> {
    let d = RetryPolicy::default();
    let cfg = RetryPolicy {
        initial_backoff: f.seconds("initial_backoff")?.unwrap_or(d.initial_backoff),
        max_backoff: f.seconds("max_backoff")?.unwrap_or(d.max_backoff),
        max_elapsed: f.seconds("max_elapsed")?.unwrap_or(d.max_elapsed),
        multiplier: f.float("multiplier")?.unwrap_or(d.multiplier),
    };
    cfg.validate_at(&f.prefix)?;
    Ok(cfg)
}

fn metrics(f: &Fields<'_>) -> Result<MetricsConfig> {
    let d = MetricsConfig::default();
    let temporality = match f.text("temporality")? {
        Some(t) => TemporalityPreference::parse(&t).map_err(|e| f.within(e))?,
        None => d.temporality,
    };
    let cfg = MetricsConfig {
        interval: f.seconds("interval")?.unwrap_or(d.interval),
        timeout: f.seconds("timeout")?.unwrap_or(d.timeout),
        temporality,
        cardinality_limit: f
            .count("cardinality_limit", 2, MAX_QUEUE_SIZE as i128)?
            .unwrap_or(d.cardinality_limit),
    };
    cfg.validate_at(&f.prefix)?;
    Ok(cfg)
}

fn circuit(f: &Fields<'_>) -> Result<CircuitConfig> {
    let d = CircuitConfig::default();
    let cfg = CircuitConfig {
        failure_threshold: f
            .count("failure_threshold", 0, u32::MAX as i128)?
            .map_or(d.failure_threshold, |n| n as u32),
        cool_down: f.seconds("cool_down")?.unwrap_or(d.cool_down),
    };
    cfg.validate_at(&f.prefix)?;
    Ok(cfg)
}

fn queue(f: &Fields<'_>) -> Result<QueueConfig> {
    let d = QueueConfig::default();
    let bytes = MAX_QUEUE_BYTES as i128;
    let overflow = match f.text("overflow")? {
        Some(o) => Overflow::parse(&o).map_err(|e| f.within(e))?,
        None => d.overflow,
    };
    let fsync = match f.text("fsync")? {
        Some(s) => Fsync::parse(&s).map_err(|e| f.within(e))?,
        None => d.fsync,
    };
    let cfg = QueueConfig {
        overflow,
        block_timeout: f.seconds("block_timeout")?.unwrap_or(d.block_timeout),
        max_queue_bytes: f
            .count("max_queue_bytes", 1024, bytes)?
            .unwrap_or(d.max_queue_bytes),
        directory: f.text("directory")?.map(std::path::PathBuf::from),
        max_bytes: f.count("max_bytes", 1 << 20, bytes)?.unwrap_or(d.max_bytes),
        fsync,
    };
    cfg.validate_at(&f.prefix)?;
    Ok(cfg)
}

fn tls(f: &Fields<'_>) -> Result<TlsConfig> {
    let cfg = TlsConfig {
        ca_file: f.text("ca_file")?,
        cert_file: f.text("cert_file")?,
        key_file: f.text("key_file")?,
        insecure: f.boolean("insecure")?.unwrap_or(false),
    };
    if cfg.cert_file.is_some() != cfg.key_file.is_some() {
        return Err(Error::Config(format!(
            "{} and {} go together (mutual TLS needs both)",
            f.name("cert_file"),
            f.name("key_file")
        )));
    }
    Ok(cfg)
}

/// `OTLP_STRICT`: "1"/"true"/"yes"/"on" or "0"/"false"/"no"/"off"/empty.
fn strict_from_env() -> Result<bool> {
    let Ok(raw) = std::env::var("OTLP_STRICT") else {
        return Ok(false);
    };
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "" | "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(Error::Config(
            "OTLP_STRICT must be 'true' or 'false' (or 1 / 0); it is set to something else".into(),
        )),
    }
}

/// The fields of one level of settings, read by name; `prefix` is how the level is
/// named in messages (`batch.`). In a configuration object every field is present,
/// and `None` is a value only where the field is optional (`tls.ca_file`); among
/// keyword arguments, `None` means "the default".
struct Fields<'a> {
    prefix: String,
    map: &'a [(String, Value)],
    none_is_default: bool,
}

impl<'a> Fields<'a> {
    fn new(prefix: &str, map: &'a [(String, Value)], allowed: &[&str]) -> Result<Self> {
        if let Some((unknown, _)) = map.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            let expected: Vec<String> = allowed.iter().map(|k| format!("'{k}'")).collect();
            return Err(Error::Config(format!(
                "unknown setting '{unknown}'; expected {}",
                expected.join(", ")
            )));
        }
        Ok(Self {
            prefix: prefix.to_owned(),
            map,
            none_is_default: true,
        })
    }

    /// The fields of a configuration object: `None` is refused unless the field is
    /// optional (`OPTIONAL`).
    fn object(prefix: &str, map: &'a [(String, Value)], allowed: &[&str]) -> Result<Self> {
        let mut f = Self::new(prefix, map, allowed)?;
        f.none_is_default = false;
        Ok(f)
    }

    /// `e`, produced with a bare field name (`` `temporality` ``), naming it as this
    /// level does (`` `metrics.temporality` ``).
    fn within(&self, e: Error) -> Error {
        match e {
            Error::Config(m) if !self.prefix.is_empty() => {
                Error::Config(m.replacen('`', &format!("`{}", self.prefix), 1))
            }
            other => other,
        }
    }

    /// `` `prefix.key` ``, as messages show it.
    fn name(&self, key: &str) -> String {
        format!("`{}{key}`", self.prefix)
    }

    /// The value of `key`: `Value::None` when absent, or `None` that means the default.
    fn get(&self, key: &str) -> &'a Value {
        self.map
            .iter()
            .find(|(k, _)| k == key)
            .map_or(&Value::None, |(_, v)| v)
    }

    /// Whether `key` holds an explicit `None` that is not allowed to mean the default.
    fn none_refused(&self, key: &str) -> bool {
        !self.none_is_default
            && !OPTIONAL.contains(&key)
            && self.map.iter().any(|(k, v)| k == key && *v == Value::None)
    }

    fn wrong(&self, key: &str, what: &str, got: &Value) -> Error {
        Error::Type(format!(
            "{} must be {what}; got {}",
            self.name(key),
            got.type_name()
        ))
    }

    fn text(&self, key: &str) -> Result<Option<String>> {
        if self.none_refused(key) {
            return Err(self.wrong(key, "a str", &Value::None));
        }
        match self.get(key) {
            Value::None => Ok(None),
            Value::Str(s) => Ok(Some(s.clone())),
            other => Err(self.wrong(key, "a str", other)),
        }
    }

    fn boolean(&self, key: &str) -> Result<Option<bool>> {
        if self.none_refused(key) {
            return Err(self.wrong(key, "a bool", &Value::None));
        }
        match self.get(key) {
            Value::None => Ok(None),
            Value::Bool(b) => Ok(Some(*b)),
            other => Err(self.wrong(key, "a bool", other)),
        }
    }

    fn float(&self, key: &str) -> Result<Option<f64>> {
        if self.none_refused(key) {
            return Err(self.wrong(key, "a number", &Value::None));
        }
        match self.get(key) {
            Value::None => Ok(None),
            Value::Float(f) => Ok(Some(*f)),
            Value::Int(i) => Ok(Some(*i as f64)),
            other => Err(self.wrong(key, "a number", other)),
        }
    }

    /// An int setting in `min..=max`, as a `usize`.
    fn count(&self, key: &str, min: i128, max: i128) -> Result<Option<usize>> {
        if self.none_refused(key) {
            return Err(self.wrong(key, "an int", &Value::None));
        }
        match self.get(key) {
            Value::None => Ok(None),
            Value::Int(i) => {
                crate::check_range(&format!("{}{key}", self.prefix), *i, min, max)?;
                Ok(Some(*i as usize))
            }
            other => Err(self.wrong(key, "an int", other)),
        }
    }

    /// A number of seconds (range checks are the configuration's own).
    fn seconds(&self, key: &str) -> Result<Option<Duration>> {
        if self.none_refused(key) {
            return Err(self.wrong(key, "a number of seconds", &Value::None));
        }
        let value = match self.get(key) {
            Value::None => return Ok(None),
            Value::Float(f) => *f,
            Value::Int(i) => *i as f64,
            Value::Bool(_) => {
                return Err(Error::Type(format!(
                    "{} must be a number of seconds, not bool",
                    self.name(key)
                )))
            }
            other => return Err(self.wrong(key, "a number of seconds", other)),
        };
        crate::time::seconds(value, &format!("{}{key}", self.prefix)).map(Some)
    }

    /// A configuration object (`batch`, `retry`...) or, for `signals`, a mapping.
    fn map(&self, key: &str) -> Result<Option<Fields<'a>>> {
        let class = match key {
            "batch" => "BatchConfig",
            "retry" => "RetryPolicy",
            "metrics" => "MetricsConfig",
            "circuit_breaker" => "CircuitBreaker",
            "queue" => "QueueConfig",
            "tls" => "TLS",
            _ => "",
        };
        match self.get(key) {
            Value::None => Ok(None),
            // Unknown signals get their own message (in from_args).
            Value::Map(m) if class.is_empty() => Ok(Some(Fields::any(m))),
            Value::Object(name, m) if name == class => Ok(Some(Fields::object(
                &format!("{}{key}.", self.prefix),
                m,
                part_fields(key)?,
            )?)),
            other => Err(Error::Type(format!(
                "{} must be {}; got {}",
                self.name(key),
                if class.is_empty() {
                    "a dict".to_owned()
                } else {
                    format!("an otlp.{class}")
                },
                other.type_name()
            ))),
        }
    }

    fn any(map: &'a [(String, Value)]) -> Self {
        Self {
            prefix: String::new(),
            map,
            none_is_default: true,
        }
    }

    fn headers(&self, key: &str) -> Result<Option<Vec<(String, String)>>> {
        match self.get(key) {
            Value::None => Ok(None),
            Value::Map(m) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::Str(s) => Ok((k.clone(), s.clone())),
                    other => Err(Error::Type(format!(
                        "`{key}`: the value of {k:?} must be str; got {}",
                        other.type_name()
                    ))),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            other => Err(Error::Type(format!(
                "`{key}` must be a dict of str to str; got {}",
                other.type_name()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: Vec<(&str, Value)>) -> Vec<(String, Value)> {
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    fn map(pairs: Vec<(&str, Value)>) -> Value {
        Value::Map(args(pairs))
    }

    fn object(class: &str, pairs: Vec<(&str, Value)>) -> Value {
        Value::Object(class.to_owned(), args(pairs))
    }

    #[test]
    fn defaults_apply_and_logs_get_their_own_delay() {
        let s = Settings::from_args(&[]).unwrap();
        assert_eq!(s.signal(SignalKind::Traces).batch, BatchConfig::default());
        assert_eq!(s.signal(SignalKind::Logs).batch, logs_batch_default());
        assert_eq!(s.metrics, MetricsConfig::default());
        let given = object("BatchConfig", vec![("schedule_delay", Value::Float(0.2))]);
        let s = Settings::from_args(&args(vec![("batch", given)])).unwrap();
        let delay = Duration::from_millis(200);
        assert_eq!(s.signal(SignalKind::Traces).batch.schedule_delay, delay);
        assert_eq!(s.signal(SignalKind::Logs).batch.schedule_delay, delay);
    }

    #[test]
    fn messages_name_the_argument_as_written() {
        let err = |a: Vec<(&str, Value)>| Settings::from_args(&args(a)).unwrap_err().to_string();
        assert_eq!(
            err(vec![("timeout", Value::Str("10".into()))]),
            "`timeout` must be a number of seconds; got str"
        );
        assert!(err(vec![(
            "batch",
            object("BatchConfig", vec![("schedule_delay", Value::Float(1e19))])
        )])
        .starts_with("`batch.schedule_delay` must be at most 31536000 seconds"));
        assert_eq!(
            err(vec![(
                "signals",
                map(vec![("logs", map(vec![("timeout", Value::Float(0.0))]))])
            )]),
            "`signals['logs']`: `timeout` must be > 0 seconds; got 0"
        );
        assert!(err(vec![("nope", Value::Int(1))]).starts_with("unknown setting 'nope'"));
        assert!(err(vec![(
            "signals",
            map(vec![(
                "metrics",
                map(vec![("batch", object("BatchConfig", vec![]))])
            )])
        )])
        .contains("unknown setting 'batch'"));
        assert_eq!(
            check_part("batch", &args(vec![("max_queue_size", Value::Int(0))]))
                .unwrap_err()
                .to_string(),
            "`max_queue_size` must be between 1 and 100000000; got 0"
        );
        assert_eq!(
            check_part("metrics", &args(vec![("temporality", Value::None)]))
                .unwrap_err()
                .to_string(),
            "`temporality` must be a str; got NoneType"
        );
        assert!(check_part("tls", &args(vec![("ca_file", Value::None)])).is_ok());
        assert_eq!(
            err(vec![("retry", map(vec![]))]),
            "`retry` must be an otlp.RetryPolicy; got dict"
        );
    }
}
