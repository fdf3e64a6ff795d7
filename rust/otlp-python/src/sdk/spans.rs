//! SDK spans (`ReadableSpan`) to the model, as upstream's `trace_encoder` reads them.
//!
//! Upstream reads a span through its public properties, several of which build new
//! objects on every call (`attributes` a `MappingProxyType`, `events` and `links`
//! tuples) and iterate `BoundedAttributes` in Python. For the SDK's own classes
//! (exactly them: a subclass may override a property) the private fields those
//! properties read are read directly instead; anything else goes through the public
//! properties. Both give the same values: `tests/test_parity_traces.py` holds them to
//! upstream's bytes, and a probe span checks, once per process, that the SDK in use
//! still keeps its fields where the fast reader looks.

use otlp::encode::{encode_trace_request, encode_traces_json};
use otlp::model::{Event, Link, SpanData, SpanKind, Status, StatusCode};
use otlp::trace::{FLAG_HAS_IS_REMOTE, FLAG_IS_REMOTE};
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple, PyType};

use super::fields::{attrs_within, is_json, opt_string, opt_u64, span_id, trace_id};
use super::groups::Groups;
use crate::errors::guard;

/// The SDK classes whose instances are read through their private fields.
pub struct Classes {
    readable_span: Py<PyType>,
    span_context: Py<PyType>,
    trace_state: Py<PyType>,
    bounded_attributes: Py<PyType>,
    bounded_list: Py<PyType>,
    event: Py<PyType>,
    link: Py<PyType>,
    status: Py<PyType>,
    /// `SpanKind.INTERNAL` .. `CONSUMER`, in wire order.
    kinds: [Py<PyAny>; 5],
    /// `StatusCode.UNSET`, `OK`, `ERROR`, in wire order.
    codes: [Py<PyAny>; 3],
}

static CLASSES: PyOnceLock<Option<Classes>> = PyOnceLock::new();

/// Builds the probe span: every field set, every container of the SDK's own kinds.
const PROBE: &std::ffi::CStr = cr#"
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.span import TraceState
from opentelemetry.trace.status import Status, StatusCode

def context(trace_id, span_id, remote):
    return SpanContext(trace_id, span_id, remote, TraceFlags(1), TraceState([("k", "v")]))

def dropped(container, n):
    container.dropped = n
    return container

events = dropped(BoundedList.from_seq(None, [Event("a", {"x": 1}, 5), Event("b", dropped(BoundedAttributes(attributes={"y": 2}), 1), 6)]), 2)
probe = ReadableSpan(
    "probe",
    context=context(2**100 + 1, 2**60 + 2, False),
    parent=context(2**100 + 1, 3, True),
    resource=Resource({"r": 1}),
    attributes=dropped(BoundedAttributes(attributes={"s": "t", "u": [1, 2], "v": 1.5}, immutable=False), 3),
    events=events,
    links=[Link(context(4, 5, True), dropped(BoundedAttributes(attributes={"l": 1}), 4))],
    kind=SpanKind.CONSUMER,
    status=Status(StatusCode.ERROR, "bad"),
    start_time=7,
    end_time=8,
    instrumentation_scope=InstrumentationScope("s", "1"),
)
"#;

