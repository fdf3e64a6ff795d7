//! Attribute sets as series keys: order-insensitive, hashable, cheap to clone.

use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::Arc;

use crate::model::{AnyValue, KeyValue};

/// A set of attributes in key order (later duplicates win), shared by its series.
#[derive(Clone, Debug, Default)]
pub struct AttributeSet(Arc<[KeyValue]>);

impl AttributeSet {
    /// The set of `attrs`, sorted by key; for a key given twice the last value wins.
    pub fn new(mut attrs: Vec<KeyValue>) -> Self {
        // Stable sort, then keep the last value given for a key.
        attrs.sort_by(|a, b| a.key.cmp(&b.key));
        let mut out: Vec<KeyValue> = Vec::with_capacity(attrs.len());
        for kv in attrs {
            match out.last_mut() {
                Some(last) if last.key == kv.key => *last = kv,
                _ => out.push(kv),
            }
        }
        Self(out.into())
    }

    /// The set without attributes.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The attributes, in key order.
    pub fn as_slice(&self) -> &[KeyValue] {
        &self.0
    }

    /// A copy of the attributes, in key order.
    pub fn to_vec(&self) -> Vec<KeyValue> {
        self.0.to_vec()
    }

    /// How many attributes the set holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set holds no attribute.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn value_eq(a: &AnyValue, b: &AnyValue) -> bool {
    match (a, b) {
        // Bitwise, so that NaN equals itself and a series is found again.
        (AnyValue::Double(x), AnyValue::Double(y)) => x.to_bits() == y.to_bits(),
        (AnyValue::Array(x), AnyValue::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| value_eq(a, b))
        }
        (AnyValue::KvList(x), AnyValue::KvList(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(a, b)| a.key == b.key && value_eq(&a.value, &b.value))
        }
        _ => a == b,
    }
}

fn hash_value<H: Hasher>(v: &AnyValue, h: &mut H) {
    std::mem::discriminant(v).hash(h);
    match v {
        AnyValue::Empty => {}
        AnyValue::String(s) => s.hash(h),
        AnyValue::Bool(b) => b.hash(h),
        AnyValue::Int(i) => i.hash(h),
        AnyValue::Double(d) => d.to_bits().hash(h),
        AnyValue::Bytes(b) => b.hash(h),
        AnyValue::Array(vs) => {
            vs.len().hash(h);
            for v in vs {
                hash_value(v, h);
            }
        }
        AnyValue::KvList(kvs) => {
            kvs.len().hash(h);
            for kv in kvs {
                kv.key.hash(h);
                hash_value(&kv.value, h);
            }
        }
    }
}

impl PartialEq for AttributeSet {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(other.0.iter())
                .all(|(a, b)| a.key == b.key && value_eq(&a.value, &b.value))
    }
}

impl Eq for AttributeSet {}

impl Hash for AttributeSet {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.len().hash(h);
        for kv in self.0.iter() {
            kv.key.hash(h);
            hash_value(&kv.value, h);
        }
    }
}

/// FxHash (rustc's hasher): series keys are not attacker-chosen hash-flooding input
/// in practice, and the cardinality limit caps any table anyway.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.write_u64(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(b) ^ ((rest.len() as u64) << 56));
        }
    }

    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(SEED);
    }

    #[inline]
    fn write_u8(&mut self, v: u8) {
        self.write_u64(v as u64);
    }

    #[inline]
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// The hasher of series maps: FxHash, fast on the short keys of attribute sets.
pub type FxBuild = BuildHasherDefault<FxHasher>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn set(pairs: &[(&str, AnyValue)]) -> AttributeSet {
        AttributeSet::new(
            pairs
                .iter()
                .map(|(k, v)| KeyValue::new(k.to_string(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn order_does_not_matter_and_last_duplicate_wins() {
        let a = set(&[("b", AnyValue::Int(1)), ("a", AnyValue::from("x"))]);
        let b = set(&[("a", AnyValue::from("x")), ("b", AnyValue::Int(1))]);
        assert_eq!(a, b);
        let mut m: HashMap<AttributeSet, u32, FxBuild> = HashMap::default();
        m.insert(a, 1);
        assert_eq!(m.get(&b), Some(&1));
        let d = set(&[("a", AnyValue::Int(1)), ("a", AnyValue::Int(2))]);
        assert_eq!(d.as_slice(), &[KeyValue::new("a", AnyValue::Int(2))]);
    }

    #[test]
    fn int_and_double_and_nan_are_distinct_but_stable() {
        let i = set(&[("v", AnyValue::Int(1))]);
        let f = set(&[("v", AnyValue::Double(1.0))]);
        assert_ne!(i, f);
        let n1 = set(&[("v", AnyValue::Double(f64::NAN))]);
        let n2 = set(&[("v", AnyValue::Double(f64::NAN))]);
        assert_eq!(n1, n2);
    }
}
