//! Spans: how one starts from its parent (and whether it is sampled), what it keeps
//! while it runs (within its tracer's limits), and how it ends (the OpenTelemetry trace
//! SDK's rules).

use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::exception::Exception;
use crate::export::{Exporter, Policy, Verdict};
use crate::ids::{new_span_id, new_trace_id, now_unix_nano};
use crate::limits::{self, SpanLimits};
use crate::model::{
    AnyValue, Event, KeyValue, Link, Scope, SpanData, SpanId, SpanKind, Status, StatusCode, Text,
    TraceId,
};
use crate::sampling::Sampler;

/// OTLP span and link `flags` bit: whether the parent (or linked) span is remote is
/// known (bit 8).
pub const FLAG_HAS_IS_REMOTE: u32 = 0x100;

/// OTLP span and link `flags` bit: the parent (or linked) span is remote (bit 9).
pub const FLAG_IS_REMOTE: u32 = 0x200;

/// W3C trace flags: sampled.
pub const SAMPLED: u8 = 0x01;

/// W3C trace flags (Trace Context Level 2): the trace id's lower 56 bits are random,
/// as the trace ids started here are. Children keep their parent's.
pub const RANDOM_TRACE_ID: u8 = 0x02;

/// The OTLP `flags` bits saying whether a parent or linked span is remote.
pub fn remote_flags(is_remote: bool) -> u32 {
    FLAG_HAS_IS_REMOTE | if is_remote { FLAG_IS_REMOTE } else { 0 }
}

/// The identity of a span, as propagated within and between processes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SpanContext {
    /// 16 bytes, big-endian; all zero is invalid.
    pub trace_id: TraceId,
    /// 8 bytes, big-endian; all zero is invalid.
    pub span_id: SpanId,
    /// W3C trace flags (bit 0: sampled).
    pub trace_flags: u8,
    /// Whether the context came from another process.
    pub is_remote: bool,
    /// W3C `tracestate` (`k=v,k2=v2`), empty when none.
    pub trace_state: String,
}

impl SpanContext {
    /// Whether both ids are non-zero.
    pub fn is_valid(&self) -> bool {
        self.trace_id != [0; 16] && self.span_id != [0; 8]
    }

    /// The trace id as 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> String {
        format!("{:032x}", u128::from_be_bytes(self.trace_id))
    }

    /// The span id as 16 lowercase hex digits.
    pub fn span_id_hex(&self) -> String {
        format!("{:016x}", u64::from_be_bytes(self.span_id))
    }

    /// The OTLP `flags` of a span with this parent, or of a link to this context: the
    /// W3C trace flags and whether it is remote.
    pub fn flags(&self) -> u32 {
        u32::from(self.trace_flags) | remote_flags(self.is_remote)
    }
}

/// How a tracer writes the OTLP `flags` of its spans and links.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FlagsRule {
    /// The W3C trace flags of the span (of the linked span, for a link) in bits 0-7,
    /// and whether its parent (the linked span) is remote in bits 8-9.
    #[default]
    TraceFlags,
    /// Only bits 8-9, as the OpenTelemetry Python SDK writes them: the OpenTelemetry
    /// API's spans are exported exactly as that SDK would export them.
    RemoteOnly,
}

/// Starts spans for one instrumentation scope of an exporter.
pub struct Tracer {
    /// Where ended spans go.
    pub exporter: Arc<Exporter>,
    /// The scope every span of this tracer carries.
    pub scope: Arc<Scope>,
    /// Which spans are recorded and exported.
    pub sampler: Sampler,
    /// How much each span keeps.
    pub limits: SpanLimits,
    /// How spans' and links' `flags` are written.
    pub flags: FlagsRule,
}

impl Tracer {
    /// A tracer of `exporter` for `scope` (see [`Exporter::scope`]), with the default
    /// sampler (`parentbased_always_on`), limits and flags.
    pub fn new(exporter: Arc<Exporter>, scope: Arc<Scope>) -> Self {
        Self {
            exporter,
            scope,
            sampler: Sampler::default(),
            limits: SpanLimits::DEFAULT,
            flags: FlagsRule::default(),
        }
    }

    /// What happens to bad values and calls after shutdown.
    pub fn policy(&self) -> &Policy {
        self.exporter.policy()
    }

