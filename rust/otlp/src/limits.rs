//! What one span or log record keeps: the OpenTelemetry specification's "Attribute
//! Limits" and "Span Limits" (common/README.md#attribute-limits, trace/sdk.md#span-limits),
//! with their defaults and their environment variables. Beyond a count limit, items are
//! counted as dropped, and the counts are exported with the span, event, link or log
//! record; values longer than a length limit are shortened.

use crate::model::{AnyValue, KeyValue, Text};
use crate::{Error, Result};

/// Most attributes a span, event, link or log record keeps by default.
pub const ATTRIBUTE_LIMIT: usize = 128;

/// Most events a span keeps by default.
pub const EVENT_LIMIT: usize = 128;

/// Most links a span keeps by default.
pub const LINK_LIMIT: usize = 128;

/// The limits on one collection of attributes (a span's, an event's, a link's or a log
/// record's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttributeLimits {
    /// Most attributes kept; a new key beyond it is dropped (and counted), as the
    /// specification says (not the oldest one, as the OpenTelemetry Python SDK does).
    pub count: usize,
    /// Longest value kept, if any: longer strings (counted in characters) and byte
    /// strings (in bytes) are cut to it, also inside arrays and maps. Other values are
    /// never shortened.
    pub value_length: Option<usize>,
}

impl Default for AttributeLimits {
    fn default() -> Self {
        Self {
            count: ATTRIBUTE_LIMIT,
            value_length: None,
        }
    }
}

impl AttributeLimits {
    /// Keep the first [`Self::count`] of `attrs`, with their values shortened; returns
    /// how many were dropped.
    pub fn apply(&self, attrs: &mut Vec<KeyValue>) -> u32 {
        let dropped = attrs.len().saturating_sub(self.count);
        attrs.truncate(self.count);
        if let Some(max) = self.value_length {
            for kv in attrs.iter_mut() {
                shorten(&mut kv.value, max);
            }
        }
        count(dropped)
    }

    /// Set `key` in `attrs`, replacing the value of an attribute with that key; a new
    /// key beyond [`Self::count`] is counted in `dropped` instead.
    pub fn set(&self, attrs: &mut Vec<KeyValue>, dropped: &mut u32, key: Text, value: AnyValue) {
        let value = self.shortened(value);
        if let Some(kv) = attrs.iter_mut().find(|kv| kv.key == key) {
            kv.value = value;
        } else {
            push(attrs, dropped, self.count, KeyValue { key, value });
        }
    }

    /// Set each of `new` in order, as [`Self::set`] does.
    pub fn set_all(&self, attrs: &mut Vec<KeyValue>, dropped: &mut u32, new: Vec<KeyValue>) {
        if !attrs.is_empty() {
            for kv in new {
                self.set(attrs, dropped, kv.key, kv.value);
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
            } else if kept < self.count {
                if kept != i {
                    attrs.swap(kept, i);
                }
                kept += 1;
            } else {
                *dropped = dropped.saturating_add(1);
            }
        }
        attrs.truncate(kept);
        if let Some(max) = self.value_length {
            for kv in attrs.iter_mut() {
                shorten(&mut kv.value, max);
            }
        }
    }

    fn shortened(&self, mut value: AnyValue) -> AnyValue {
        if let Some(max) = self.value_length {
            shorten(&mut value, max);
        }
        value
    }
}

/// The limits on a span and on its events and links.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpanLimits {
    /// The span's own attributes.
    pub attributes: AttributeLimits,
    /// Each event's attributes.
    pub event_attributes: AttributeLimits,
    /// Each link's attributes.
    pub link_attributes: AttributeLimits,
    /// Most events a span keeps.
    pub events: usize,
    /// Most links a span keeps.
    pub links: usize,
}

impl SpanLimits {
    /// The default limits: 128 of everything, values of any length.
    pub const DEFAULT: Self = Self {
        attributes: AttributeLimits {
            count: ATTRIBUTE_LIMIT,
            value_length: None,
        },
        event_attributes: AttributeLimits {
            count: ATTRIBUTE_LIMIT,
            value_length: None,
        },
        link_attributes: AttributeLimits {
            count: ATTRIBUTE_LIMIT,
            value_length: None,
        },
        events: EVENT_LIMIT,
        links: LINK_LIMIT,
    };

