//! Python values to model values.
//!
//! Four modes: `Raise` for configuration (a resource or scope attribute that cannot
//! be encoded raises `TypeError` naming the key and type), `Native` for the native API
//! at run time (the exporter's [`Policy`] drops and counts it, or raises in strict
//! mode), `Api` for the OpenTelemetry API's providers (as `Native`, but values are
//! cleaned as the OpenTelemetry SDK's `BoundedAttributes` cleans them: `None` is kept
//! and an object of another type becomes its `str()`), and `Sdk`, which mirrors the
//! official encoder's `_encode_value`: same type order, and a key whose value cannot be
//! encoded is skipped.

use std::cell::RefCell;
use std::mem::MaybeUninit;

use otlp::model::intern::{intern, Table};
use otlp::model::{AnyValue, KeyValue, Text};
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};

use otlp::export::{Policy, Value};

use crate::policy;

#[derive(Clone, Copy)]
pub enum Mode<'a> {
    Raise,
    Native(&'a Policy),
    Api(&'a Policy),
    Sdk,
}

impl Mode<'_> {
    fn is_sdk(self) -> bool {
        matches!(self, Mode::Sdk)
    }

    /// `None` is an empty value (the SDK keeps it), not an unsupported type.
    fn keeps_none(self) -> bool {
        matches!(self, Mode::Sdk | Mode::Api(_))
    }
}

/// Deepest protobuf message level a value may reach, counting its `AnyValue` as 1, a
/// list level as 2 (`ArrayValue`, `AnyValue`) and a mapping level as 3
/// (`KeyValueList`, `KeyValue`, `AnyValue`). It also bounds recursion here.
///
/// SDK mode: the upb parser's limit (101), beyond which upstream drops the attribute.
/// Otherwise: collectors parse at most 100 levels in a whole request, and an event
/// or link attribute's `AnyValue` already sits at level 7, so 94 keeps every accepted
/// value decodable wherever it is used.
fn max_depth(mode: Mode<'_>) -> u32 {
    if mode.is_sdk() {
        101
    } else {
        94
    }
}

