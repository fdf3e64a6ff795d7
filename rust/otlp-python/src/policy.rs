//! What happens to telemetry the application gets wrong, or sends too late.
//!
//! Telemetry never raises into the application's code (OpenTelemetry specification,
//! "Error handling"): an attribute value of an unsupported type, a NaN measurement, a
//! negative counter increment or a call after `shutdown()` is dropped, counted in
//! `stats()` and reported once through the `otlp` logger. Strict mode
//! (`Exporter(strict=True)` or `OTLP_STRICT=1`), meant for tests, raises instead.
//! Configuration errors raise at construction either way.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use crate::convert::Bad;
use crate::errors::OtlpError;

/// Distinct problems reported through the `otlp` logger, per exporter; beyond it
/// they are only counted (a cardinality bomb must not become a log flood).
const MAX_WARNINGS: usize = 100;

/// One exporter's handling of bad values and late calls, shared by its tracers,
/// loggers, meters and instruments.
#[derive(Default)]
pub struct Policy {
    pub strict: bool,
    shut_down: AtomicBool,
    /// Attributes (keys or values) dropped because they could not be encoded.
    pub attributes_dropped_invalid: AtomicU64,
    /// Metric measurements dropped because their value was unusable.
    pub measurements_dropped_invalid: AtomicU64,
    /// Spans started, records emitted and measurements made after `shutdown()`.
    pub dropped_after_shutdown: AtomicU64,
    /// What has been reported already (a key, an instrument, "shutdown").
    warned: Mutex<HashSet<String>>,
}

impl Policy {
    pub fn new(strict: bool) -> Self {
        Self {
            strict,
            ..Self::default()
        }
    }

    pub fn mark_shut_down(&self) {
        self.shut_down.store(true, Ordering::Release);
    }

    /// True when the exporter is shut down and the call should do nothing; counted
    /// and reported once. Strict mode raises `OtlpError` instead.
    pub fn closed(&self, py: Python<'_>, what: &str) -> PyResult<bool> {
        if !self.shut_down.load(Ordering::Acquire) {
            return Ok(false);
        }
        if self.strict {
            return Err(OtlpError::new_err(format!(
                "{what} after the exporter was shut down"
            )));
        }
        self.dropped_after_shutdown.fetch_add(1, Ordering::Relaxed);
        self.warn_once(
            py,
            "shutdown",
            format_args!(
                "telemetry recorded after Exporter.shutdown() is dropped (first: {what}); \
                 stats()['dropped_after_shutdown'] counts it"
            ),
        );
        Ok(true)
    }

    /// An attribute that cannot be encoded: raise in strict mode, else count it and
    /// report its key once. Exceptions that are not `Exception`s (KeyboardInterrupt)
    /// always propagate.
    pub fn bad_attribute(&self, py: Python<'_>, key: &str, bad: Bad) -> PyResult<()> {
        if let Bad::Py(e) = &bad {
            if !e.is_instance_of::<PyException>(py) {
                return Err(bad.into_err(key));
            }
        }
        if self.strict {
            return Err(bad.into_err(key));
        }
        self.attributes_dropped_invalid
            .fetch_add(1, Ordering::Relaxed);
        if !self.seen(&format!("attribute:{key}")) {
            let why = bad.into_err(key).value(py).to_string();
            warn(
                py,
                format_args!(
                    "{why}; it was dropped (counted in stats()['attributes_dropped_invalid']; \
                     strict=True raises instead)"
                ),
            );
        }
        Ok(())
    }

    /// A measurement that cannot be recorded: `error` in strict mode, else counted
    /// and reported once per instrument.
    pub fn bad_measurement(&self, py: Python<'_>, instrument: &str, error: PyErr) -> PyResult<()> {
        if self.strict || !error.is_instance_of::<PyException>(py) {
            return Err(error);
        }
        self.measurements_dropped_invalid
            .fetch_add(1, Ordering::Relaxed);
        if !self.seen(&format!("measurement:{instrument}")) {
            warn(
                py,
                format_args!(
                    "{}; the measurement was dropped (counted in \
                     stats()['measurements_dropped_invalid']; strict=True raises instead)",
                    error.value(py)
                ),
            );
        }
        Ok(())
    }

    /// Report `message` through the `otlp` logger the first time `topic` comes up.
    pub fn warn_once(&self, py: Python<'_>, topic: &str, message: std::fmt::Arguments<'_>) {
        if !self.seen(topic) {
            warn(py, message);
        }
    }

    /// Whether `topic` was reported before (or reports are exhausted); marks it seen.
    fn seen(&self, topic: &str) -> bool {
        let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        if warned.contains(topic) || warned.len() >= MAX_WARNINGS {
            return true;
        }
        warned.insert(topic.to_owned());
        false
    }
}

/// `logging.getLogger("otlp").warning(message)`; a failure to log is ignored (the
/// application's logging configuration must not break its telemetry calls).
fn warn(py: Python<'_>, message: std::fmt::Arguments<'_>) {
    static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let logger = LOGGER.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py
            .import("logging")?
            .call_method1("getLogger", ("otlp",))?
            .unbind())
    });
    if let Ok(logger) = logger {
        let _ = logger
            .bind(py)
            .call_method1("warning", ("%s", message.to_string()));
    }
}