    /// The limits the environment sets: `OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`,
    /// `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`, `OTEL_SPAN_EVENT_COUNT_LIMIT`,
    /// `OTEL_SPAN_LINK_COUNT_LIMIT`, `OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT` and
    /// `OTEL_LINK_ATTRIBUTE_COUNT_LIMIT`, each falling back to the general
    /// `OTEL_ATTRIBUTE_COUNT_LIMIT` / `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`, then to the
    /// default. The span's value length limit applies to its events' and links'
    /// attributes too. An empty variable counts as unset; any other value that is not
    /// a non-negative integer is a [`Error::Config`] naming the variable.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// [`Self::from_env`] reading the variables through `env`.
    pub fn from_lookup(env: &dyn Fn(&str) -> Option<String>) -> Result<Self> {
        let general_count = read(env, "OTEL_ATTRIBUTE_COUNT_LIMIT")?;
        let general_length = read(env, "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT")?;
        let count = |name: &str| -> Result<usize> {
            Ok(read(env, name)?
                .or(general_count)
                .unwrap_or(ATTRIBUTE_LIMIT))
        };
        let value_length = read(env, "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT")?.or(general_length);
        let limits = |count| AttributeLimits {
            count,
            value_length,
        };
        Ok(Self {
            attributes: limits(count("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT")?),
            event_attributes: limits(count("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT")?),
            link_attributes: limits(count("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT")?),
            events: read(env, "OTEL_SPAN_EVENT_COUNT_LIMIT")?.unwrap_or(EVENT_LIMIT),
            links: read(env, "OTEL_SPAN_LINK_COUNT_LIMIT")?.unwrap_or(LINK_LIMIT),
        })
    }
}

/// The limits on a log record's attributes the environment sets:
/// `OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT` and `OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT`,
/// falling back to the general ones, then to the default (as [`SpanLimits::from_env`]).
pub fn log_record_limits_from_env() -> Result<AttributeLimits> {
    let env = |name: &str| std::env::var(name).ok();
    let general_count = read(&env, "OTEL_ATTRIBUTE_COUNT_LIMIT")?;
    let general_length = read(&env, "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT")?;
    Ok(AttributeLimits {
        count: read(&env, "OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT")?
            .or(general_count)
            .unwrap_or(ATTRIBUTE_LIMIT),
        value_length: read(&env, "OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT")?.or(general_length),
    })
}

/// A limit variable: `None` when unset or empty.
fn read(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Result<Option<usize>> {
    let Some(raw) = env(name) else {
        return Ok(None);
    };
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    match raw.parse::<u64>() {
        Ok(n) => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        // Beyond u64 it is a limit nothing can reach.
        Err(_) if raw.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(usize::MAX)),
        Err(_) => Err(Error::Config(format!(
            "{name} must be a non-negative integer; got {raw:?}"
        ))),
    }
}

/// Cut the strings and byte strings in `value` to at most `max` characters / bytes.
pub fn shorten(value: &mut AnyValue, max: usize) {
    match value {
        // A string's length in bytes bounds its length in characters: most strings
        // are decided without counting.
        AnyValue::String(s) if s.len() > max => {
            if let Some((cut, _)) = s.char_indices().nth(max) {
                match s {
                    Text::Owned(s) => s.truncate(cut),
                    Text::Borrowed(b) => *b = &b[..cut],
                }
            }
        }
        AnyValue::Bytes(b) => b.truncate(max),
        AnyValue::Array(items) => items.iter_mut().for_each(|v| shorten(v, max)),
        AnyValue::KvList(kvs) => kvs.iter_mut().for_each(|kv| shorten(&mut kv.value, max)),
        _ => {}
    }
}

/// Keep the first [`ATTRIBUTE_LIMIT`] of `attrs`; returns how many were dropped.
pub fn truncate(attrs: &mut Vec<KeyValue>) -> u32 {
    AttributeLimits::default().apply(attrs)
}

/// Set `key` in `attrs` as [`AttributeLimits::set`] does with the default limits.
pub fn set_attribute(
    attrs: &mut Vec<KeyValue>,
    dropped: &mut u32,
    key: impl Into<Text>,
    value: AnyValue,
) {
    AttributeLimits::default().set(attrs, dropped, key.into(), value);
}