    fn flags_of(&self, trace_flags: u8, remote: Option<bool>) -> u32 {
        let remote = remote.map_or(FLAG_HAS_IS_REMOTE, remote_flags);
        match self.flags {
            FlagsRule::TraceFlags => u32::from(trace_flags) | remote,
            FlagsRule::RemoteOnly => remote,
        }
    }

    /// Start a span named `name` under `parent` (a new trace when there is no valid
    /// parent), at `start_time` (nanoseconds since the epoch; default now).
    ///
    /// A span the sampler drops records nothing and costs little; it has its own span
    /// id in its parent's trace (or a new one) without the sampled flag, so that its
    /// context still propagates. Once the exporter is shut down the span records
    /// nothing either, and keeps its parent's flags; the [`Policy::late`] verdict on
    /// such a call comes with it, for the caller to report or raise.
    pub fn start(
        self: &Arc<Self>,
        name: impl Into<Text>,
        kind: SpanKind,
        parent: Option<&SpanContext>,
        start_time: Option<u64>,
    ) -> (Arc<Span>, Option<Verdict>) {
        let started = self.start_with(name, kind, parent, start_time, || {
            Ok::<_, Infallible>(Vec::new())
        });
        match started {
            Ok(started) => started,
            Err(never) => match never {},
        }
    }

    /// [`Self::start`], with the span's first attributes from `attributes`, which is
    /// called only when the span records, and before the span is shared: they are set
    /// (as [`Span::set_attributes`] sets them) without taking the span's lock. An error
    /// from `attributes` is returned, and the span is dropped unexported.
    pub fn start_with<E>(
        self: &Arc<Self>,
        name: impl Into<Text>,
        kind: SpanKind,
        parent: Option<&SpanContext>,
        start_time: Option<u64>,
        attributes: impl FnOnce() -> Result<Vec<KeyValue>, E>,
    ) -> Result<(Arc<Span>, Option<Verdict>), E> {
        let tracer = self.clone();
        let parent = parent.filter(|p| p.is_valid());
        let (trace_id, random, trace_state) = match parent {
            Some(p) => (
                p.trace_id,
                p.trace_flags & RANDOM_TRACE_ID,
                p.trace_state.clone(),
            ),
            None => (new_trace_id(), RANDOM_TRACE_ID, String::new()),
        };
        let mut context = SpanContext {
            trace_id,
            span_id: new_span_id(),
            trace_flags: random,
            is_remote: false,
            trace_state,
        };
        if let Some(verdict) = self.policy().late() {
            context.trace_flags = parent.map_or(random, |p| p.trace_flags);
            return Ok((Self::span(tracer, context, kind, None), Some(verdict)));
        }
        if !self.sampler.should_sample(parent, &trace_id) {
            return Ok((Self::span(tracer, context, kind, None), None));
        }
        context.trace_flags |= SAMPLED;
        // Made in its box and filled in there: a span's data is a few hundred bytes,
        // and moving it into the box afterwards cost a copy per span.
        let mut data = Box::new(SpanData::new(
            self.exporter.resource().clone(),
            self.scope.clone(),
            name.into(),
        ));
        data.kind = kind;
        data.trace_id = trace_id;
        data.span_id = context.span_id;
        data.trace_state = context.trace_state.clone();
        data.parent_span_id = parent.map(|p| p.span_id);
        data.flags = self.flags_of(context.trace_flags, parent.map(|p| p.is_remote));
        data.start_time_unix_nano = start_time.unwrap_or_else(now_unix_nano);
        let first = attributes()?;
        if !first.is_empty() {
            let d = &mut *data;
            let limits = &self.limits.attributes;
            limits.set_all(&mut d.attributes, &mut d.dropped_attributes_count, first);
        }
        // The span goes straight into its `Arc`: moving a finished `Span` into one
        // (and through the callers) cost a copy of ~100 bytes per span, read back
        // wider than it was written.
        Ok((Self::span(tracer, context, kind, Some(data)), None))
    }

    fn span(
        tracer: Arc<Self>,
        context: SpanContext,
        kind: SpanKind,
        data: Option<Box<SpanData>>,
    ) -> Arc<Span> {
        Arc::new(Span {
            context,
            kind,
            tracer,
            data: Mutex::new(data),
        })
    }

