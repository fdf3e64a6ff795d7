//! `otlp.sdk.encode_spans`: OpenTelemetry SDK spans to the exact bytes of the official
//! encoder (`opentelemetry.exporter.otlp.proto.common`).

use std::sync::Arc;

use otlp::encode::{
    encode_logs_json, encode_metrics_json, encode_traces_json, LogsRequest, MetricsRequest,
    TraceRequest,
};
use otlp::model::{
    AnyValue, Buckets, Event, Exemplar, ExponentialHistogramPoint, HistogramPoint, Link, LogRecord,
    Metric, MetricData, Number, NumberPoint, Resource, ResourceMetrics, Scope, ScopeMetrics,
    SpanData, SpanKind, Status, StatusCode, Temporality,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt};

use crate::convert::{self, Mode};
use crate::errors::guard;

use otlp::trace::{FLAG_HAS_IS_REMOTE, FLAG_IS_REMOTE};

/// A protobuf string field as upstream sets it: None is unset, UTF-8 bytes are accepted.
fn opt_string(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    if obj.is_none() {
        Ok(String::new())
    } else if let Ok(b) = obj.cast::<PyBytes>() {
        std::str::from_utf8(b.as_bytes())
            .map(str::to_owned)
            .map_err(|e| PyValueError::new_err(e.to_string()))
    } else {
        Ok(obj.extract::<String>()?)
    }
}

/// Protobuf integer fields refuse bools; upstream then raises.
fn no_bool(obj: &Bound<'_, PyAny>) -> PyResult<()> {
    if obj.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{} has type bool, but expected one of: int",
            obj.repr()?
        )));
    }
    Ok(())
}

fn opt_u64(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    if obj.is_none() {
        Ok(0)
    } else {
        no_bool(obj)?;
        obj.extract()
    }
}

fn attrs(obj: &Bound<'_, PyAny>) -> PyResult<Vec<otlp::model::KeyValue>> {
    if obj.is_none() {
        return Ok(Vec::new());
    }
    Ok(convert::attributes(obj, Mode::Sdk, usize::MAX)?.0)
}

/// Message depth of an `AnyValue` (a scalar is 1; a list level adds 2, a map level 3).
fn depth(v: &AnyValue) -> u32 {
    match v {
        AnyValue::Array(vs) => 2 + vs.iter().map(depth).max().unwrap_or(0),
        AnyValue::KvList(kvs) => {
            if kvs.is_empty() {
                2
            } else {
                3 + kvs.iter().map(|kv| depth(&kv.value)).max().unwrap_or(0)
            }
        }
        _ => 1,
    }
}

/// Upstream's protobuf backend fails the whole batch on a value at least
/// `raise_from` levels deep (counting from where it sits in the request) that is not
/// deep enough to have been dropped on its own (102 levels). Mirror that.
fn check_depth(v: &AnyValue, raise_from: u32, what: &str) -> PyResult<()> {
    if depth(v) >= raise_from {
        return Err(PyValueError::new_err(format!(
            "{what} is nested too deeply for the protobuf encoder"
        )));
    }
    Ok(())
}

/// Attributes of a span (98), event or link (97), scope (98), resource (99) or log
/// record (98): `raise_from` is where upstream starts to fail the batch.
fn attrs_within(obj: &Bound<'_, PyAny>, raise_from: u32) -> PyResult<Vec<otlp::model::KeyValue>> {
    let out = attrs(obj)?;
    for kv in &out {
        check_depth(&kv.value, raise_from, "an attribute value")?;
    }
    Ok(out)
}

/// `remote` flags as upstream's `_span_flags`: the W3C bits are not included.
fn flags_for(ctx: &Bound<'_, PyAny>) -> PyResult<u32> {
    let py = ctx.py();
    let remote = !ctx.is_none() && ctx.getattr(intern!(py, "is_remote"))?.is_truthy()?;
    Ok(FLAG_HAS_IS_REMOTE | if remote { FLAG_IS_REMOTE } else { 0 })
}

fn trace_state(ctx: &Bound<'_, PyAny>) -> PyResult<String> {
    let py = ctx.py();
    let ts = ctx.getattr(intern!(py, "trace_state"))?;
    if ts.is_none() {
        return Ok(String::new());
    }
    let mut out = String::new();
    for item in ts.call_method0(intern!(py, "items"))?.try_iter()? {
        let (k, v): (String, String) = item?.extract()?;
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&k);
        out.push('=');
        out.push_str(&v);
    }
    Ok(out)
}

