//! The exporter of all three signals: what a binding (or a Rust program) creates once
//! and records spans, metrics and log records through.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::error::Result;
use crate::metrics::MetricsExporter;
use crate::model::{KeyValue, Resource, Scope};
use crate::time::Done;
use crate::transport::Endpoint;

use super::policy::Policy;
use super::settings::{Settings, SignalKind};
use super::{LogExporter, TraceExporter};

/// One value of [`Exporter::stats`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stat {
    /// A counter (or a gauge such as `spans_pending`).
    Count(u64),
    /// An error message, if there was one.
    Text(Option<String>),
    /// A state's name (`circuit_state`).
    Name(&'static str),
}

/// Spans, metrics and log records to one collector (or one per signal). The span
/// pipeline starts at once; the log pipeline and the metric reader start on first
/// use, so that an application that only traces runs no reader thread.
pub struct Exporter {
    settings: Settings,
    resource: Arc<Resource>,
    traces: Arc<TraceExporter>,
    logs: Mutex<Option<Arc<LogExporter>>>,
    metrics: Mutex<Option<Arc<MetricsExporter>>>,
    /// Scopes without attributes, shared by name, version and schema URL (spans of one
    /// scope then group by pointer when encoded).
    scopes: Mutex<HashMap<(String, String, String), Arc<Scope>>>,
    shut_down: AtomicBool,
    policy: Policy,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Exporter {
    /// Start exporting with `settings`; every signal carries `resource`.
    pub fn new(settings: Settings, resource: Resource) -> Result<Self> {
        let traces = TraceExporter::new(settings.signal(SignalKind::Traces).clone())?;
        Ok(Self {
            policy: Policy::new(settings.strict),
            settings,
            resource: Arc::new(resource),
            traces: Arc::new(traces),
            logs: Mutex::new(None),
            metrics: Mutex::new(None),
            scopes: Mutex::new(HashMap::new()),
            shut_down: AtomicBool::new(false),
        })
    }

    /// What the exporter was made with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The resource every signal carries.
    pub fn resource(&self) -> &Arc<Resource> {
        &self.resource
    }

    /// What happens to bad values and calls after shutdown.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Where spans go.
    pub fn endpoint(&self) -> &Endpoint {
        self.traces.endpoint()
    }

    /// An instrumentation scope. Scopes without attributes are shared by name, version
    /// and schema URL.
    pub fn scope(
        &self,
        name: String,
        version: String,
        schema_url: String,
        attributes: Vec<KeyValue>,
    ) -> Arc<Scope> {
        let make = |name, version, schema_url, attributes| {
            Arc::new(Scope {
                name,
                version,
                attributes,
                dropped_attributes_count: 0,
                schema_url,
            })
        };
        if !attributes.is_empty() {
            return make(name, version, schema_url, attributes);
        }
        lock(&self.scopes)
            .entry((name.clone(), version.clone(), schema_url.clone()))
            .or_insert_with(|| make(name, version, schema_url, Vec::new()))
            .clone()
    }

    /// The span exporter.
    pub fn traces(&self) -> &Arc<TraceExporter> {
        &self.traces
    }

    /// The log exporter, started on first use; `None` after shutdown if it never was
    /// (a pipeline nobody would shut down is not started).
    pub fn logs(&self) -> Result<Option<Arc<LogExporter>>> {
        let mut slot = lock(&self.logs);
        if slot.is_none() && !self.is_shut_down() {
            let config = self.settings.signal(SignalKind::Logs).clone();
            *slot = Some(Arc::new(LogExporter::new(config)?));
        }
        Ok(slot.clone())
    }

    /// The metric exporter and its reader, started on first use; `None` after shutdown
    /// if it never was.
    pub fn metrics(&self) -> Result<Option<Arc<MetricsExporter>>> {
        let mut slot = lock(&self.metrics);
        if slot.is_none() && !self.is_shut_down() {
            *slot = Some(MetricsExporter::new(
                self.settings.signal(SignalKind::Metrics),
                self.settings.metrics,
                self.resource.clone(),
            )?);
        }
        Ok(slot.clone())
    }

    fn started_logs(&self) -> Option<Arc<LogExporter>> {
        lock(&self.logs).clone()
    }

    fn started_metrics(&self) -> Option<Arc<MetricsExporter>> {
        lock(&self.metrics).clone()
    }

    /// Whether `shutdown` was called.
    pub fn is_shut_down(&self) -> bool {
        self.shut_down.load(Ordering::Acquire)
    }

    /// Export everything recorded so far (metrics: collect now), waiting through `wait`
    /// (see [`Done`]). True when all of it was delivered: in time, and nothing dropped,
    /// failed or rejected meanwhile.
    pub fn force_flush_with<E>(
        &self,
        mut wait: impl FnMut(&Done<'_>) -> std::result::Result<bool, E>,
    ) -> std::result::Result<bool, E> {
        let mut ok = self.traces.pipeline().flush_with(&mut wait)?;
        if let Some(logs) = self.started_logs() {
            ok &= logs.pipeline().flush_with(&mut wait)?;
        }
        if let Some(metrics) = self.started_metrics() {
            ok &= metrics.force_flush_with(&mut wait)?;
        }
        Ok(ok)
    }

    /// [`Self::force_flush_with`], blocking until `deadline` at the most.
    pub fn force_flush(&self, deadline: Instant) -> bool {
        let Ok(flushed) = self.force_flush_with(crate::time::until(deadline));
        flushed
    }

    /// Flush, then stop, by `deadline` (waiting through `wait`, see [`Done`]) whatever
    /// the collectors do: what is still unsent then is dropped and counted. Later
    /// calls record nothing (see [`Policy`]). True when everything was settled in
    /// time; calling it again returns true.
    pub fn shutdown_with<E>(
        &self,
        deadline: Instant,
        mut wait: impl FnMut(&Done<'_>) -> std::result::Result<bool, E>,
    ) -> std::result::Result<bool, E> {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return Ok(true);
        }
        self.policy.mark_shut_down();
        // Every signal is shut down even when a wait is interrupted (Ctrl-C).
        let traces = self.traces.pipeline().shutdown_with(&mut wait);
        let logs = match self.started_logs() {
            Some(l) => l.pipeline().shutdown_with(&mut wait),
            None => Ok(true),
        };
        let metrics = match self.started_metrics() {
            Some(m) => m.shutdown_with(deadline, &mut wait),
            None => Ok(true),
        };
        Ok(traces? & logs? & metrics?)
    }

    /// [`Self::shutdown_with`], blocking until `deadline` at the most.
    pub fn shutdown(&self, deadline: Instant) -> bool {
        let Ok(clean) = self.shutdown_with(deadline, crate::time::until(deadline));
        clean
    }

    /// Just before `fork()`, in the parent: no background collection may hold a lock
    /// across it.
    pub fn before_fork(&self) {
        if let Some(m) = self.started_metrics() {
            m.pause_for_fork();
        }
    }

    /// Just after `fork()`, in the parent.
    pub fn after_fork_in_parent(&self) {
        if let Some(m) = self.started_metrics() {
            m.resume_after_fork();
        }
    }

    /// Just after `fork()`, in the child (after [`crate::runtime::after_fork_in_child`]):
    /// threads did not survive the fork, so every signal gets a fresh pipeline (what
    /// was queued belongs to the parent, which still exports it) and metric series
    /// start over.
    pub fn after_fork_in_child(&self) -> Result<()> {
        if self.is_shut_down() {
            return Ok(());
        }
        self.traces.after_fork_in_child()?;
        if let Some(l) = self.started_logs() {
            l.after_fork_in_child()?;
        }
        if let Some(m) = self.started_metrics() {
            m.after_fork_in_child()?;
        }
        Ok(())
    }

    /// Every counter, by name: spans, requests, the circuit breaker, bad values and
    /// late calls, logs and metrics (the unprefixed `requests_*`, `bytes_sent`,
    /// `last_error` and `circuit_*` are the span pipeline's). Every accepted item ends
    /// up counted exactly once: exported, rejected, dropped or failed (with their
    /// reasons).
    pub fn stats(&self) -> Vec<(&'static str, Stat)> {
        use Stat::{Count, Name, Text};
        let s = self.traces.stats();
        let traces = self.traces.pipeline();
        let logs = self.started_logs();
        let ls = logs.as_ref().map(|l| l.stats()).unwrap_or_default();
        let m = self.started_metrics();
        let ms = m.as_ref().map(|m| m.stats()).unwrap_or_default();
        let p = &self.policy;
        let disk = |f: fn(&crate::stats::StatsSnapshot) -> u64| f(&s) + f(&ls) + f(&ms);
        let disk_counts = [
            ("disk_corrupt_requests", Count(disk(|s| s.disk_corrupt))),
            (
                "disk_incompatible_requests",
                Count(disk(|s| s.disk_incompatible)),
            ),
            (
                "disk_write_failures",
                Count(disk(|s| s.disk_write_failures)),
            ),
        ];
        let mut out = vec![
            ("spans_accepted", Count(s.accepted)),
            ("spans_exported", Count(s.exported)),
            ("spans_rejected", Count(s.rejected)),
            ("spans_dropped", Count(s.dropped())),
            ("spans_dropped_queue_full", Count(s.dropped_queue_full)),
            ("spans_dropped_shutdown", Count(s.dropped_shutdown)),
            ("spans_dropped_too_large", Count(s.dropped_too_large)),
            ("spans_dropped_evicted", Count(s.dropped_evicted)),
            (
                "spans_dropped_block_timeout",
                Count(s.dropped_block_timeout),
            ),
            ("spans_left_on_disk", Count(s.left_on_disk)),
            ("spans_failed", Count(s.failed())),
            ("spans_failed_non_retryable", Count(s.failed_non_retryable)),
            (
                "spans_failed_retries_exhausted",
                Count(s.failed_retries_exhausted),
            ),
            ("spans_pending", Count(traces.pending())),
        ];
        out.extend([
            ("requests_sent", Count(s.requests_ok + s.requests_failed)),
            ("requests_ok", Count(s.requests_ok)),
            ("requests_failed", Count(s.requests_failed)),
            ("requests_retried", Count(s.requests_retried)),
            ("bytes_sent", Count(s.bytes_sent)),
            ("last_error", Text(s.last_error)),
            ("circuit_state", Name(traces.circuit().state().name())),
            ("circuit_opened", Count(traces.circuit().times_opened())),
            (
                "attributes_dropped_invalid",
                Count(p.attributes_dropped_invalid()),
            ),
            (
                "measurements_dropped_invalid",
                Count(p.measurements_dropped_invalid()),
            ),
            ("dropped_after_shutdown", Count(p.dropped_after_shutdown())),
            (
                "logs_pending",
                Count(logs.as_ref().map_or(0, |l| l.pipeline().pending())),
            ),
            ("logs_accepted", Count(ls.accepted)),
            ("logs_exported", Count(ls.exported)),
            ("logs_rejected", Count(ls.rejected)),
            ("logs_dropped", Count(ls.dropped())),
            ("logs_failed", Count(ls.failed())),
            ("logs_requests_ok", Count(ls.requests_ok)),
            ("logs_requests_failed", Count(ls.requests_failed)),
            ("logs_bytes_sent", Count(ls.bytes_sent)),
            ("logs_left_on_disk", Count(ls.left_on_disk)),
            ("logs_last_error", Text(ls.last_error)),
            ("metric_points_accepted", Count(ms.accepted)),
            ("metric_points_exported", Count(ms.exported)),
            ("metric_points_rejected", Count(ms.rejected)),
            ("metric_points_dropped", Count(ms.dropped())),
            ("metric_points_failed", Count(ms.failed())),
            ("metric_requests_ok", Count(ms.requests_ok)),
            ("metric_requests_failed", Count(ms.requests_failed)),
            ("metric_bytes_sent", Count(ms.bytes_sent)),
            ("metric_points_left_on_disk", Count(ms.left_on_disk)),
            (
                "metric_callback_errors",
                Count(m.as_ref().map_or(0, |m| m.callback_errors())),
            ),
            (
                "metric_collections_late",
                Count(m.as_ref().map_or(0, |m| m.collections_late())),
            ),
            (
                "metric_last_error",
                Text(
                    ms.last_error
                        .or_else(|| m.as_ref().and_then(|m| m.last_callback_error())),
                ),
            ),
        ]);
        out.extend(disk_counts);
        out
    }
}