    /// A link to `target` carrying `attributes` (within the link limits), or `None`
    /// when it would say nothing: an invalid context without attributes or trace
    /// state (the SDK's rule).
    pub fn link(&self, target: &SpanContext, mut attributes: Vec<KeyValue>) -> Option<Link> {
        if !target.is_valid() && attributes.is_empty() && target.trace_state.is_empty() {
            return None;
        }
        let dropped_attributes_count = self.limits.link_attributes.apply(&mut attributes);
        Some(Link {
            trace_id: target.trace_id,
            span_id: target.span_id,
            trace_state: target.trace_state.clone(),
            attributes,
            dropped_attributes_count,
            flags: self.flags_of(target.trace_flags, Some(target.is_remote)),
        })
    }
}

/// A span in progress, shared between threads. Every change is ignored once the span
/// has ended (or when it never recorded).
pub struct Span {
    context: SpanContext,
    /// Kept apart from the data, which is gone once the span ends.
    kind: SpanKind,
    tracer: Arc<Tracer>,
    /// `None` once ended, or for a span that records nothing.
    data: Mutex<Option<Box<SpanData>>>,
}

impl Span {
    /// This span's identity.
    pub fn context(&self) -> &SpanContext {
        &self.context
    }

    /// The kind it was started with, also once it has ended or if it records nothing.
    pub fn kind(&self) -> SpanKind {
        self.kind
    }

    /// The tracer that started it.
    pub fn tracer(&self) -> &Arc<Tracer> {
        &self.tracer
    }

    fn lock(&self) -> MutexGuard<'_, Option<Box<SpanData>>> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Run `f` on the span's data if it is still recording.
    fn with_data(&self, f: impl FnOnce(&mut SpanData)) {
        if let Some(data) = self.lock().as_deref_mut() {
            f(data);
        }
    }

    /// Whether the span records changes (it was sampled and has not ended).
    pub fn is_recording(&self) -> bool {
        self.lock().is_some()
    }

    /// Its name while it records.
    pub fn name(&self) -> Option<String> {
        self.lock().as_ref().map(|d| d.name.to_string())
    }

    /// Rename the span.
    pub fn update_name(&self, name: impl Into<Text>) {
        let name = name.into();
        self.with_data(|d| d.name = name);
    }

    /// Set one attribute, replacing the value of an attribute with the same key.
    pub fn set_attribute(&self, key: impl Into<Text>, value: AnyValue) {
        let key = key.into();
        let limits = &self.tracer.limits.attributes;
        self.with_data(|d| {
            limits.set(
                &mut d.attributes,
                &mut d.dropped_attributes_count,
                key,
                value,
            )
        });
    }

    /// Set several attributes, in order (as [`Self::set_attribute`] each).
    pub fn set_attributes(&self, attributes: Vec<KeyValue>) {
        let limits = &self.tracer.limits.attributes;
        self.with_data(|d| {
            limits.set_all(
                &mut d.attributes,
                &mut d.dropped_attributes_count,
                attributes,
            )
        });
    }

    /// Record an event at `time` (nanoseconds since the epoch; default now).
    pub fn add_event(&self, name: String, mut attributes: Vec<KeyValue>, time: Option<u64>) {
        let dropped_attributes_count = self.tracer.limits.event_attributes.apply(&mut attributes);
        self.push_event(Event {
            time_unix_nano: time.unwrap_or_else(now_unix_nano),
            name,
            attributes,
            dropped_attributes_count,
        });
    }

    fn push_event(&self, event: Event) {
        let limit = self.tracer.limits.events;
        self.with_data(|d| limits::push(&mut d.events, &mut d.dropped_events_count, limit, event));
    }

    /// Link this span to `target` (see [`Tracer::link`]).
    pub fn add_link(&self, target: &SpanContext, attributes: Vec<KeyValue>) {
        let Some(link) = self.tracer.link(target, attributes) else {
            return;
        };
        let limit = self.tracer.limits.links;
        self.with_data(|d| limits::push(&mut d.links, &mut d.dropped_links_count, limit, link));
    }

    /// Set the status. UNSET is ignored and OK is final (the specification's rules); a
    /// description is kept only with ERROR.
    pub fn set_status(&self, code: StatusCode, description: Option<String>) {
        if code == StatusCode::Unset {
            return;
        }
        self.with_data(|d| {
            if d.status.as_ref().is_some_and(|s| s.code == StatusCode::Ok) {
                return;
            }
            let message = match code {
                StatusCode::Error => description.unwrap_or_default(),
                _ => String::new(),
            };
            d.status = Some(Status { code, message });
        });
    }

