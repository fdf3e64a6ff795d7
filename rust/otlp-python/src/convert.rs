//! Python values to model values.
//!
//! Two modes: `Strict` for the native API (an unsupported value is the caller's bug
//! and raises `TypeError` naming the key and type), and `Sdk`, which mirrors the
//! official encoder's `_encode_value`: same type order, and a key whose value cannot be
//! encoded is skipped.

use otlp::model::{AnyValue, KeyValue};
use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Strict,
    Sdk,
}

/// Most attributes a span, event or link keeps (OTel's default limit); the rest are
/// counted as dropped.
pub const ATTRIBUTE_LIMIT: usize = 128;

/// Why a value could not be converted.
pub enum Bad {
    Type(String),
    Overflow,
    Py(PyErr),
}

impl From<PyErr> for Bad {
    fn from(e: PyErr) -> Self {
        Bad::Py(e)
    }
}

impl Bad {
    pub fn into_err(self, key: &str) -> PyErr {
        match self {
            Bad::Type(t) => PyTypeError::new_err(format!(
                "attribute {key:?} has a value of unsupported type '{t}'; use str, bool, int, \
                 float, bytes, or a list/tuple/dict of those"
            )),
            Bad::Overflow => PyOverflowError::new_err(format!(
                "attribute {key:?}: int does not fit in 64 bits (OTLP int values are int64)"
            )),
            Bad::Py(e) => e,
        }
    }
}

fn abc<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    static SEQUENCE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    static MAPPING: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    let cell = if name == "Sequence" {
        &SEQUENCE
    } else {
        &MAPPING
    };
    cell.import(py, "collections.abc", name).cloned()
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .qualname()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

pub fn string(obj: &Bound<'_, PyAny>) -> Result<String, Bad> {
    let s = obj
        .cast::<PyString>()
        .map_err(|_| Bad::Type(type_name(obj)))?;
    Ok(s.to_cow()?.into_owned())
}

/// Convert one value.
pub fn any_value(obj: &Bound<'_, PyAny>, mode: Mode) -> Result<AnyValue, Bad> {
    // Exact types first (the common case), in the official encoder's order.
    if let Ok(s) = obj.cast_exact::<PyString>() {
        return Ok(AnyValue::String(s.to_cow()?.into_owned()));
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(AnyValue::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyString>() {
        return Ok(AnyValue::String(string(obj)?));
    }
    if obj.is_instance_of::<PyInt>() {
        return obj
            .extract::<i64>()
            .map(AnyValue::Int)
            .map_err(|_| Bad::Overflow);
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(AnyValue::Double(f.value()));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(AnyValue::Bytes(b.as_bytes().to_vec()));
    }
    if obj.is_none() {
        return match mode {
            Mode::Sdk => Ok(AnyValue::Empty),
            Mode::Strict => Err(Bad::Type("NoneType".into())),
        };
    }
    if let Ok(list) = obj.cast::<PyList>() {
        return list
            .iter()
            .map(|v| element(&v, mode))
            .collect::<Result<_, _>>()
            .map(AnyValue::Array);
    }
    if let Ok(tuple) = obj.cast::<PyTuple>() {
        return tuple
            .iter()
            .map(|v| element(&v, mode))
            .collect::<Result<_, _>>()
            .map(AnyValue::Array);
    }
    if let Ok(dict) = obj.cast::<PyDict>() {
        return kvlist(dict.iter(), mode);
    }
    let py = obj.py();
    if obj.is_instance(abc(py, "Sequence")?.as_any())? {
        let mut out = Vec::new();
        for v in obj.try_iter()? {
            out.push(element(&v?, mode)?);
        }
        return Ok(AnyValue::Array(out));
    }
    if obj.is_instance(abc(py, "Mapping")?.as_any())? {
        let items = obj.call_method0("items")?;
        let mut pairs = Vec::new();
        for kv in items.try_iter()? {
            let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = kv?.extract()?;
            pairs.push((k, v));
        }
        return kvlist(pairs.into_iter(), mode);
    }
    Err(Bad::Type(type_name(obj)))
}

/// An element of an array or kvlist: `None` is an empty value there in both modes.
fn element(obj: &Bound<'_, PyAny>, mode: Mode) -> Result<AnyValue, Bad> {
    if obj.is_none() {
        Ok(AnyValue::Empty)
    } else {
        any_value(obj, mode)
    }
}

fn kvlist<'py>(
    items: impl Iterator<Item = (Bound<'py, PyAny>, Bound<'py, PyAny>)>,
    mode: Mode,
) -> Result<AnyValue, Bad> {
    let mut out = Vec::new();
    for (k, v) in items {
        // The official encoder str()s nested keys.
        let key = match k.cast_exact::<PyString>() {
            Ok(s) => s.to_cow()?.into_owned(),
            Err(_) => k.str()?.to_cow()?.into_owned(),
        };
        out.push(KeyValue::new(key, element(&v, mode)?));
    }
    Ok(AnyValue::KvList(out))
}

/// Convert a mapping of attributes. Keys must be `str`. Beyond `limit` entries,
/// attributes are counted as dropped. In `Strict` mode the first bad value raises; in
/// `Sdk` mode its key is skipped, as upstream does.
pub fn attributes(
    obj: &Bound<'_, PyAny>,
    mode: Mode,
    limit: usize,
) -> PyResult<(Vec<KeyValue>, u32)> {
    let mut out = match obj.cast::<PyDict>() {
        Ok(d) => Vec::with_capacity(d.len().min(limit)),
        Err(_) => Vec::new(),
    };
    let mut dropped = 0u32;
    let mut add = |k: Bound<'_, PyAny>, v: Bound<'_, PyAny>| -> PyResult<()> {
        let key = match k.cast::<PyString>().map(|s| s.to_cow()) {
            Ok(Ok(s)) => s.into_owned(),
            // Upstream fails on such a key and skips it.
            _ if mode == Mode::Sdk => return Ok(()),
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(PyTypeError::new_err(format!(
                    "attribute keys must be str; got {} ({})",
                    k.repr().map(|r| r.to_string()).unwrap_or_default(),
                    type_name(&k)
                )))
            }
        };
        match any_value(&v, mode) {
            Ok(value) => {
                if out.len() < limit {
                    out.push(KeyValue { key, value });
                } else {
                    dropped += 1;
                }
                Ok(())
            }
            Err(Bad::Py(e)) if mode == Mode::Strict => Err(e),
            Err(bad) if mode == Mode::Strict => Err(bad.into_err(&key)),
            Err(_) => Ok(()),
        }
    };
    if let Ok(dict) = obj.cast::<PyDict>() {
        for (k, v) in dict.iter() {
            add(k, v)?;
        }
    } else if obj.is_none() {
    } else {
        let items = obj.call_method0("items").map_err(|_| {
            PyTypeError::new_err(format!(
                "`attributes` must be a mapping (dict) of str to values; got {}",
                type_name(obj)
            ))
        })?;
        for kv in items.try_iter()? {
            let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = kv?.extract()?;
            add(k, v)?;
        }
    }
    Ok((out, dropped))
}

/// Set `key` in `attrs` (replacing an existing value), honouring the limit.
pub fn set_attribute(attrs: &mut Vec<KeyValue>, dropped: &mut u32, key: String, value: AnyValue) {
    if let Some(kv) = attrs.iter_mut().find(|kv| kv.key == key) {
        kv.value = value;
    } else if attrs.len() < ATTRIBUTE_LIMIT {
        attrs.push(KeyValue { key, value });
    } else {
        *dropped += 1;
    }
}
