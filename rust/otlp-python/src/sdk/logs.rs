//! SDK log records (`ReadableLogRecord`, and the `ReadWriteLogRecord` a processor
//! gets) to the model, as upstream's `_log_encoder` reads them.

use otlp::encode::{encode_logs_json, LogsRequest};
use otlp::model::LogRecord;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyInt};

use super::fields::{attrs_within, check_depth, is_json, no_bool, opt_int, opt_string, opt_u64};
use super::groups::Groups;
use crate::convert::{self, Mode};
use crate::errors::guard;

/// `Resource.create({})`, which the SDK's log processors give a record without a
/// resource.
fn default_resource(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    static EMPTY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    EMPTY
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(
                py.import(intern!(py, "opentelemetry.sdk.resources"))?
                    .getattr(intern!(py, "Resource"))?
                    .call_method1(intern!(py, "create"), (PyDict::new(py),))?
                    .unbind(),
            )
        })
        .map(|r| r.bind(py).clone())
}

/// One record (a `ReadableLogRecord`, or the `ReadWriteLogRecord` a processor gets,
/// whose missing resource is then `Resource.create({})`, as the SDK's processors make
/// it), with its resource and scope shared through `groups`.
pub fn read(readable: &Bound<'_, PyAny>, groups: &Groups, processor: bool) -> PyResult<LogRecord> {
    let py = readable.py();
    let mut resource = readable.getattr(intern!(py, "resource"))?;
    if processor && resource.is_none() {
        resource = default_resource(py)?;
    }
    let (resource, scope) = groups.get(
        &resource,
        &readable.getattr(intern!(py, "instrumentation_scope"))?,
    )?;
    let r = readable.getattr(intern!(py, "log_record"))?;
    let body = r.getattr(intern!(py, "body"))?;
    // Upstream's `_encode_value` raises (failing the batch) on a body it cannot encode.
    let body = convert::any_value(&body, Mode::Sdk).map_err(|b| b.into_err("body"))?;
    check_depth(&body, 99, "the body")?;
    let mut out = LogRecord::new(resource, scope, body);
    out.time_unix_nano = opt_u64(&r.getattr(intern!(py, "timestamp"))?)?;
    out.observed_time_unix_nano = opt_u64(&r.getattr(intern!(py, "observed_timestamp"))?)?;
    let span_id = r.getattr(intern!(py, "span_id"))?.extract::<u64>()?;
    let trace_id = r.getattr(intern!(py, "trace_id"))?.extract::<u128>()?;
    out.span_id = (span_id != 0).then(|| span_id.to_be_bytes());
    out.trace_id = (trace_id != 0).then(|| trace_id.to_be_bytes());
    // `int(trace_flags)`
    out.flags = py
        .get_type::<PyInt>()
        .call1((r.getattr(intern!(py, "trace_flags"))?,))?
        .extract::<u32>()?;
    out.severity_text = opt_string(&r.getattr(intern!(py, "severity_text"))?)?;
    out.attributes = attrs_within(&r.getattr(intern!(py, "attributes"))?, 98)?;
    out.dropped_attributes_count = readable
        .getattr(intern!(py, "dropped_attributes"))?
        .extract()?;
    // `getattr(severity_number, "value", None)`: a plain int leaves it unset.
    let severity = r.getattr(intern!(py, "severity_number"))?;
    out.severity_number = match severity.getattr(intern!(py, "value")) {
        Ok(v) if !v.is_none() => {
            no_bool(&v)?;
            opt_int::<i32>(&v)?
        }
        _ => 0,
    };
    out.event_name = match r.getattr(intern!(py, "event_name")) {
        Ok(e) => opt_string(&e)?,
        Err(_) => String::new(),
    };
    Ok(out)
}

/// Encode SDK `ReadableLogRecord`s as an `ExportLogsServiceRequest`, byte-identical to
/// `_log_encoder.encode_logs(records).SerializeToString()`.
#[pyfunction]
#[pyo3(signature = (records, format = "protobuf"))]
pub fn encode_logs<'py>(
    py: Python<'py>,
    records: &Bound<'py, PyAny>,
    format: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    guard(|| encode_logs_now(py, records, format))
}

fn encode_logs_now<'py>(
    py: Python<'py>,
    records: &Bound<'py, PyAny>,
    format: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let json = is_json(format)?;
    let groups = Groups::new();
    let mut data = Vec::new();
    for r in records.try_iter()? {
        data.push(read(&r?, &groups, false)?);
    }
    if json {
        let mut buf = Vec::new();
        encode_logs_json(&data, &mut buf);
        return Ok(PyBytes::new(py, &buf));
    }
    let request = LogsRequest::new(&data);
    let mut buf = Vec::with_capacity(request.len());
    request.write(&mut buf);
    Ok(PyBytes::new(py, &buf))
}