/// Resources and scopes are grouped with Python's own `==`/`hash`, through dicts, as
/// upstream does with nested `defaultdict`s: scopes are keyed per resource, and the
/// first object seen for a key is the one encoded.
struct Groups<'py> {
    resources: Bound<'py, PyDict>,
    resource_arcs: Vec<Arc<Resource>>,
    /// Per resource: scope object -> index into `scope_arcs`.
    scopes: Vec<Bound<'py, PyDict>>,
    scope_arcs: Vec<Arc<Scope>>,
}

impl<'py> Groups<'py> {
    fn new(py: Python<'py>) -> Self {
        Self {
            resources: PyDict::new(py),
            resource_arcs: Vec::new(),
            scopes: Vec::new(),
            scope_arcs: Vec::new(),
        }
    }

    /// The resource's shared value and its index.
    fn resource(&mut self, obj: &Bound<'py, PyAny>) -> PyResult<(Arc<Resource>, usize)> {
        if let Some(i) = self.resources.get_item(obj)? {
            let i = i.extract::<usize>()?;
            return Ok((self.resource_arcs[i].clone(), i));
        }
        let py = obj.py();
        let r = Arc::new(Resource {
            attributes: attrs_within(&obj.getattr(intern!(py, "attributes"))?, 99)?,
            schema_url: opt_string(&obj.getattr(intern!(py, "schema_url"))?)?,
        });
        let i = self.resource_arcs.len();
        self.resources.set_item(obj, i)?;
        self.resource_arcs.push(r.clone());
        self.scopes.push(PyDict::new(obj.py()));
        Ok((r, i))
    }

    fn scope(&mut self, resource: usize, obj: &Bound<'py, PyAny>) -> PyResult<Arc<Scope>> {
        let scopes = &self.scopes[resource];
        if let Some(i) = scopes.get_item(obj)? {
            return Ok(self.scope_arcs[i.extract::<usize>()?].clone());
        }
        let py = obj.py();
        let s = if obj.is_none() {
            Scope::default()
        } else {
            Scope {
                name: opt_string(&obj.getattr(intern!(py, "name"))?)?,
                version: opt_string(&obj.getattr(intern!(py, "version"))?)?,
                attributes: attrs_within(&obj.getattr(intern!(py, "attributes"))?, 98)?,
                schema_url: opt_string(&obj.getattr(intern!(py, "schema_url"))?)?,
            }
        };
        let s = Arc::new(s);
        scopes.set_item(obj, self.scope_arcs.len())?;
        self.scope_arcs.push(s.clone());
        Ok(s)
    }
}

