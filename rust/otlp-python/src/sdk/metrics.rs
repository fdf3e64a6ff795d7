//! SDK `MetricsData` to the model, as upstream's `metrics_encoder` reads it.

use std::sync::Arc;

use otlp::encode::{encode_metrics_json, MetricsRequest};
use otlp::model::{
    Buckets, Exemplar, ExponentialHistogramPoint, HistogramPoint, Metric, MetricData, Number,
    NumberPoint, Resource, ResourceMetrics, Scope, ScopeMetrics, Temporality,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt};

use super::fields::{attrs, is_json, no_bool, opt_int, opt_string, opt_u64};
use crate::errors::guard;

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
    let out = read(py, metrics_data)?;
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

/// `MetricsData` in the model, merged as upstream merges it (see [`encode_metrics`]).
pub fn read(py: Python<'_>, metrics_data: &Bound<'_, PyAny>) -> PyResult<Vec<ResourceMetrics>> {
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
                // The official encoder writes no dropped count for scopes and resources.
                dropped_attributes_count: 0,
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
                    metadata: Vec::new(),
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
                        dropped_attributes_count: 0,
                        schema_url: opt_string(&resource.getattr(intern!(py, "schema_url"))?)?,
                    }),
                    scope_metrics: scopes,
                });
            }
        }
    }
    Ok(out)
}