    /// Record `exception` as an `exception` event at `time` (default now); `attributes`
    /// add to (or replace) the `exception.*` ones. The status is left alone.
    pub fn record_exception(
        &self,
        exception: Exception,
        attributes: Vec<KeyValue>,
        time: Option<u64>,
    ) {
        let limits = &self.tracer.limits.event_attributes;
        let mut attrs = exception.into_attributes();
        let mut dropped = limits.apply(&mut attrs);
        limits.set_all(&mut attrs, &mut dropped, attributes);
        self.push_event(Event {
            time_unix_nano: time.unwrap_or_else(now_unix_nano),
            name: "exception".into(),
            attributes: attrs,
            dropped_attributes_count: dropped,
        });
    }

    /// `exception` escaped the span's scope: record it, and set an ERROR status
    /// describing it unless the status is OK already.
    pub fn record_failure(&self, exception: Exception) {
        let description = exception.status_description();
        self.record_exception(exception, Vec::new(), None);
        self.set_status(StatusCode::Error, Some(description));
    }

    /// End the span at `end_time` (default now; never before its start) and hand it
    /// to the exporter. Later calls do nothing.
    pub fn end(&self, end_time: Option<u64>) {
        self.end_released(end_time, |wait| wait());
    }

    /// [`Self::end`], waiting for room in a full queue (`overflow="block"`) inside
    /// `release`, where a binding releases its interpreter lock.
    pub fn end_released(
        &self,
        end_time: Option<u64>,
        release: impl FnOnce(&mut (dyn FnMut() + Send)),
    ) {
        if let Some(data) = self.finish(end_time) {
            self.tracer.exporter.traces().export_released(data, release);
        }
    }

