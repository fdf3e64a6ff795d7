//! About how much memory a model value holds: what a queue's byte bound counts.
//!
//! An estimate, cheap to compute (one walk of the value), that errs on the high side
//! for small values (each allocation is charged a fixed overhead) and is close for
//! large ones, which are what the bound is for.

use std::mem::{size_of, size_of_val};

use super::{AnyValue, Event, KeyValue, Link, LogRecord, SpanData};

/// What an allocation costs beyond its bytes (allocator header and rounding).
const ALLOCATION: usize = 16;

fn text(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        s.len() + ALLOCATION
    }
}

fn value(v: &AnyValue) -> usize {
    match v {
        AnyValue::String(s) => text(s),
        AnyValue::Bytes(b) => b.len() + ALLOCATION,
        AnyValue::Array(items) => {
            items.len() * size_of::<AnyValue>()
                + ALLOCATION
                + items.iter().map(value).sum::<usize>()
        }
        AnyValue::KvList(kvs) => attributes(kvs),
        _ => 0,
    }
}

fn attributes(kvs: &[KeyValue]) -> usize {
    if kvs.is_empty() {
        return 0;
    }
    size_of_val(kvs)
        + ALLOCATION
        + kvs
            .iter()
            .map(|kv| text(&kv.key) + value(&kv.value))
            .sum::<usize>()
}

impl SpanData {
    /// About how many bytes of memory the span holds (its resource and scope are
    /// shared and not counted).
    pub fn approx_size(&self) -> usize {
        let events: usize = self
            .events
            .iter()
            .map(|e: &Event| size_of::<Event>() + text(&e.name) + attributes(&e.attributes))
            .sum();
        let links: usize = self
            .links
            .iter()
            .map(|l: &Link| size_of::<Link>() + text(&l.trace_state) + attributes(&l.attributes))
            .sum();
        size_of::<SpanData>()
            + ALLOCATION
            + text(&self.name)
            + text(&self.trace_state)
            + self.status.as_ref().map_or(0, |s| text(&s.message))
            + attributes(&self.attributes)
            + events
            + links
    }
}

impl LogRecord {
    /// About how many bytes of memory the record holds (its resource and scope are
    /// shared and not counted).
    pub fn approx_size(&self) -> usize {
        size_of::<LogRecord>()
            + ALLOCATION
            + text(&self.severity_text)
            + text(&self.event_name)
            + value(&self.body)
            + attributes(&self.attributes)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{Resource, Scope};

    #[test]
    fn sizes_grow_with_contents() {
        let r = Arc::new(Resource::default());
        let s = Arc::new(Scope::default());
        let small = SpanData::new(r.clone(), s.clone(), "op");
        let mut big = small.clone();
        big.attributes
            .push(KeyValue::new("blob", AnyValue::Bytes(vec![0; 1 << 20])));
        assert!(small.approx_size() < 1024, "{}", small.approx_size());
        assert!(big.approx_size() > 1 << 20);
        let mut log = LogRecord::new(r, s, AnyValue::from("x".repeat(10_000)));
        assert!(log.approx_size() > 10_000);
        log.attributes.push(KeyValue::new(
            "nested",
            AnyValue::Array(vec![AnyValue::from("y".repeat(5000))]),
        ));
        assert!(log.approx_size() > 15_000);
    }
}