/// Set each of `new` as [`AttributeLimits::set_all`] does with the default limits.
pub fn set_attributes(attrs: &mut Vec<KeyValue>, dropped: &mut u32, new: Vec<KeyValue>) {
    AttributeLimits::default().set_all(attrs, dropped, new);
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
    use std::collections::HashMap;

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
        set_attribute(&mut attrs, &mut dropped, "k3", AnyValue::Bool(true));
        assert_eq!(attrs[3].value, AnyValue::Bool(true));
        assert_eq!(dropped, 0);
        set_attribute(&mut attrs, &mut dropped, "new", AnyValue::Int(1));
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
            vec![KeyValue::new("s", "abcdef".into()), kv(1)],
        ];
        for limits in [
            AttributeLimits::default(),
            AttributeLimits {
                count: 3,
                value_length: Some(2),
            },
            AttributeLimits {
                count: 0,
                value_length: Some(0),
            },
        ] {
            for new in &inputs {
                let (mut expected, mut expected_dropped) = (Vec::new(), 0);
                for kv in new.clone() {
                    limits.set(&mut expected, &mut expected_dropped, kv.key, kv.value);
                }
                let (mut got, mut dropped) = (Vec::new(), 0);
                limits.set_all(&mut got, &mut dropped, new.clone());
                assert_eq!((&got, dropped), (&expected, expected_dropped));
                // And on top of existing attributes.
                let (mut twice, mut dropped) = (Vec::new(), 0);
                limits.set_all(&mut twice, &mut dropped, new.clone());
                limits.set_all(&mut twice, &mut dropped, new.clone());
                for kv in new.clone() {
                    limits.set(&mut expected, &mut expected_dropped, kv.key, kv.value);
                }
                assert_eq!((twice, dropped), (expected, expected_dropped));
            }
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

    #[test]
    fn values_are_shortened_in_characters_and_bytes_recursively() {
        let mut v = AnyValue::Array(vec![
            "ééééé".into(),
            AnyValue::Bytes(vec![1, 2, 3, 4]),
            AnyValue::Int(123_456),
            AnyValue::KvList(vec![KeyValue::new("k", "abcdef".into())]),
            "ab".into(),
        ]);
        shorten(&mut v, 3);
        assert_eq!(
            v,
            AnyValue::Array(vec![
                "ééé".into(),
                AnyValue::Bytes(vec![1, 2, 3]),
                AnyValue::Int(123_456),
                AnyValue::KvList(vec![KeyValue::new("k", "abc".into())]),
                "ab".into(),
            ])
        );
        let mut s: AnyValue = "abc".into();
        shorten(&mut s, 0);
        assert_eq!(s, "".into());
        let limits = AttributeLimits {
            count: 1,
            value_length: Some(1),
        };
        let mut attrs = vec![KeyValue::new("a", "xyz".into()), kv(2)];
        assert_eq!(limits.apply(&mut attrs), 1);
        assert_eq!(attrs, [KeyValue::new("a", "x".into())]);
    }

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn span_limits_read_the_model_specific_then_the_general_variables() {
        assert_eq!(
            SpanLimits::from_lookup(&env(&[])).unwrap(),
            SpanLimits::DEFAULT
        );
        let general = SpanLimits::from_lookup(&env(&[
            ("OTEL_ATTRIBUTE_COUNT_LIMIT", "7"),
            ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", " 9 "),
            ("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", "3"),
            ("OTEL_SPAN_EVENT_COUNT_LIMIT", "0"),
            ("OTEL_SPAN_LINK_COUNT_LIMIT", ""),
        ]))
        .unwrap();
        let nine = |count| AttributeLimits {
            count,
            value_length: Some(9),
        };
        assert_eq!(
            general,
            SpanLimits {
                attributes: nine(7),
                event_attributes: nine(3),
                link_attributes: nine(7),
                events: 0,
                links: LINK_LIMIT,
            }
        );
        let specific = SpanLimits::from_lookup(&env(&[
            ("OTEL_ATTRIBUTE_COUNT_LIMIT", "7"),
            ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "2"),
            ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "9"),
            ("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "4"),
            ("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", "99999999999999999999999"),
        ]))
        .unwrap();
        assert_eq!(specific.attributes.count, 2);
        assert_eq!(specific.event_attributes.count, 7);
        assert_eq!(specific.link_attributes.count, usize::MAX);
        assert_eq!(specific.attributes.value_length, Some(4));
        assert_eq!(specific.link_attributes.value_length, Some(4));
        for bad in ["-1", "1.5", "ten"] {
            let err = SpanLimits::from_lookup(&env(&[("OTEL_SPAN_LINK_COUNT_LIMIT", bad)]))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("OTEL_SPAN_LINK_COUNT_LIMIT must be a non-negative integer"),
                "{err}"
            );
        }
    }
}