/// Why a value could not be converted.
pub enum Bad {
    Type(String),
    Overflow,
    TooDeep,
    /// A `str` that cannot be UTF-8 (lone surrogates).
    Unicode,
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
            Bad::TooDeep => PyValueError::new_err(format!(
                "attribute {key:?} is nested too deeply for OTLP collectors \
                 (at most 46 levels of lists or 31 of dicts)"
            )),
            Bad::Unicode => PyValueError::new_err(format!(
                "attribute {key:?} contains a str that is not valid Unicode (a lone surrogate)"
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
    Ok(s.to_cow().map_err(|_| Bad::Unicode)?.into_owned())
}

/// Convert one value.
pub fn any_value(obj: &Bound<'_, PyAny>, mode: Mode<'_>) -> Result<AnyValue, Bad> {
    value_at(obj, mode, 1)
}

/// Convert a value whose `AnyValue` sits at message depth `depth`.
fn value_at(obj: &Bound<'_, PyAny>, mode: Mode<'_>, depth: u32) -> Result<AnyValue, Bad> {
    // Exact types first (the common case), in the official encoder's order.
    if let Ok(s) = obj.cast_exact::<PyString>() {
        return Ok(AnyValue::String(
            interned(Table::Value, s).map_err(|_| Bad::Unicode)?,
        ));
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(AnyValue::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyString>() {
        return Ok(AnyValue::String(string(obj)?.into()));
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
        return if mode.keeps_none() {
            Ok(AnyValue::Empty)
        } else {
            Err(Bad::Type("NoneType".into()))
        };
    }
    // Containers: the ArrayValue / KeyValueList is one level below.
    let container = |len: usize| -> Result<(), Bad> {
        if depth + 1 > max_depth(mode) || (len > 0 && depth + 2 > max_depth(mode)) {
            Err(Bad::TooDeep)
        } else {
            Ok(())
        }
    };
    if let Ok(list) = obj.cast::<PyList>() {
        container(0)?;
        return list
            .iter()
            .map(|v| element(&v, mode, depth + 2))
            .collect::<Result<_, _>>()
            .map(AnyValue::Array);
    }
    if let Ok(tuple) = obj.cast::<PyTuple>() {
        container(0)?;
        return tuple
            .iter()
            .map(|v| element(&v, mode, depth + 2))
            .collect::<Result<_, _>>()
            .map(AnyValue::Array);
    }
    if let Ok(dict) = obj.cast::<PyDict>() {
        container(dict.len())?;
        return kvlist(dict.iter(), mode, depth + 3);
    }
    let py = obj.py();
    if obj.is_instance(abc(py, "Sequence")?.as_any())? {
        container(0)?;
        let mut out = Vec::new();
        for v in obj.try_iter()? {
            out.push(element(&v?, mode, depth + 2)?);
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
        container(pairs.len())?;
        return kvlist(pairs.into_iter(), mode, depth + 3);
    }
    if let Mode::Api(_) = mode {
        return Ok(as_text(obj));
    }
    Err(Bad::Type(type_name(obj)))
}

/// `_clean_attribute_value`'s rule for other types: the object's `str()` if its class
/// defines `__str__` or `__repr__` (an enum member, a `Decimal`, a `UUID`), else an
/// empty value.
fn as_text(obj: &Bound<'_, PyAny>) -> AnyValue {
    static OBJECT: PyOnceLock<(Py<PyAny>, Py<PyAny>)> = PyOnceLock::new();
    let py = obj.py();
    let ty = obj.get_type();
    let own = OBJECT
        .get_or_try_init(py, || -> PyResult<_> {
            let object = py.get_type::<pyo3::types::PyAny>();
            Ok((
                object.getattr("__str__")?.unbind(),
                object.getattr("__repr__")?.unbind(),
            ))
        })
        .ok()
        .is_some_and(|(str_, repr)| {
            let differs =
                |name, base: &Py<PyAny>| ty.getattr(name).is_ok_and(|m| !m.is(base.bind(py)));
            differs("__str__", str_) || differs("__repr__", repr)
        });
    match own.then(|| obj.str()) {
        Some(Ok(s)) => AnyValue::from(s.to_string_lossy().into_owned()),
        _ => AnyValue::Empty,
    }
}

/// An element of an array or kvlist: `None` is an empty value there in both modes.
fn element(obj: &Bound<'_, PyAny>, mode: Mode<'_>, depth: u32) -> Result<AnyValue, Bad> {
    if depth > max_depth(mode) {
        Err(Bad::TooDeep)
    } else if obj.is_none() {
        Ok(AnyValue::Empty)
    } else {
        value_at(obj, mode, depth)
    }
}

fn kvlist<'py>(
    items: impl Iterator<Item = (Bound<'py, PyAny>, Bound<'py, PyAny>)>,
    mode: Mode<'_>,
    depth: u32,
) -> Result<AnyValue, Bad> {
    let mut out = Vec::new();
    for (k, v) in items {
        // The official encoder str()s nested keys.
        let key = match k.cast_exact::<PyString>() {
            Ok(s) => s.to_cow().map_err(|_| Bad::Unicode)?.into_owned(),
            Err(_) => k.str()?.to_cow().map_err(|_| Bad::Unicode)?.into_owned(),
        };
        out.push(KeyValue::new(key, element(&v, mode, depth)?));
    }
    Ok(AnyValue::KvList(out))
}

fn bad_key(k: &Bound<'_, PyAny>) -> PyErr {
    let repr = k.repr().map(|r| r.to_string()).unwrap_or_default();
    if k.is_instance_of::<PyString>() {
        PyValueError::new_err(format!(
            "attribute key {repr} is not valid Unicode (a lone surrogate)"
        ))
    } else {
        PyTypeError::new_err(format!(
            "attribute keys must be str; got {repr} ({})",
            type_name(k)
        ))
    }
}

/// A span name, interned: names repeat from span to span.
pub fn name(s: &Bound<'_, PyString>) -> PyResult<Text> {
    interned(Table::Name, s)
}

/// Slots of each thread's cache of `str` objects already interned, per table.
const SLOTS: usize = 256;

/// Per slot: a `str` object and its interned text.
type Seen = Vec<Option<(Py<PyString>, &'static str)>>;

thread_local! {
    /// The `str` objects last interned on this thread, by address: keys and names are
    /// most often the same objects each time (literals, which Python interns itself),
    /// so a hit is a pointer comparison where a lookup by content hashes and compares
    /// the text. A slot holds a reference to its object, so the address cannot be
    /// reused by another string while the slot remembers it.
    static SEEN: RefCell<Seen> = RefCell::new((0..3 * SLOTS).map(|_| None).collect());
}

/// `s` interned in `table`, through this thread's cache of objects.
fn interned(table: Table, s: &Bound<'_, PyString>) -> PyResult<Text> {
    match SEEN.try_with(|seen| {
        seen.try_borrow_mut()
            .ok()
            .map(|mut seen| look(&mut seen, table, s))
    }) {
        Ok(Some(text)) => text,
        // The cache is in use further up this thread's stack, or gone (thread exit).
        _ => Ok(intern(table, &s.to_cow()?)),
    }
}

/// `s` interned in `table`, through `seen` (this thread's cache).
#[inline]
fn look(seen: &mut Seen, table: Table, s: &Bound<'_, PyString>) -> PyResult<Text> {
    let addr = s.as_ptr() as usize;
    // Objects are 16-byte aligned: drop those bits. Each table has its slots.
    let slot = table as usize * SLOTS + ((addr >> 4) ^ (addr >> 12)) % SLOTS;
    if let Some((obj, text)) = &seen[slot] {
        if obj.as_ptr() == s.as_ptr() {
            return Ok(Text::Borrowed(text));
        }
    }
    let text = intern(table, &s.to_cow()?);
    // Only exact `str` objects are kept: releasing one (when its slot is reused) runs
    // no Python code, so a caller may hold borrowed references across this call.
    if let (Text::Borrowed(k), true) = (&text, s.is_exact_instance_of::<PyString>()) {
        seen[slot] = Some((s.clone().unbind(), k));
    }
    Ok(text)
}

/// The common case of [`attributes`]: an exact `dict` whose keys are all exact `str`
/// and whose values are all exact `str`, `bool`, `int` (within 64 bits) or `float`,
/// converted with one visit of this thread's cache. `None` when any entry is anything
/// else (or the cache is in use): [`attributes`] then converts the whole mapping, with
/// each mode's rules for what is wrong.
fn plain(d: &Bound<'_, PyDict>, limit: usize) -> Option<(Vec<KeyValue>, u32)> {
    SEEN.try_with(|seen| {
        let mut seen = seen.try_borrow_mut().ok()?;
        let mut out: Vec<KeyValue> = Vec::with_capacity(d.len().min(limit));
        let mut dropped = 0u32;
        let py = d.py();
        let (mut pos, mut k, mut v) = (0, std::ptr::null_mut(), std::ptr::null_mut());
        // `PyDict_Next` lends the dict's entries: they stay alive while the dict is not
        // changed, and nothing below runs Python code (only exact `str`, `bool`, `int`
        // and `float` objects are looked at, and the cache releases only exact `str`s).
        // SAFETY: the GIL is held (`py`), `d` is a dict, and its entries stay lent.
        while unsafe { pyo3::ffi::PyDict_Next(d.as_ptr(), &mut pos, &mut k, &mut v) } != 0 {
            // SAFETY: as above: borrowed, non-null references valid for this step.
            let (k, v) = unsafe { (Borrowed::from_ptr(py, k), Borrowed::from_ptr(py, v)) };
            let key = look(&mut seen, Table::Key, &*k.cast_exact::<PyString>().ok()?).ok()?;
            // The value is made in the vector's spare room (over the limit too, then
            // dropped there): staged on the stack, it was copied back with loads wider
            // than the stores that wrote it, which the CPU cannot forward.
            out.reserve(1);
            let at = out.spare_capacity_mut()[0].as_mut_ptr();
            // SAFETY: `reserve` made room for one more element at `at`; this is its
            // `value` field, uninitialised until written below.
            let value = unsafe {
                &mut *std::ptr::addr_of_mut!((*at).value).cast::<MaybeUninit<AnyValue>>()
            };
            if let Ok(s) = v.cast_exact::<PyString>() {
                value.write(AnyValue::String(look(&mut seen, Table::Value, &s).ok()?));
            } else if let Ok(b) = v.cast_exact::<PyBool>() {
                value.write(AnyValue::Bool(b.is_true()));
            } else if v.is_exact_instance_of::<PyInt>() {
                value.write(AnyValue::Int(v.extract::<i64>().ok()?));
            } else if let Ok(f) = v.cast_exact::<PyFloat>() {
                value.write(AnyValue::Double(f.value()));
            } else {
                return None;
            }
            if out.len() < limit {
                // SAFETY: both fields of the element at `at` are written before the
                // length counts it, and nothing between can panic.
                unsafe {
                    std::ptr::addr_of_mut!((*at).key).write(key);
                    out.set_len(out.len() + 1);
                }
            } else {
                // SAFETY: written above, not counted by the vector: dropped here, once.
                unsafe { value.assume_init_drop() };
                dropped += 1;
            }
        }
        Some((out, dropped))
    })
    .ok()
    .flatten()
}

/// An attribute key given on its own (`set_attribute`), interned.
pub fn key(k: &Bound<'_, PyAny>) -> PyResult<Text> {
    match k.cast::<PyString>().map(|s| interned(Table::Key, s)) {
        Ok(Ok(s)) => Ok(s),
        _ => Err(bad_key(k)),
    }
}

/// Convert a mapping of attributes. Keys must be `str`. Beyond `limit` entries,
/// attributes are counted as dropped. A key or value that cannot be encoded raises
/// (`Raise`), goes to the policy (`Native`), or is skipped as upstream does (`Sdk`).
pub fn attributes(
    obj: &Bound<'_, PyAny>,
    mode: Mode<'_>,
    limit: usize,
) -> PyResult<(Vec<KeyValue>, u32)> {
    if let Some(done) = obj
        .cast_exact::<PyDict>()
        .ok()
        .and_then(|d| plain(d, limit))
    {
        return Ok(done);
    }
    let py = obj.py();
    let mut out = match obj.cast::<PyDict>() {
        Ok(d) => Vec::with_capacity(d.len().min(limit)),
        Err(_) => Vec::new(),
    };
    let mut dropped = 0u32;
    let mut add = |k: Bound<'_, PyAny>, v: Bound<'_, PyAny>| -> PyResult<()> {
        let key = match k.cast::<PyString>().map(|s| interned(Table::Key, s)) {
            Ok(Ok(s)) => s,
            // Upstream passes the key to a protobuf constructor, where None means unset.
            Err(_) if mode.is_sdk() && k.is_none() => Text::Borrowed(""),
            // ... and where UTF-8 `bytes` are accepted for a string field.
            Err(_) if mode.is_sdk() && k.is_instance_of::<PyBytes>() => {
                match std::str::from_utf8(
                    k.cast::<PyBytes>()
                        .map(|b| b.as_bytes())
                        .unwrap_or_default(),
                ) {
                    Ok(s) => intern(Table::Key, s),
                    Err(_) => return Ok(()),
                }
            }
            // Upstream fails on any other such key and skips it.
            _ => match mode {
                Mode::Sdk => return Ok(()),
                Mode::Raise => return Err(bad_key(&k)),
                Mode::Native(p) | Mode::Api(p) => {
                    let shown = k.repr().map(|r| r.to_string()).unwrap_or_default();
                    return policy::bad_attribute(py, p, &shown, Bad::Py(bad_key(&k)));
                }
            },
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
            Err(bad) => match mode {
                Mode::Sdk => Ok(()),
                Mode::Raise => Err(bad.into_err(&key)),
                Mode::Native(p) | Mode::Api(p) => policy::bad_attribute(py, p, &key, bad),
            },
        }
    };
    if let Ok(dict) = obj.cast::<PyDict>() {
        for (k, v) in dict.iter() {
            add(k, v)?;
        }
    } else if obj.is_none() {
    } else {
        let items = match obj.call_method0("items") {
            Ok(items) => items,
            Err(_) => {
                let e = PyTypeError::new_err(format!(
                    "`attributes` must be a mapping (dict) of str to values; got {}",
                    type_name(obj)
                ));
                return match mode {
                    Mode::Native(p) | Mode::Api(p) => {
                        policy::bad_attribute(py, p, "attributes", Bad::Py(e))
                            .map(|()| (Vec::new(), 0))
                    }
                    _ => Err(e),
                };
            }
        };
        for kv in items.try_iter()? {
            let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = kv?.extract()?;
            add(k, v)?;
        }
    }
    Ok((out, dropped))
}

/// A setting as the core reads it (see `otlp::export::Value`): config objects
/// (anything with `_asdict()`) and dicts become maps; other types are named in errors.
pub fn value(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    if obj.is_none() {
        return Ok(Value::None);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        return Ok(Value::Int(obj.extract::<i128>().unwrap_or_else(|_| {
            match obj.lt(0).unwrap_or(false) {
                true => i128::MIN,
                false => i128::MAX,
            }
        })));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(Value::Float(f.value()));
    }
    if obj.is_instance_of::<PyString>() {
        return string(obj)
            .map(Value::Str)
            .map_err(|_| PyValueError::new_err("settings must be valid Unicode"));
    }
    let (class, dict) = if let Ok(d) = obj.cast::<PyDict>() {
        (None, d.clone())
    } else if let Ok(asdict) = obj.getattr("_asdict") {
        (Some(type_name(obj)), asdict.call0()?.cast_into::<PyDict>()?)
    } else {
        return Ok(Value::Other(type_name(obj)));
    };
    let mut map = Vec::with_capacity(dict.len());
    for (k, v) in dict.iter() {
        let key = string(&k).map_err(|_| {
            PyTypeError::new_err(format!("setting names must be str; got {}", type_name(&k)))
        })?;
        map.push((key, value(&v)?));
    }
    Ok(match class {
        Some(class) => Value::Object(class, map),
        None => Value::Map(map),
    })
}

/// A core value tree as Python objects (maps become dicts).
pub fn to_python(py: Python<'_>, v: &Value) -> PyResult<Py<PyAny>> {
    use pyo3::IntoPyObjectExt;
    match v {
        Value::None | Value::Other(_) => Ok(py.None()),
        Value::Bool(b) => b.into_py_any(py),
        Value::Int(i) => i.into_py_any(py),
        Value::Float(f) => f.into_py_any(py),
        Value::Str(s) => s.into_py_any(py),
        Value::List(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_python(py, item)?)?;
            }
            Ok(list.into_any().unbind())
        }
        Value::Map(m) | Value::Object(_, m) => {
            let d = PyDict::new(py);
            for (k, v) in m {
                d.set_item(k, to_python(py, v)?)?;
            }
            Ok(d.into_any().unbind())
        }
    }
}
