//! The core's [`Policy`] verdicts, acted on in Python: a dropped value is reported once
//! through the `otlp` logger, strict mode raises.

use otlp::export::{Policy, Verdict};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use crate::convert::Bad;
use crate::errors::OtlpError;

/// True when the exporter is shut down and the call must do nothing (the first such
/// call is reported); strict mode raises `OtlpError` instead.
#[inline]
pub fn closed(py: Python<'_>, policy: &Policy, what: &str) -> PyResult<bool> {
    late(py, policy.late(), what)
}

/// [`closed`], for a call the core already judged (`None`: the exporter runs).
#[inline]
pub fn late(py: Python<'_>, verdict: Option<Verdict>, what: &str) -> PyResult<bool> {
    match verdict {
        None => Ok(false),
        Some(Verdict::Raise) => Err(OtlpError::new_err(format!(
            "{what} after the exporter was shut down"
        ))),
        Some(Verdict::Drop { report }) => {
            if report {
                warn(
                    py,
                    &format!(
                        "telemetry recorded after Exporter.shutdown() is dropped (first: \
                         {what}); stats()['dropped_after_shutdown'] counts it"
                    ),
                );
            }
            Ok(true)
        }
    }
}

/// An attribute that cannot be encoded: raise in strict mode, else it is dropped (and
/// its key reported once). Exceptions that are not `Exception`s (KeyboardInterrupt)
/// always propagate.
pub fn bad_attribute(py: Python<'_>, policy: &Policy, key: &str, bad: Bad) -> PyResult<()> {
    if let Bad::Py(e) = &bad {
        if !e.is_instance_of::<PyException>(py) {
            return Err(bad.into_err(key));
        }
    }
    match policy.bad_attribute(key) {
        Verdict::Raise => Err(bad.into_err(key)),
        Verdict::Drop { report } => {
            if report {
                let why = bad.into_err(key).value(py).to_string();
                warn(
                    py,
                    &format!(
                        "{why}; it was dropped (counted in stats()['attributes_dropped_invalid']; \
                         strict=True raises instead)"
                    ),
                );
            }
            Ok(())
        }
    }
}

/// A measurement of `instrument` that cannot be recorded: `error` in strict mode, else
/// it is dropped (and reported once per instrument).
pub fn bad_measurement(
    py: Python<'_>,
    policy: &Policy,
    instrument: &str,
    error: PyErr,
) -> PyResult<()> {
    if !error.is_instance_of::<PyException>(py) {
        return Err(error);
    }
    match policy.bad_measurement(instrument) {
        Verdict::Raise => Err(error),
        Verdict::Drop { report } => {
            if report {
                warn(
                    py,
                    &format!(
                        "{}; the measurement was dropped (counted in \
                         stats()['measurements_dropped_invalid']; strict=True raises instead)",
                        error.value(py)
                    ),
                );
            }
            Ok(())
        }
    }
}

/// `logging.getLogger("otlp").warning(message)`; a failure to log is ignored (the
/// application's logging configuration must not break its telemetry calls).
pub fn warn(py: Python<'_>, message: &str) {
    static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let logger = LOGGER.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py
            .import("logging")?
            .call_method1("getLogger", ("otlp",))?
            .unbind())
    });
    if let Ok(logger) = logger {
        let _ = logger.bind(py).call_method1("warning", ("%s", message));
    }
}