fn span_data<'py>(span: &Bound<'py, PyAny>, groups: &mut Groups<'py>) -> PyResult<SpanData> {
    let py = span.py();
    let (resource, resource_index) = groups.resource(&span.getattr(intern!(py, "resource"))?)?;
    let scope_obj = span.getattr(intern!(py, "instrumentation_scope"))?;
    // `instrumentation_scope or None`
    let scope_obj = if scope_obj.is_truthy()? {
        scope_obj
    } else {
        py.None().into_bound(py)
    };
    let scope = groups.scope(resource_index, &scope_obj)?;
    let ctx = span.call_method0(intern!(py, "get_span_context"))?;
    let mut d = SpanData::new(
        resource,
        scope,
        opt_string(&span.getattr(intern!(py, "name"))?)?,
    );
    d.trace_id = ctx
        .getattr(intern!(py, "trace_id"))?
        .extract::<u128>()?
        .to_be_bytes();
    d.span_id = ctx
        .getattr(intern!(py, "span_id"))?
        .extract::<u64>()?
        .to_be_bytes();
    d.trace_state = trace_state(&ctx)?;
    let parent = span.getattr(intern!(py, "parent"))?;
    if !parent.is_none() {
        d.parent_span_id = Some(
            parent
                .getattr(intern!(py, "span_id"))?
                .extract::<u64>()?
                .to_be_bytes(),
        );
    }
    d.flags = flags_for(&parent)?;
    let kind: i32 = span
        .getattr(intern!(py, "kind"))?
        .getattr(intern!(py, "value"))?
        .extract()?;
    d.kind = SpanKind::from_wire(kind + 1)
        .filter(|k| *k != SpanKind::Unspecified)
        .ok_or_else(|| {
            PyTypeError::new_err(format!(
                "span kind {kind} is not an opentelemetry.trace.SpanKind"
            ))
        })?;
    d.start_time_unix_nano = opt_u64(&span.getattr(intern!(py, "start_time"))?)?;
    d.end_time_unix_nano = opt_u64(&span.getattr(intern!(py, "end_time"))?)?;
    d.attributes = attrs_within(&span.getattr(intern!(py, "attributes"))?, 98)?;
    d.dropped_attributes_count = span.getattr(intern!(py, "dropped_attributes"))?.extract()?;
    for event in span.getattr(intern!(py, "events"))?.try_iter()? {
        let event = event?;
        d.events.push(Event {
            time_unix_nano: opt_u64(&event.getattr(intern!(py, "timestamp"))?)?,
            name: opt_string(&event.getattr(intern!(py, "name"))?)?,
            attributes: attrs_within(&event.getattr(intern!(py, "attributes"))?, 97)?,
            dropped_attributes_count: event
                .getattr(intern!(py, "dropped_attributes"))?
                .extract()?,
        });
    }
    d.dropped_events_count = span.getattr(intern!(py, "dropped_events"))?.extract()?;
    for link in span.getattr(intern!(py, "links"))?.try_iter()? {
        let link = link?;
        let lctx = link.getattr(intern!(py, "context"))?;
        d.links.push(Link {
            trace_id: lctx
                .getattr(intern!(py, "trace_id"))?
                .extract::<u128>()?
                .to_be_bytes(),
            span_id: lctx
                .getattr(intern!(py, "span_id"))?
                .extract::<u64>()?
                .to_be_bytes(),
            // Upstream does not encode a link's trace_state.
            trace_state: String::new(),
            attributes: attrs_within(&link.getattr(intern!(py, "attributes"))?, 97)?,
            dropped_attributes_count: link.getattr(intern!(py, "dropped_attributes"))?.extract()?,
            flags: flags_for(&lctx)?,
        });
    }
    d.dropped_links_count = span.getattr(intern!(py, "dropped_links"))?.extract()?;
    let status = span.getattr(intern!(py, "status"))?;
    d.status = if status.is_none() {
        None
    } else {
        let code: i32 = status
            .getattr(intern!(py, "status_code"))?
            .getattr(intern!(py, "value"))?
            .extract()?;
        Some(Status {
            code: StatusCode::from_wire(code).unwrap_or_default(),
            message: opt_string(&status.getattr(intern!(py, "description"))?)?,
        })
    };
    Ok(d)
}

/// Output format of the `encode_*` functions.
fn is_json(format: &str) -> PyResult<bool> {
    match format {
        "protobuf" => Ok(false),
        "json" => Ok(true),
        other => Err(PyValueError::new_err(format!(
            "`format` must be 'protobuf' or 'json'; got {other:?}"
        ))),
    }
}

/// Encode SDK `ReadableSpan`s as an `ExportTraceServiceRequest`, byte-identical to
/// `trace_encoder.encode_spans(spans).SerializeToString()` (or as OTLP/JSON).
#[pyfunction]
#[pyo3(signature = (spans, format = "protobuf"))]
pub fn encode_spans<'py>(
    py: Python<'py>,
    spans: &Bound<'py, PyAny>,
    format: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    guard(|| encode_spans_now(py, spans, format))
}

fn encode_spans_now<'py>(
    py: Python<'py>,
    spans: &Bound<'py, PyAny>,
    format: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let json = is_json(format)?;
    let mut groups = Groups::new(py);
    let mut data = Vec::new();
    for span in spans.try_iter()? {
        data.push(span_data(&span?, &mut groups)?);
    }
    if json {
        let mut out = Vec::new();
        encode_traces_json(&data, &mut out);
        return Ok(PyBytes::new(py, &out));
    }
    let request = TraceRequest::new(&data);
    PyBytes::new_with(py, request.len(), |buf| {
        let mut out = Vec::with_capacity(request.len());
        request.write(&mut out);
        buf.copy_from_slice(&out);
        Ok(())
    })
}

// --- metrics ---------------------------------------------------------------------

/// The SDK's metric data classes, in the order upstream tests them.
struct MetricClasses<'py> {
    gauge: Bound<'py, PyAny>,
    histogram: Bound<'py, PyAny>,
    sum: Bound<'py, PyAny>,
    exp_histogram: Bound<'py, PyAny>,
}

