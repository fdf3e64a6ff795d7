//! Protobuf fields as the official encoder fills them from SDK values: its
//! constructors' rules (None is unset, bools refused as integers, UTF-8 `bytes`
//! accepted as strings) and the nesting depth at which its protobuf backend fails.

use otlp::model::{AnyValue, KeyValue};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyInt, PyString};

use crate::convert::{self, Mode};

/// A protobuf string field as upstream sets it: None is unset, UTF-8 bytes are accepted.
pub fn opt_string(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = obj.cast_exact::<PyString>() {
        return Ok(s.to_str()?.to_owned());
    }
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
pub fn no_bool(obj: &Bound<'_, PyAny>) -> PyResult<()> {
    if obj.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{} has type bool, but expected one of: int",
            obj.repr()?
        )));
    }
    Ok(())
}

/// A uint64 field: None is unset.
pub fn opt_u64(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    if obj.is_exact_instance_of::<PyInt>() {
        return obj.extract();
    }
    if obj.is_none() {
        Ok(0)
    } else {
        no_bool(obj)?;
        obj.extract()
    }
}

/// A protobuf scalar as upstream sets it through a constructor: None is unset.
pub fn opt_int<T: Default + for<'a, 'py> FromPyObject<'a, 'py>>(
    obj: &Bound<'_, PyAny>,
) -> PyResult<T> {
    if obj.is_none() {
        Ok(T::default())
    } else {
        obj.extract().map_err(Into::into)
    }
}

/// A trace id as upstream's `trace_id.to_bytes(16, "big")`.
pub fn trace_id(obj: &Bound<'_, PyAny>) -> PyResult<[u8; 16]> {
    Ok(obj.extract::<u128>()?.to_be_bytes())
}

/// A span id as upstream's `span_id.to_bytes(8, "big")`.
pub fn span_id(obj: &Bound<'_, PyAny>) -> PyResult<[u8; 8]> {
    Ok(obj.extract::<u64>()?.to_be_bytes())
}

/// Attributes as upstream's `_encode_attributes`: a key or value it cannot encode is
/// skipped.
pub fn attrs(obj: &Bound<'_, PyAny>) -> PyResult<Vec<KeyValue>> {
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
pub fn check_depth(v: &AnyValue, raise_from: u32, what: &str) -> PyResult<()> {
    if depth(v) >= raise_from {
        return Err(PyValueError::new_err(format!(
            "{what} is nested too deeply for the protobuf encoder"
        )));
    }
    Ok(())
}

/// Attributes of a span (98), event or link (97), scope (98), resource (99) or log
/// record (98): `raise_from` is where upstream starts to fail the batch.
pub fn attrs_within(obj: &Bound<'_, PyAny>, raise_from: u32) -> PyResult<Vec<KeyValue>> {
    let out = attrs(obj)?;
    for kv in &out {
        // Scalars (nearly every value) cannot be too deep.
        if matches!(kv.value, AnyValue::Array(_) | AnyValue::KvList(_)) {
            check_depth(&kv.value, raise_from, "an attribute value")?;
        }
    }
    Ok(out)
}

/// Output format of the `encode_*` functions.
pub fn is_json(format: &str) -> PyResult<bool> {
    match format {
        "protobuf" => Ok(false),
        "json" => Ok(true),
        other => Err(PyValueError::new_err(format!(
            "`format` must be 'protobuf' or 'json'; got {other:?}"
        ))),
    }
}