impl Classes {
    /// The SDK's classes once `opentelemetry.sdk.trace` is imported (no SDK span can
    /// exist before), if the probe span reads the same both ways.
    fn get(py: Python<'_>) -> Option<&'static Classes> {
        if let Some(found) = CLASSES.get(py) {
            return found.as_ref();
        }
        let loaded = py
            .import(intern!(py, "sys"))
            .and_then(|sys| sys.getattr(intern!(py, "modules")))
            .and_then(|m| m.contains(intern!(py, "opentelemetry.sdk.trace")))
            .unwrap_or(false);
        if !loaded {
            return None;
        }
        CLASSES
            .get_or_init(py, || Self::load(py).ok().flatten())
            .as_ref()
    }

    fn load(py: Python<'_>) -> PyResult<Option<Classes>> {
        let class = |module: &str, name: &str| -> PyResult<Py<PyType>> {
            Ok(py
                .import(module)?
                .getattr(name)?
                .cast_into::<PyType>()?
                .unbind())
        };
        let members = |module: &str, class: &str, names: &[&str]| -> PyResult<Vec<Py<PyAny>>> {
            let c = py.import(module)?.getattr(class)?;
            names.iter().map(|n| Ok(c.getattr(*n)?.unbind())).collect()
        };
        let kinds = members(
            "opentelemetry.trace",
            "SpanKind",
            &["INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"],
        )?;
        let codes = members(
            "opentelemetry.trace.status",
            "StatusCode",
            &["UNSET", "OK", "ERROR"],
        )?;
        let classes = Classes {
            readable_span: class("opentelemetry.sdk.trace", "ReadableSpan")?,
            span_context: class("opentelemetry.trace.span", "SpanContext")?,
            trace_state: class("opentelemetry.trace.span", "TraceState")?,
            bounded_attributes: class("opentelemetry.attributes", "BoundedAttributes")?,
            bounded_list: class("opentelemetry.sdk.util", "BoundedList")?,
            event: class("opentelemetry.sdk.trace", "Event")?,
            link: class("opentelemetry.trace", "Link")?,
            status: class("opentelemetry.trace.status", "Status")?,
            kinds: kinds
                .try_into()
                .map_err(|_| PyTypeError::new_err("SpanKind"))?,
            codes: codes
                .try_into()
                .map_err(|_| PyTypeError::new_err("StatusCode"))?,
        };
        let globals = PyDict::new(py);
        py.run(PROBE, Some(&globals), None)?;
        let probe = globals
            .get_item("probe")?
            .ok_or_else(|| PyTypeError::new_err("probe"))?;
        let groups = Groups::new();
        let fast = classes.read(&probe, &groups)?;
        let public = read_public(&probe, &groups)?;
        Ok((fast.is_some() && fast == Some(public)).then_some(classes))
    }

    /// `span` read through its private fields; None when it (or a part of it) is not
    /// of the SDK's own classes, for the public properties to read instead.
    fn read<'py>(&self, span: &Bound<'py, PyAny>, groups: &Groups) -> PyResult<Option<SpanData>> {
        let py = span.py();
        if !span.get_type().is(self.readable_span.bind(py)) {
            return Ok(None);
        }
        let get = |name: &Bound<'py, PyString>| span.getattr(name);
        let ctx = get(intern!(py, "_context"))?;
        let parent = get(intern!(py, "_parent"))?;
        let kind = get(intern!(py, "_kind"))?;
        let attributes = get(intern!(py, "_attributes"))?;
        let events = get(intern!(py, "_events"))?;
        let links = get(intern!(py, "_links"))?;
        let status = get(intern!(py, "_status"))?;
        let Some(kind) = self.kinds.iter().position(|k| k.bind(py).is(&kind)) else {
            return Ok(None);
        };
        let context = |c: &Bound<'_, PyAny>| c.get_type().is(self.span_context.bind(py));
        if !context(&ctx) || !(parent.is_none() || context(&parent)) {
            return Ok(None);
        }
        let Some((events, dropped_events)) = self.sequence(&events)? else {
            return Ok(None);
        };
        let Some((links, dropped_links)) = self.sequence(&links)? else {
            return Ok(None);
        };
        let status = if status.is_none() {
            None
        } else if status.get_type().is(self.status.bind(py)) {
            let code = status.getattr(intern!(py, "_status_code"))?;
            let Some(code) = self.codes.iter().position(|c| c.bind(py).is(&code)) else {
                return Ok(None);
            };
            Some(Status {
                code: StatusCode::from_wire(code as i32).unwrap_or_default(),
                message: opt_string(&status.getattr(intern!(py, "_description"))?)?,
            })
        } else {
            return Ok(None);
        };

        let (resource, scope) = groups.get(
            &get(intern!(py, "_resource"))?,
            &get(intern!(py, "_instrumentation_scope"))?,
        )?;
        let ctx = ctx.cast_into::<PyTuple>()?;
        let mut d = SpanData::new(resource, scope, opt_string(&get(intern!(py, "_name"))?)?);
        d.trace_id = trace_id(&ctx.get_item(0)?)?;
        d.span_id = span_id(&ctx.get_item(1)?)?;
        d.trace_state = self.trace_state(&ctx.get_item(4)?)?;
        d.flags = FLAG_HAS_IS_REMOTE;
        if !parent.is_none() {
            let parent = parent.cast_into::<PyTuple>()?;
            d.parent_span_id = Some(span_id(&parent.get_item(1)?)?);
            if parent.get_item(2)?.is_truthy()? {
                d.flags |= FLAG_IS_REMOTE;
            }
        }
        d.kind = SpanKind::from_wire(kind as i32 + 1).unwrap_or_default();
        d.start_time_unix_nano = opt_u64(&get(intern!(py, "_start_time"))?)?;
        d.end_time_unix_nano = opt_u64(&get(intern!(py, "_end_time"))?)?;
        (d.attributes, d.dropped_attributes_count) = self.attributes(&attributes, 98)?;
        // Most spans have no events or links: no iterator is made for them (it would
        // be a tracked object, and its allocations would bring the garbage collector
        // round sooner).
        let events = if events.is_truthy()? {
            Some(events.try_iter()?)
        } else {
            None
        };
        for event in events.into_iter().flatten() {
            let event = event?;
            d.events.push(if event.get_type().is(self.event.bind(py)) {
                let (attributes, dropped) =
                    self.attributes(&event.getattr(intern!(py, "_attributes"))?, 97)?;
                Event {
                    time_unix_nano: opt_u64(&event.getattr(intern!(py, "_timestamp"))?)?,
                    name: opt_string(&event.getattr(intern!(py, "_name"))?)?,
                    attributes,
                    dropped_attributes_count: dropped,
                }
            } else {
                event_public(&event)?
            });
        }
        d.dropped_events_count = dropped_events;
        let links = if links.is_truthy()? {
            Some(links.try_iter()?)
        } else {
            None
        };
        for link in links.into_iter().flatten() {
            let link = link?;
            let lctx = if link.get_type().is(self.link.bind(py)) {
                Some(link.getattr(intern!(py, "_context"))?).filter(&context)
            } else {
                None
            };
            d.links.push(if let Some(lctx) = lctx {
                let lctx = lctx.cast_into::<PyTuple>()?;
                let (attributes, dropped) =
                    self.attributes(&link.getattr(intern!(py, "_attributes"))?, 97)?;
                Link {
                    trace_id: trace_id(&lctx.get_item(0)?)?,
                    span_id: span_id(&lctx.get_item(1)?)?,
                    // Upstream does not encode a link's trace_state.
                    trace_state: String::new(),
                    attributes,
                    dropped_attributes_count: dropped,
                    flags: FLAG_HAS_IS_REMOTE
                        | if lctx.get_item(2)?.is_truthy()? {
                            FLAG_IS_REMOTE
                        } else {
                            0
                        },
                }
            } else {
                link_public(&link)?
            });
        }
        d.dropped_links_count = dropped_links;
        d.status = status;
        Ok(Some(d))
    }