fn number(obj: &Bound<'_, PyAny>) -> PyResult<Number> {
    // `isinstance(value, int)` (bools included) is as_int; anything else is as_double.
    if obj.is_instance_of::<PyInt>() {
        no_bool(obj)?;
        Ok(Number::Int(obj.extract::<i64>()?))
    } else {
        Ok(Number::Double(obj.extract::<f64>()?))
    }
}

/// A protobuf scalar as upstream sets it through a constructor: None is unset.
fn opt_int<T: Default + for<'a, 'py> FromPyObject<'a, 'py>>(obj: &Bound<'_, PyAny>) -> PyResult<T> {
    if obj.is_none() {
        Ok(T::default())
    } else {
        obj.extract().map_err(Into::into)
    }
}

fn opt_f64(obj: &Bound<'_, PyAny>) -> PyResult<Option<f64>> {
    if obj.is_none() {
        Ok(None)
    } else {
        Ok(Some(obj.extract()?))
    }
}

fn exemplars(obj: &Bound<'_, PyAny>) -> PyResult<Vec<Exemplar>> {
    let py = obj.py();
    let mut out = Vec::new();
    if obj.is_none() {
        return Ok(out);
    }
    for e in obj.try_iter()? {
        let e = e?;
        let span_id = e.getattr(intern!(py, "span_id"))?;
        let trace_id = e.getattr(intern!(py, "trace_id"))?;
        let ids = if !span_id.is_none() && !trace_id.is_none() {
            Some((
                trace_id.extract::<u128>()?.to_be_bytes(),
                span_id.extract::<u64>()?.to_be_bytes(),
            ))
        } else {
            None
        };
        let value = e.getattr(intern!(py, "value"))?;
        let value = if value.is_instance_of::<PyFloat>() {
            Number::Double(value.extract()?)
        } else if value.is_instance_of::<PyInt>() {
            no_bool(&value)?;
            Number::Int(value.extract()?)
        } else {
            return Err(PyValueError::new_err(
                "Exemplar value must be an int or float",
            ));
        };
        out.push(Exemplar {
            filtered_attributes: attrs(&e.getattr(intern!(py, "filtered_attributes"))?)?,
            time_unix_nano: opt_u64(&e.getattr(intern!(py, "time_unix_nano"))?)?,
            value,
            ids,
        });
    }
    Ok(out)
}

fn temporality(data: &Bound<'_, PyAny>) -> PyResult<Temporality> {
    let v: i32 = data
        .getattr(intern!(data.py(), "aggregation_temporality"))?
        .extract()?;
    Ok(match v {
        0 => Temporality::Unspecified,
        1 => Temporality::Delta,
        2 => Temporality::Cumulative,
        v => Temporality::Other(v),
    })
}

fn number_points(data: &Bound<'_, PyAny>) -> PyResult<Vec<NumberPoint>> {
    let py = data.py();
    let mut out = Vec::new();
    for p in data.getattr(intern!(py, "data_points"))?.try_iter()? {
        let p = p?;
        out.push(NumberPoint {
            attributes: attrs(&p.getattr(intern!(py, "attributes"))?)?,
            start_time_unix_nano: match p.getattr(intern!(py, "start_time_unix_nano")) {
                Ok(t) => opt_u64(&t)?,
                Err(_) => 0,
            },
            time_unix_nano: opt_u64(&p.getattr(intern!(py, "time_unix_nano"))?)?,
            value: number(&p.getattr(intern!(py, "value"))?)?,
            exemplars: exemplars(&p.getattr(intern!(py, "exemplars"))?)?,
            flags: 0,
        });
    }
    Ok(out)
}

