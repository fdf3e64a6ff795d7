//! What one span or log record keeps (the OpenTelemetry SDK's default "Attribute
//! Limits" and "Span Limits"): beyond these, items are counted as dropped, and the
//! counts are exported with the span, event, link or log record.

use crate::model::{AnyValue, KeyValue};

/// Most attributes a span, event, link or log record keeps.
pub const ATTRIBUTE_LIMIT: usize = 128;

/// Most events a span keeps.
pub const EVENT_LIMIT: usize = 128;

/// Most links a span keeps.
pub const LINK_LIMIT: usize = 128;

/// Keep the first [`ATTRIBUTE_LIMIT`] of `attrs`; returns how many were dropped.
pub fn truncate(attrs: &mut Vec<KeyValue>) -> u32 {
    let dropped = attrs.len().saturating_sub(ATTRIBUTE_LIMIT);
    attrs.truncate(ATTRIBUTE_LIMIT);
    count(dropped)
}

/// Set `key` in `attrs`, replacing the value of an attribute with that key; a new key
/// beyond [`ATTRIBUTE_LIMIT`] is counted in `dropped` instead.
pub fn set_attribute(attrs: &mut Vec<KeyValue>, dropped: &mut u32, key: String, value: AnyValue) {
    if let Some(kv) = attrs.iter_mut().find(|kv| kv.key == key) {
        kv.value = value;
    } else {
        push(attrs, dropped, ATTRIBUTE_LIMIT, KeyValue { key, value });
    }
}

/// Set each of `new` in order, as [`set_attribute`] does.
pub fn set_attributes(attrs: &mut Vec<KeyValue>, dropped: &mut u32, new: Vec<KeyValue>) {
    if !attrs.is_empty() {
        for kv in new {
            set_attribute(attrs, dropped, kv.key, kv.value);
        }
        return;
    }
    // Nothing set yet (a span starting): the same rule applied in place, so that the
    // common case, distinct keys within the limit, neither allocates nor copies.
    *attrs = new;
    let mut kept = 0;
    for i in 0..attrs.len() {
        let (seen, rest) = attrs.split_at_mut(i);
        let item = &mut rest[0];
        if let Some(first) = seen[..kept].iter_mut().find(|kv| kv.key == item.key) {
            first.value = std::mem::replace(&mut item.value, AnyValue::Empty);
        } else if kept < ATTRIBUTE_LIMIT {
            if kept != i {
                attrs.swap(kept, i);
            }
            kept += 1;
        } else {
            *dropped = dropped.saturating_add(1);
        }
    }
    attrs.truncate(kept);
}

/// Append `item` unless `items` holds `limit` already; then count it in `dropped`.
pub fn push<T>(items: &mut Vec<T>, dropped: &mut u32, limit: usize, item: T) {
    if items.len() < limit {
        items.push(item);
    } else {
        *dropped = dropped.saturating_add(1);
    }
}

/// A number of dropped items as the wire's `uint32` counts it (saturating).
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(i: usize) -> KeyValue {
        KeyValue::new(format!("k{i}"), AnyValue::Int(i as i64))
    }

    #[test]
    fn truncate_keeps_the_first_and_counts_the_rest() {
        let mut attrs: Vec<_> = (0..ATTRIBUTE_LIMIT + 5).map(kv).collect();
        assert_eq!(truncate(&mut attrs), 5);
        assert_eq!(attrs.len(), ATTRIBUTE_LIMIT);
        assert_eq!(attrs.last(), Some(&kv(ATTRIBUTE_LIMIT - 1)));
        let mut few = vec![kv(1)];
        assert_eq!(truncate(&mut few), 0);
    }

    #[test]
    fn set_attribute_replaces_an_existing_key_even_when_full() {
        let mut attrs: Vec<_> = (0..ATTRIBUTE_LIMIT).map(kv).collect();
        let mut dropped = 0;
        set_attribute(&mut attrs, &mut dropped, "k3".into(), AnyValue::Bool(true));
        assert_eq!(attrs[3].value, AnyValue::Bool(true));
        assert_eq!(dropped, 0);
        set_attribute(&mut attrs, &mut dropped, "new".into(), AnyValue::Int(1));
        assert_eq!((attrs.len(), dropped), (ATTRIBUTE_LIMIT, 1));
    }

    #[test]
    fn set_attributes_in_place_is_set_attribute_in_order() {
        let key = |k: usize| format!("k{}", k % 150);
        let inputs: Vec<Vec<KeyValue>> = vec![
            (0..5).map(kv).collect(),
            (0..200).map(kv).collect(),
            // Duplicates before and after the limit is reached.
            (0..300)
                .map(|i| KeyValue::new(key(i * 7), AnyValue::Int(i as i64)))
                .collect(),
            vec![kv(1), kv(2), KeyValue::new("k1", AnyValue::Bool(true))],
        ];
        for new in inputs {
            let (mut expected, mut expected_dropped) = (Vec::new(), 0);
            for kv in new.clone() {
                set_attribute(&mut expected, &mut expected_dropped, kv.key, kv.value);
            }
            let (mut got, mut dropped) = (Vec::new(), 0);
            set_attributes(&mut got, &mut dropped, new.clone());
            assert_eq!((&got, dropped), (&expected, expected_dropped));
            // And on top of existing attributes.
            let (mut twice, mut dropped) = (Vec::new(), 0);
            set_attributes(&mut twice, &mut dropped, new.clone());
            set_attributes(&mut twice, &mut dropped, new.clone());
            for kv in new {
                set_attribute(&mut expected, &mut expected_dropped, kv.key, kv.value);
            }
            assert_eq!((twice, dropped), (expected, expected_dropped));
        }
    }

    #[test]
    fn push_counts_beyond_the_limit() {
        let (mut items, mut dropped) = (Vec::new(), 0);
        for i in 0..5 {
            push(&mut items, &mut dropped, 3, i);
        }
        assert_eq!((items, dropped), (vec![0, 1, 2], 2));
    }
}