    /// Events or links as the `events` / `links` properties see them (`tuple(x)`), with
    /// their `dropped_*` count; None for a container of another kind.
    fn sequence<'py>(
        &self,
        items: &Bound<'py, PyAny>,
    ) -> PyResult<Option<(Bound<'py, PyAny>, u32)>> {
        let py = items.py();
        if items.get_type().is(self.bounded_list.bind(py)) {
            let dropped = items.getattr(intern!(py, "dropped"))?.extract()?;
            return Ok(Some((items.getattr(intern!(py, "_dq"))?, dropped)));
        }
        if items.is_exact_instance_of::<PyTuple>() || items.is_exact_instance_of::<PyList>() {
            return Ok(Some((items.clone(), 0)));
        }
        Ok(None)
    }

    /// Attributes and their `dropped_attributes`, as the public properties give them
    /// (`BoundedAttributes` counts what it dropped; anything else has dropped none).
    fn attributes(
        &self,
        obj: &Bound<'_, PyAny>,
        raise_from: u32,
    ) -> PyResult<(Vec<otlp::model::KeyValue>, u32)> {
        let py = obj.py();
        if obj.get_type().is(self.bounded_attributes.bind(py)) {
            let dropped = obj.getattr(intern!(py, "dropped"))?.extract()?;
            let inner = obj.getattr(intern!(py, "_dict"))?;
            let from = if inner.is_exact_instance_of::<PyDict>() {
                &inner
            } else {
                obj
            };
            return Ok((attrs_within(from, raise_from)?, dropped));
        }
        let dropped = if obj.is_instance(self.bounded_attributes.bind(py))? {
            obj.getattr(intern!(py, "dropped"))?.extract()?
        } else {
            0
        };
        Ok((attrs_within(obj, raise_from)?, dropped))
    }

    /// Upstream's `",".join(f"{key}={value}" for key, value in trace_state.items())`.
    fn trace_state(&self, ts: &Bound<'_, PyAny>) -> PyResult<String> {
        let py = ts.py();
        if ts.get_type().is(self.trace_state.bind(py)) {
            let inner = ts.getattr(intern!(py, "_dict"))?;
            if let Ok(d) = inner.cast::<PyDict>() {
                if d.is_empty() {
                    return Ok(String::new());
                }
            }
        }
        trace_state_public(ts)
    }
}

/// `remote` flags as upstream's `_span_flags`: the W3C bits are not included.
fn flags_for(ctx: &Bound<'_, PyAny>) -> PyResult<u32> {
    let py = ctx.py();
    let remote = !ctx.is_none() && ctx.getattr(intern!(py, "is_remote"))?.is_truthy()?;
    Ok(FLAG_HAS_IS_REMOTE | if remote { FLAG_IS_REMOTE } else { 0 })
}