fn u64_list(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u64>> {
    if obj.is_none() {
        return Ok(Vec::new());
    }
    obj.try_iter()?.map(|v| v?.extract()).collect()
}

fn f64_list(obj: &Bound<'_, PyAny>) -> PyResult<Vec<f64>> {
    if obj.is_none() {
        return Ok(Vec::new());
    }
    obj.try_iter()?.map(|v| v?.extract()).collect()
}

fn buckets(obj: &Bound<'_, PyAny>) -> PyResult<Option<Buckets>> {
    let py = obj.py();
    let counts = u64_list(&obj.getattr(intern!(py, "bucket_counts"))?)?;
    if counts.is_empty() {
        return Ok(None);
    }
    Ok(Some(Buckets {
        offset: opt_int(&obj.getattr(intern!(py, "offset"))?)?,
        bucket_counts: counts,
    }))
}

fn metric_data(
    data: &Bound<'_, PyAny>,
    classes: &MetricClasses<'_>,
) -> PyResult<Option<MetricData>> {
    let py = data.py();
    let known = [
        &classes.gauge,
        &classes.histogram,
        &classes.sum,
        &classes.exp_histogram,
    ];
    if !known
        .iter()
        .try_fold(false, |any, c| Ok::<_, PyErr>(any || data.is_instance(c)?))?
    {
        // Upstream logs "unsupported data type" and writes the metric without data.
        return Ok(None);
    }
    let points = data.getattr(intern!(py, "data_points"))?;
    // Upstream sets the data message inside its per-point loop.
    if !points.is_truthy()? {
        return Ok(None);
    }
    let data = if data.is_instance(&classes.gauge)? {
        MetricData::Gauge(number_points(data)?)
    } else if data.is_instance(&classes.histogram)? {
        let mut out = Vec::new();
        for p in points.try_iter()? {
            let p = p?;
            out.push(HistogramPoint {
                attributes: attrs(&p.getattr(intern!(py, "attributes"))?)?,
                start_time_unix_nano: opt_u64(&p.getattr(intern!(py, "start_time_unix_nano"))?)?,
                time_unix_nano: opt_u64(&p.getattr(intern!(py, "time_unix_nano"))?)?,
                count: opt_u64(&p.getattr(intern!(py, "count"))?)?,
                sum: opt_f64(&p.getattr(intern!(py, "sum"))?)?,
                bucket_counts: u64_list(&p.getattr(intern!(py, "bucket_counts"))?)?,
                explicit_bounds: f64_list(&p.getattr(intern!(py, "explicit_bounds"))?)?,
                exemplars: exemplars(&p.getattr(intern!(py, "exemplars"))?)?,
                flags: 0,
                min: opt_f64(&p.getattr(intern!(py, "min"))?)?,
                max: opt_f64(&p.getattr(intern!(py, "max"))?)?,
            });
        }
        MetricData::Histogram {
            points: out,
            temporality: temporality(data)?,
        }
    } else if data.is_instance(&classes.sum)? {
        MetricData::Sum {
            points: number_points(data)?,
            temporality: temporality(data)?,
            monotonic: {
                // Assigned to a bool field: None and non-numbers make upstream raise.
                let m = data.getattr(intern!(py, "is_monotonic"))?;
                if !(m.is_instance_of::<PyBool>() || m.is_instance_of::<PyInt>()) {
                    return Err(PyTypeError::new_err(format!(
                        "is_monotonic must be a bool; got {}",
                        m.repr()?
                    )));
                }
                m.is_truthy()?
            },
        }
    } else if data.is_instance(&classes.exp_histogram)? {
        let mut out = Vec::new();
        for p in points.try_iter()? {
            let p = p?;
            out.push(ExponentialHistogramPoint {
                attributes: attrs(&p.getattr(intern!(py, "attributes"))?)?,
                start_time_unix_nano: opt_u64(&p.getattr(intern!(py, "start_time_unix_nano"))?)?,
                time_unix_nano: opt_u64(&p.getattr(intern!(py, "time_unix_nano"))?)?,
                count: opt_u64(&p.getattr(intern!(py, "count"))?)?,
                sum: opt_f64(&p.getattr(intern!(py, "sum"))?)?,
                scale: opt_int(&p.getattr(intern!(py, "scale"))?)?,
                zero_count: opt_u64(&p.getattr(intern!(py, "zero_count"))?)?,
                positive: buckets(&p.getattr(intern!(py, "positive"))?)?,
                negative: buckets(&p.getattr(intern!(py, "negative"))?)?,
                flags: opt_int(&p.getattr(intern!(py, "flags"))?)?,
                exemplars: exemplars(&p.getattr(intern!(py, "exemplars"))?)?,
                min: opt_f64(&p.getattr(intern!(py, "min"))?)?,
                max: opt_f64(&p.getattr(intern!(py, "max"))?)?,
                // Upstream never writes zero_threshold.
                zero_threshold: 0.0,
            });
        }
        MetricData::ExponentialHistogram {
            points: out,
            temporality: temporality(data)?,
        }
    } else {
        // Upstream logs "unsupported data type" and writes the metric without data.
        return Ok(None);
    };
    Ok(Some(data))
}

/// Encode SDK `MetricsData` as an `ExportMetricsServiceRequest`, byte-identical to
/// `metrics_encoder.encode_metrics(data).SerializeToString()`, including its merging of
/// equal resources (the first object's attributes, the last one's scopes) and of
/// equal scopes within a resource (the last one wins, at the first one's place).
#[pyfunction]
#[pyo3(signature = (metrics_data, format = "protobuf"))]
pub fn encode_metrics<'py>(
    py: Python<'py>,
    metrics_data: &Bound<'py, PyAny>,
    format: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    guard(|| encode_metrics_now(py, metrics_data, format))
}