    /// The span's data, ended at `end_time`; `None` if it had ended already.
    fn finish(&self, end_time: Option<u64>) -> Option<Box<SpanData>> {
        let mut data = self.lock().take()?;
        data.end_time_unix_nano = end_time
            .unwrap_or_else(now_unix_nano)
            .max(data.start_time_unix_nano);
        Some(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::{Settings, Value};
    use crate::limits::AttributeLimits;
    use crate::model::Resource;
    use std::time::{Duration, Instant};

    fn tracer_with(strict: bool, f: impl FnOnce(&mut Tracer)) -> Arc<Tracer> {
        let settings = Settings::from_args(&[
            ("endpoint".into(), Value::Str("http://127.0.0.1:9".into())),
            ("strict".into(), Value::Bool(strict)),
        ])
        .unwrap();
        let exporter = Arc::new(Exporter::new(settings, Resource::default()).unwrap());
        let scope = exporter.scope("t".into(), String::new(), String::new(), Vec::new());
        let mut tracer = Tracer::new(exporter, scope);
        f(&mut tracer);
        Arc::new(tracer)
    }

    fn tracer(strict: bool) -> Arc<Tracer> {
        tracer_with(strict, |_| {})
    }

    fn shut_down(t: &Tracer) {
        t.exporter
            .shutdown(Instant::now() + Duration::from_millis(100));
    }

    fn data(span: &Span) -> SpanData {
        (**span.lock().as_ref().expect("recording")).clone()
    }

    fn context(trace_id: u8, flags: u8, remote: bool) -> SpanContext {
        SpanContext {
            trace_id: [trace_id; 16],
            span_id: [7; 8],
            trace_flags: flags,
            is_remote: remote,
            trace_state: "a=1".into(),
        }
    }

    #[test]
    fn a_root_span_starts_a_sampled_trace_with_a_random_id() {
        let t = tracer(false);
        let (span, late) = t.start("root", SpanKind::Server, None, Some(5));
        assert_eq!(late, None);
        let d = data(&span);
        assert_ne!(d.trace_id, [0; 16]);
        assert_eq!(d.parent_span_id, None);
        assert_eq!(d.flags, 0x103);
        assert_eq!((d.kind, d.start_time_unix_nano), (SpanKind::Server, 5));
        let ctx = span.context();
        assert_eq!((ctx.trace_id, ctx.span_id), (d.trace_id, d.span_id));
        assert_eq!(
            (ctx.trace_flags, ctx.is_remote),
            (SAMPLED | RANDOM_TRACE_ID, false)
        );
        assert!(ctx.is_valid());
        shut_down(&t);
    }

    #[test]
    fn a_child_joins_its_parents_trace_with_its_flags() {
        let t = tracer(false);
        for (remote, flags) in [(false, 0x101), (true, 0x301)] {
            let parent = context(3, SAMPLED, remote);
            let (span, _) = t.start("child", SpanKind::Internal, Some(&parent), None);
            let d = data(&span);
            assert_eq!(d.trace_id, parent.trace_id);
            assert_eq!(d.parent_span_id, Some(parent.span_id));
            assert_eq!(d.trace_state, "a=1");
            assert_eq!(d.flags, flags, "remote={remote}");
            assert_eq!(
                span.context().trace_flags,
                SAMPLED,
                "no random flag: as the parent"
            );
            assert!(!span.context().is_remote);
        }
        // A parent without a trace id, or without a span id, starts a new trace.
        for parent in [
            context(0, 1, true),
            SpanContext {
                span_id: [0; 8],
                ..context(3, 1, true)
            },
        ] {
            let (span, _) = t.start("x", SpanKind::Internal, Some(&parent), None);
            let d = data(&span);
            assert_ne!(d.trace_id, parent.trace_id);
            assert_eq!((d.parent_span_id, d.flags), (None, 0x103));
        }
        shut_down(&t);
    }

    #[test]
    fn the_sdk_flags_rule_writes_only_whether_the_parent_is_remote() {
        let t = tracer_with(false, |t| t.flags = FlagsRule::RemoteOnly);
        let (root, _) = t.start("root", SpanKind::Internal, None, None);
        assert_eq!(data(&root).flags, 0x100);
        let (child, _) = t.start("c", SpanKind::Internal, Some(&context(3, 1, true)), None);
        assert_eq!(data(&child).flags, 0x300);
        child.add_link(&context(4, 1, false), Vec::new());
        assert_eq!(data(&child).links[0].flags, 0x100);
        shut_down(&t);
    }

    #[test]
    fn a_span_the_sampler_drops_records_nothing_and_propagates_its_context() {
        let t = tracer_with(false, |t| {
            t.sampler = Sampler::new("always_off", None).unwrap()
        });
        let (root, late) = t.start("root", SpanKind::Internal, None, None);
        assert_eq!(late, None);
        assert!(!root.is_recording());
        assert!(root.context().is_valid());
        assert_eq!(root.context().trace_flags, RANDOM_TRACE_ID);
        let parent = context(3, SAMPLED | RANDOM_TRACE_ID, true);
        let (child, _) = t.start("c", SpanKind::Internal, Some(&parent), None);
        let ctx = child.context();
        assert_eq!(
            (ctx.trace_id, ctx.trace_flags),
            (parent.trace_id, RANDOM_TRACE_ID)
        );
        assert_eq!(ctx.trace_state, "a=1");
        assert_ne!(ctx.span_id, parent.span_id);
        child.set_attribute("k", AnyValue::Int(1));
        child.end(None);
        assert_eq!(t.exporter.traces().stats().accepted, 0);
        // The default sampler follows the parent: an unsampled one, remote or local,
        // makes an unsampled child.
        let t = tracer(false);
        for remote in [false, true] {
            let (span, _) = t.start("c", SpanKind::Internal, Some(&context(3, 0, remote)), None);
            assert!(!span.is_recording());
            assert_eq!(span.context().trace_flags, 0);
        }
        shut_down(&t);
    }

    #[test]
    fn first_attributes_are_made_only_for_a_span_that_records() {
        let calls = std::cell::Cell::new(0);
        let first = || {
            calls.set(calls.get() + 1);
            Ok::<_, &str>(vec![
                KeyValue::new("a", AnyValue::Int(1)),
                KeyValue::new("a", AnyValue::Int(2)),
                KeyValue::new("b", AnyValue::Int(3)),
            ])
        };
        // Dropped by the sampler: never asked for.
        let off = tracer_with(false, |t| {
            t.sampler = Sampler::new("always_off", None).unwrap()
        });
        let (span, _) = off
            .start_with("s", SpanKind::Internal, None, None, first)
            .unwrap();
        assert!(!span.is_recording());
        assert_eq!(calls.get(), 0);
        shut_down(&off);
        // Recording: asked once, set within the limits as set_attributes sets them
        // (a repeated key keeps its first place and takes the last value).
        let t = tracer_with(false, |t| t.limits.attributes.count = 1);
        let (span, late) = t
            .start_with("s", SpanKind::Internal, None, None, first)
            .unwrap();
        assert_eq!((late, calls.get()), (None, 1));
        let d = data(&span);
        assert_eq!(d.attributes, vec![KeyValue::new("a", AnyValue::Int(2))]);
        assert_eq!(d.dropped_attributes_count, 1);
        // An error is the caller's, and the span is dropped unexported.
        let failed = t.start_with("s", SpanKind::Internal, None, None, || Err("bad"));
        assert_eq!(failed.err(), Some("bad"));
        span.end(None);
        assert_eq!(t.exporter.traces().stats().accepted, 1);
        // Shut down: a late verdict, and never asked for.
        shut_down(&t);
        let (span, late) = t
            .start_with("s", SpanKind::Internal, None, None, first)
            .unwrap();
        assert!(late.is_some() && !span.is_recording());
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn after_shutdown_spans_record_nothing_and_keep_the_parents_trace() {
        let t = tracer(false);
        shut_down(&t);
        let parent = context(3, 1, true);
        let (span, late) = t.start("late", SpanKind::Internal, Some(&parent), None);
        assert_eq!(late, Some(Verdict::Drop { report: true }));
        assert!(!span.is_recording());
        let ctx = span.context();
        assert_eq!((ctx.trace_id, ctx.trace_flags), (parent.trace_id, 1));
        assert_eq!(ctx.trace_state, "a=1");
        assert_ne!(ctx.span_id, parent.span_id);
        let (root, late) = t.start("late", SpanKind::Internal, None, None);
        assert_eq!(late, Some(Verdict::Drop { report: false }));
        assert_eq!(root.context().trace_flags & SAMPLED, 0, "not sampled");
        assert_eq!(t.policy().dropped_after_shutdown(), 2);
        span.set_attribute("k", AnyValue::Int(1));
        span.end(None);
        let strict = tracer(true);
        shut_down(&strict);
        let (_, late) = strict.start("late", SpanKind::Internal, None, None);
        assert_eq!(late, Some(Verdict::Raise));
    }

    fn many(n: usize) -> Vec<KeyValue> {
        (0..n)
            .map(|i| KeyValue::new(format!("k{i}"), AnyValue::Int(i as i64)))
            .collect()
    }

    #[test]
    fn attributes_events_and_links_are_limited() {
        let t = tracer(false);
        let (span, _) = t
            .start_with("s", SpanKind::Internal, None, None, || {
                Ok::<_, ()>(many(130))
            })
            .unwrap();
        span.set_attribute("k0", AnyValue::Bool(true));
        span.set_attribute("k200", AnyValue::Bool(true));
        for _ in 0..130 {
            span.add_event("e".into(), many(129), Some(1));
            span.add_link(&context(5, 1, true), many(2));
        }
        let d = data(&span);
        assert_eq!(d.attributes.len(), 128);
        assert_eq!(
            d.attributes[0].value,
            AnyValue::Bool(true),
            "replaced in place"
        );
        assert_eq!(d.dropped_attributes_count, 3);
        assert_eq!((d.events.len(), d.dropped_events_count), (128, 2));
        assert_eq!(d.events[0].attributes.len(), 128);
        assert_eq!(d.events[0].dropped_attributes_count, 1);
        assert_eq!((d.links.len(), d.dropped_links_count), (128, 2));
        assert_eq!(d.links[0].flags, 0x301);
        assert_eq!(d.links[0].trace_state, "a=1");
        shut_down(&t);
    }

    #[test]
    fn the_tracers_limits_apply_to_every_part_of_a_span() {
        let limits = |count| AttributeLimits {
            count,
            value_length: Some(2),
        };
        let t = tracer_with(false, |t| {
            t.limits = SpanLimits {
                attributes: limits(2),
                event_attributes: limits(1),
                link_attributes: limits(3),
                events: 1,
                links: 0,
            }
        });
        let (span, _) = t
            .start_with("s", SpanKind::Internal, None, None, || {
                Ok::<_, ()>(vec![KeyValue::new("a", "long".into())])
            })
            .unwrap();
        span.set_attributes(many(3));
        span.set_attribute("a", AnyValue::Array(vec!["xyz".into()]));
        span.record_exception(
            Exception {
                module: "app".into(),
                qualname: Some("E".into()),
                ..Exception::default()
            },
            many(1),
            None,
        );
        span.add_event("e".into(), many(2), None);
        span.add_link(&context(5, 1, true), many(2));
        let d = data(&span);
        assert_eq!(
            d.attributes,
            [
                KeyValue::new("a", AnyValue::Array(vec!["xy".into()])),
                KeyValue::new("k0", AnyValue::Int(0))
            ]
        );
        assert_eq!(d.dropped_attributes_count, 2);
        assert_eq!((d.events.len(), d.dropped_events_count), (1, 1));
        let exception = &d.events[0];
        assert_eq!(
            exception.attributes,
            [KeyValue::new("exception.type", "ap".into())]
        );
        assert_eq!(exception.dropped_attributes_count, 1);
        assert_eq!((d.links.len(), d.dropped_links_count), (0, 1));
        shut_down(&t);
    }

    #[test]
    fn links_to_an_invalid_context_are_kept_only_when_they_carry_something() {
        let t = tracer(false);
        let invalid = SpanContext::default();
        assert!(t.link(&invalid, Vec::new()).is_none());
        assert!(t.link(&invalid, many(1)).is_some());
        let with_state = SpanContext {
            trace_state: "a=1".into(),
            ..SpanContext::default()
        };
        assert!(t.link(&with_state, Vec::new()).is_some());
        assert!(t.link(&context(1, 0, false), Vec::new()).is_some());
        shut_down(&t);
    }

    #[test]
    fn ok_is_final_unset_is_ignored_and_only_error_keeps_a_description() {
        let t = tracer(false);
        let (span, _) = t.start("s", SpanKind::Internal, None, None);
        let status = |s: &Span| data(s).status.unwrap();
        span.set_status(StatusCode::Unset, Some("ignored".into()));
        assert_eq!(status(&span), Status::default());
        span.set_status(StatusCode::Error, Some("declined".into()));
        assert_eq!(status(&span).message, "declined");
        span.set_status(StatusCode::Unset, None);
        assert_eq!(status(&span).message, "declined", "UNSET is ignored");
        span.set_status(StatusCode::Ok, Some("ignored".into()));
        assert_eq!(
            status(&span),
            Status {
                code: StatusCode::Ok,
                message: String::new()
            }
        );
        span.set_status(StatusCode::Error, Some("too late".into()));
        span.record_failure(Exception::default());
        assert_eq!(status(&span).code, StatusCode::Ok);
        shut_down(&t);
    }

    #[test]
    fn a_failure_records_the_exception_and_an_error_status() {
        let t = tracer(false);
        let (span, _) = t.start("s", SpanKind::Internal, None, None);
        let exception = Exception {
            module: "app".into(),
            qualname: Some("Handler.PaymentError".into()),
            message: Some("declined".into()),
            stacktrace: Some("Traceback".into()),
        };
        span.record_exception(
            exception.clone(),
            vec![
                KeyValue::new("exception.message", "replaced".into()),
                KeyValue::new("extra", AnyValue::Int(1)),
            ],
            Some(9),
        );
        span.record_failure(exception);
        let d = data(&span);
        assert_eq!(d.events.len(), 2);
        let keys = |e: &Event| -> Vec<(String, AnyValue)> {
            e.attributes
                .iter()
                .map(|kv| (kv.key.to_string(), kv.value.clone()))
                .collect()
        };
        assert_eq!(d.events[0].time_unix_nano, 9);
        assert_eq!(
            keys(&d.events[0]),
            [
                ("exception.type".into(), "app.Handler.PaymentError".into()),
                ("exception.message".into(), "replaced".into()),
                ("exception.stacktrace".into(), "Traceback".into()),
                ("extra".into(), AnyValue::Int(1)),
            ]
        );
        assert_eq!(d.events[1].name, "exception");
        let status = d.status.unwrap();
        assert_eq!(status.code, StatusCode::Error);
        assert_eq!(status.message, "PaymentError: declined");
        shut_down(&t);
    }

    #[test]
    fn end_is_never_before_start_and_happens_once() {
        let t = tracer(false);
        let (span, _) = t.start("s", SpanKind::Internal, None, Some(100));
        assert_eq!(span.finish(Some(50)).unwrap().end_time_unix_nano, 100);
        assert!(!span.is_recording());
        assert!(span.finish(Some(500)).is_none());
        let (span, _) = t.start("s", SpanKind::Internal, None, Some(100));
        span.end(Some(150));
        span.end(Some(500));
        span.update_name("ignored");
        assert_eq!(span.name(), None);
        assert_eq!(t.exporter.traces().stats().accepted, 1);
        shut_down(&t);
    }
}