fn trace_state_public(ts: &Bound<'_, PyAny>) -> PyResult<String> {
    let py = ts.py();
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

fn event_public(event: &Bound<'_, PyAny>) -> PyResult<Event> {
    let py = event.py();
    Ok(Event {
        time_unix_nano: opt_u64(&event.getattr(intern!(py, "timestamp"))?)?,
        name: opt_string(&event.getattr(intern!(py, "name"))?)?,
        attributes: attrs_within(&event.getattr(intern!(py, "attributes"))?, 97)?,
        dropped_attributes_count: event
            .getattr(intern!(py, "dropped_attributes"))?
            .extract()?,
    })
}

fn link_public(link: &Bound<'_, PyAny>) -> PyResult<Link> {
    let py = link.py();
    let lctx = link.getattr(intern!(py, "context"))?;
    Ok(Link {
        trace_id: trace_id(&lctx.getattr(intern!(py, "trace_id"))?)?,
        span_id: span_id(&lctx.getattr(intern!(py, "span_id"))?)?,
        // Upstream does not encode a link's trace_state.
        trace_state: String::new(),
        attributes: attrs_within(&link.getattr(intern!(py, "attributes"))?, 97)?,
        dropped_attributes_count: link.getattr(intern!(py, "dropped_attributes"))?.extract()?,
        flags: flags_for(&lctx)?,
    })
}

/// A span read through its public properties, as upstream reads it.
fn read_public(span: &Bound<'_, PyAny>, groups: &Groups) -> PyResult<SpanData> {
    let py = span.py();
    let (resource, scope) = groups.get(
        &span.getattr(intern!(py, "resource"))?,
        &span.getattr(intern!(py, "instrumentation_scope"))?,
    )?;
    let ctx = span.call_method0(intern!(py, "get_span_context"))?;
    let mut d = SpanData::new(
        resource,
        scope,
        opt_string(&span.getattr(intern!(py, "name"))?)?,
    );
    d.trace_id = trace_id(&ctx.getattr(intern!(py, "trace_id"))?)?;
    d.span_id = span_id(&ctx.getattr(intern!(py, "span_id"))?)?;
    d.trace_state = trace_state_public(&ctx.getattr(intern!(py, "trace_state"))?)?;
    let parent = span.getattr(intern!(py, "parent"))?;
    if !parent.is_none() {
        d.parent_span_id = Some(span_id(&parent.getattr(intern!(py, "span_id"))?)?);
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
        d.events.push(event_public(&event?)?);
    }
    d.dropped_events_count = span.getattr(intern!(py, "dropped_events"))?.extract()?;
    for link in span.getattr(intern!(py, "links"))?.try_iter()? {
        d.links.push(link_public(&link?)?);
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

/// Converts SDK spans into the model.
pub struct SpanReader {
    classes: Option<&'static Classes>,
}

impl SpanReader {
    pub fn new(py: Python<'_>) -> Self {
        Self {
            classes: Classes::get(py),
        }
    }

    /// One span, with its resource and scope shared through `groups`.
    pub fn read(&self, span: &Bound<'_, PyAny>, groups: &Groups) -> PyResult<SpanData> {
        if let Some(classes) = self.classes {
            if let Some(d) = classes.read(span, groups)? {
                return Ok(d);
            }
        }
        read_public(span, groups)
    }

    /// Whether `span` is sampled, as the SDK's batch processor decides:
    /// `span.context and span.context.trace_flags.sampled`.
    pub fn sampled(&self, span: &Bound<'_, PyAny>) -> PyResult<bool> {
        let py = span.py();
        if let Some(classes) = self.classes {
            if span.get_type().is(classes.readable_span.bind(py)) {
                let ctx = span.getattr(intern!(py, "_context"))?;
                if ctx.get_type().is(classes.span_context.bind(py)) {
                    let flags = ctx.cast_into::<PyTuple>()?.get_item(3)?;
                    if let Ok(flags) = flags.extract::<u8>() {
                        return Ok(flags & 1 == 1);
                    }
                }
            }
        }
        let ctx = span.getattr(intern!(py, "context"))?;
        if !ctx.is_truthy()? {
            return Ok(false);
        }
        ctx.getattr(intern!(py, "trace_flags"))?
            .getattr(intern!(py, "sampled"))?
            .is_truthy()
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
    let reader = SpanReader::new(py);
    let groups = Groups::new();
    let mut data = Vec::with_capacity(spans.len().unwrap_or(0));
    for span in spans.try_iter()? {
        data.push(reader.read(&span?, &groups)?);
    }
    if json {
        let mut out = Vec::new();
        encode_traces_json(&data, &mut out);
        return Ok(PyBytes::new(py, &out));
    }
    let mut out = Vec::new();
    encode_trace_request(&data, &mut out);
    Ok(PyBytes::new(py, &out))
}