fn encode_metrics_now<'py>(
    py: Python<'py>,
    metrics_data: &Bound<'py, PyAny>,
    format: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let json = is_json(format)?;
    let export = py.import(intern!(py, "opentelemetry.sdk.metrics.export"))?;
    let classes = MetricClasses {
        gauge: export.getattr("Gauge")?,
        histogram: export.getattr("Histogram")?,
        sum: export.getattr("Sum")?,
        exp_histogram: export.getattr("ExponentialHistogram")?,
    };
    let resource_index = PyDict::new(py);
    let mut out: Vec<ResourceMetrics> = Vec::new();
    for rm in metrics_data
        .getattr(intern!(py, "resource_metrics"))?
        .try_iter()?
    {
        let rm = rm?;
        let resource = rm.getattr(intern!(py, "resource"))?;
        let scope_index = PyDict::new(py);
        let mut scopes: Vec<ScopeMetrics> = Vec::new();
        for sm in rm.getattr(intern!(py, "scope_metrics"))?.try_iter()? {
            let sm = sm?;
            let scope_obj = sm.getattr(intern!(py, "scope"))?;
            let scope = Arc::new(Scope {
                name: opt_string(&scope_obj.getattr(intern!(py, "name"))?)?,
                version: opt_string(&scope_obj.getattr(intern!(py, "version"))?)?,
                attributes: attrs(&scope_obj.getattr(intern!(py, "attributes"))?)?,
                schema_url: opt_string(&scope_obj.getattr(intern!(py, "schema_url"))?)?,
            });
            let mut metrics = Vec::new();
            for m in sm.getattr(intern!(py, "metrics"))?.try_iter()? {
                let m = m?;
                metrics.push(Metric {
                    name: opt_string(&m.getattr(intern!(py, "name"))?)?,
                    description: opt_string(&m.getattr(intern!(py, "description"))?)?,
                    unit: opt_string(&m.getattr(intern!(py, "unit"))?)?,
                    data: metric_data(&m.getattr(intern!(py, "data"))?, &classes)?,
                });
            }
            let entry = ScopeMetrics { scope, metrics };
            match scope_index.get_item(&scope_obj)? {
                Some(i) => scopes[i.extract::<usize>()?] = entry,
                None => {
                    scope_index.set_item(&scope_obj, scopes.len())?;
                    scopes.push(entry);
                }
            }
        }
        match resource_index.get_item(&resource)? {
            // The dict keeps its first key (whose attributes are encoded) and takes
            // the new value.
            Some(i) => out[i.extract::<usize>()?].scope_metrics = scopes,
            None => {
                resource_index.set_item(&resource, out.len())?;
                out.push(ResourceMetrics {
                    resource: Arc::new(Resource {
                        attributes: attrs(&resource.getattr(intern!(py, "attributes"))?)?,
                        schema_url: opt_string(&resource.getattr(intern!(py, "schema_url"))?)?,
                    }),
                    scope_metrics: scopes,
                });
            }
        }
    }
    if json {
        let mut buf = Vec::new();
        encode_metrics_json(&out, &mut buf);
        return Ok(PyBytes::new(py, &buf));
    }
    let request = MetricsRequest::new(&out);
    let mut buf = Vec::with_capacity(request.len());
    request.write(&mut buf);
    Ok(PyBytes::new(py, &buf))
}

// --- logs ------------------------------------------------------------------------

fn log_record<'py>(readable: &Bound<'py, PyAny>, groups: &mut Groups<'py>) -> PyResult<LogRecord> {
    let py = readable.py();
    let (resource, resource_index) =
        groups.resource(&readable.getattr(intern!(py, "resource"))?)?;
    let scope_obj = readable.getattr(intern!(py, "instrumentation_scope"))?;
    // `instrumentation_scope or None`
    let scope_obj = if scope_obj.is_truthy()? {
        scope_obj
    } else {
        py.None().into_bound(py)
    };
    let scope = groups.scope(resource_index, &scope_obj)?;
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
    let mut groups = Groups::new(py);
    let mut data = Vec::new();
    for r in records.try_iter()? {
        data.push(log_record(&r?, &mut groups)?);
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
