//! `Meter` and its instruments.

use std::sync::Arc;

use otlp::aggregate::{
    AttributeSet, Descriptor, Increments, Instrument, InstrumentKind, Kernels, Refused, Summary,
    TemporalityPreference,
};
use otlp::ids::now_unix_nano;
use otlp::metrics::{Callback, MetricsConfig, MetricsExporter};
use otlp::model::{Number, Scope};
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType, PyWeakrefReference,
};

use crate::convert::{self, Mode};
use crate::policy;
use otlp::export::Policy;

/// Arrays at least this long are aggregated with the GIL released.
const DETACH_THRESHOLD: usize = 4096;

/// The attributes of a measurement or observation (`Native`: one that cannot be
/// encoded is the policy's to drop or raise).
fn attribute_set(attributes: Option<&Bound<'_, PyAny>>, mode: Mode<'_>) -> PyResult<AttributeSet> {
    match attributes.filter(|a| !a.is_none()) {
        Some(a) => Ok(AttributeSet::new(
            convert::attributes(a, mode, usize::MAX)?.0,
        )),
        None => Ok(AttributeSet::empty()),
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .qualname()
        .map(|n| n.to_string())
        .unwrap_or_default()
}

/// A measurement: Python ints stay integers, floats are doubles.
fn number(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Number> {
    let py = value.py();
    // The common case first: an exact int or float is no bool of any kind.
    if let Ok(f) = value.cast_exact::<PyFloat>() {
        return Ok(Number::Double(f.value()));
    }
    if value.is_exact_instance_of::<PyInt>() {
        if let Ok(i) = value.extract::<i64>() {
            return Ok(Number::Int(i));
        }
    }
    // Python and numpy bools are almost always a mistake here.
    if value.is_instance_of::<PyBool>() || matches!(type_name(value).as_str(), "bool_" | "bool") {
        return Err(PyTypeError::new_err(format!(
            "{what}: `value` must be an int or float, not bool"
        )));
    }
    if let Ok(f) = value.cast::<PyFloat>() {
        return Ok(Number::Double(f.value()));
    }
    let overflow = || {
        PyOverflowError::new_err(format!(
            "{what}: `value` does not fit in 64 bits (OTLP ints are int64)"
        ))
    };
    if value.is_instance_of::<PyInt>() {
        return value
            .extract::<i64>()
            .map(Number::Int)
            .map_err(|_| overflow());
    }
    // numpy scalars and other numbers: integers through __index__, the rest __float__.
    if let Ok(index) = value.call_method0(intern!(py, "__index__")) {
        return index
            .extract::<i64>()
            .map(Number::Int)
            .map_err(|_| overflow());
    }
    if let Ok(f) = value.extract::<f64>() {
        return Ok(Number::Double(f));
    }
    Err(PyTypeError::new_err(format!(
        "{what}: `value` must be an int or float; got {}",
        type_name(value)
    )))
}

/// The numbers of one `record_many` / `add_many` call: a numpy array's memory read in
/// place (kept where it is by `_pin`), or values copied out of a Python sequence.
struct Values<'a> {
    /// Borrowed slices point into the array that `_pin` holds: never move them out of
    /// this struct.
    data: Data<'a>,
    _pin: Option<Pin>,
}

enum Data<'a> {
    F64(&'a [f64]),
    F32(&'a [f32]),
    I64(&'a [i64]),
    I32(&'a [i32]),
    OwnedF64(Vec<f64>),
    OwnedI64(Vec<i64>),
}

impl Values<'_> {
    fn owned(data: Data<'static>) -> Self {
        Values { data, _pin: None }
    }

    fn len(&self) -> usize {
        match &self.data {
            Data::F64(v) => v.len(),
            Data::F32(v) => v.len(),
            Data::I64(v) => v.len(),
            Data::I32(v) => v.len(),
            Data::OwnedF64(v) => v.len(),
            Data::OwnedI64(v) => v.len(),
        }
    }

    fn is_int(&self) -> bool {
        matches!(self.data, Data::I64(_) | Data::I32(_) | Data::OwnedI64(_))
    }

    /// Histogram aggregation. The kernels read every dtype as it is, and sum in the same
    /// order whichever runs, so AVX2 and scalar stay bit-identical.
    fn histogram(&self, kernels: Kernels, bounds: &[f64], counts: &mut [u64]) -> Summary {
        match &self.data {
            Data::F64(v) => kernels.histogram(v, bounds, counts),
            Data::OwnedF64(v) => kernels.histogram(v, bounds, counts),
            Data::F32(v) => kernels.histogram(v, bounds, counts),
            Data::I64(v) => kernels.histogram(v, bounds, counts),
            Data::OwnedI64(v) => kernels.histogram(v, bounds, counts),
            Data::I32(v) => kernels.histogram(v, bounds, counts),
        }
    }

    /// Exact integer sum and minimum (for counters fed integers).
    fn int_sum_min(&self) -> (i128, i64) {
        fn go<T: Copy + Into<i64>>(v: &[T]) -> (i128, i64) {
            v.iter().fold((0i128, i64::MAX), |(s, m), x| {
                let x: i64 = (*x).into();
                (s + x as i128, m.min(x))
            })
        }
        match &self.data {
            Data::I64(v) => go(v),
            Data::OwnedI64(v) => go(v),
            Data::I32(v) => go(v),
            _ => (0, 0),
        }
    }
}

/// Keeps a numpy array's memory where it is while it is read, the GIL released.
///
/// A strong reference keeps the array alive. A weak reference to it, and to every
/// array it is a view of, makes numpy refuse `resize()` even with `refcheck=False`
/// (`PyArray_Resize`: the array must "have no weak-references and no base object"),
/// and only the array at the end of the chain (no base) can own resizable memory.
/// A buffer export would not do: numpy does not count exports, and resizes under them.
struct Pin {
    _refs: Vec<Py<PyAny>>,
}

/// numpy collapses views of views onto the array that owns the memory, so chains are
/// short; the bound only keeps the walk finite.
const MAX_VIEW_DEPTH: usize = 32;

impl Pin {
    fn new(np: &Numpy, array: &Bound<'_, PyAny>, what: &str) -> PyResult<Self> {
        let py = array.py();
        let mut refs = vec![array.clone().unbind()];
        let mut current = array.clone();
        for _ in 0..MAX_VIEW_DEPTH {
            refs.push(PyWeakrefReference::new(&current)?.into_any().unbind());
            let base = np
                .base
                .bind(py)
                .call_method1(intern!(py, "__get__"), (&current,))?;
            // Any other base holds the memory itself: bytes never change, and what
            // numpy wraps through the buffer protocol (bytearray, mmap, memoryview)
            // refuses to resize or close while numpy holds the export.
            if !np.is_array(&base)? {
                return Ok(Pin { _refs: refs });
            }
            current = base;
        }
        Err(PyValueError::new_err(format!(
            "{what}: `values` is a view nested more than {MAX_VIEW_DEPTH} arrays deep; pass values.copy()"
        )))
    }
}

/// numpy's `ndarray` and its own getters, found in `sys.modules`: otlp never imports
/// numpy, and an object can only be an ndarray once numpy has been imported.
struct Numpy {
    ndarray: Py<PyType>,
    /// `ndarray.__array_interface__` and `ndarray.base`, read through the class so
    /// that a subclass overriding them cannot hand us another pointer.
    interface: Py<PyAny>,
    base: Py<PyAny>,
}

static NUMPY: PyOnceLock<Numpy> = PyOnceLock::new();

impl Numpy {
    fn get(py: Python<'_>) -> Option<&'static Numpy> {
        if let Some(np) = NUMPY.get(py) {
            return Some(np);
        }
        let found = || -> PyResult<Option<Numpy>> {
            let modules = py
                .import(intern!(py, "sys"))?
                .getattr(intern!(py, "modules"))?;
            let Some(numpy) = modules.cast::<PyDict>()?.get_item(intern!(py, "numpy"))? else {
                return Ok(None);
            };
            let ndarray = numpy
                .getattr(intern!(py, "ndarray"))?
                .cast_into::<PyType>()?;
            let interface = ndarray.getattr(intern!(py, "__array_interface__"))?;
            let base = ndarray.getattr(intern!(py, "base"))?;
            // Getters written in C, as numpy's are: a stand-in placed in sys.modules
            // by Python code cannot make us trust its pointers.
            for getter in [&interface, &base] {
                if getter.get_type().name()? != "getset_descriptor" {
                    return Ok(None);
                }
            }
            Ok(Some(Numpy {
                ndarray: ndarray.unbind(),
                interface: interface.unbind(),
                base: base.unbind(),
            }))
        };
        // Not imported yet (or half imported): look again next time.
        let np = found().ok().flatten()?;
        Some(NUMPY.get_or_init(py, || np))
    }

    /// A real subclass check: `isinstance` would believe a `__class__` property.
    fn is_array(&self, obj: &Bound<'_, PyAny>) -> PyResult<bool> {
        obj.get_type()
            .is_subclass(self.ndarray.bind(obj.py()).as_any())
    }
}

/// The element type of a 1-D array, from its `__array_interface__`; errors say how to
/// convert what we cannot read.
#[derive(Clone, Copy)]
enum Dtype {
    F64,
    F32,
    I64,
    I32,
}

impl Dtype {
    fn size(self) -> usize {
        match self {
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::F32 | Dtype::I32 => 4,
        }
    }
}

/// What an `__array_interface__` says: checked to be a 1-D, contiguous, unmasked array
/// of a dtype we read, in native byte order. `data` is only trusted from numpy itself.
struct Layout {
    dtype: Dtype,
    len: usize,
    data: usize,
}

fn layout(iface: &Bound<'_, PyAny>, what: &str) -> PyResult<Layout> {
    let iface = iface.cast::<PyDict>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what}: `values` has an invalid __array_interface__"
        ))
    })?;
    let get = |k: &str| -> PyResult<Bound<'_, PyAny>> {
        iface.get_item(k)?.ok_or_else(|| {
            PyTypeError::new_err(format!(
                "{what}: `values` has no {k:?} in __array_interface__"
            ))
        })
    };
    let shape: Vec<usize> = get("shape")?.extract()?;
    if shape.len() != 1 {
        return Err(PyValueError::new_err(format!(
            "{what}: `values` must be a 1-D array; got shape {shape:?} (use values.ravel())"
        )));
    }
    let len = shape[0];
    let typestr: String = get("typestr")?.extract()?;
    let (native, swapped) = if cfg!(target_endian = "little") {
        ('<', '>')
    } else {
        ('>', '<')
    };
    let kind = typestr.get(1..).unwrap_or_default();
    let dtype = match kind {
        "f8" => Some(Dtype::F64),
        "f4" => Some(Dtype::F32),
        "i8" => Some(Dtype::I64),
        "i4" => Some(Dtype::I32),
        _ => None,
    };
    let dtype = match (typestr.chars().next(), dtype) {
        (Some(c), Some(dtype)) if c == native => dtype,
        (Some(c), Some(_)) if c == swapped => {
            return Err(PyValueError::new_err(format!(
                "{what}: `values` is byte-swapped (dtype {typestr:?}); convert it with values.astype(values.dtype.newbyteorder('='))"
            )))
        }
        _ => {
            return Err(PyTypeError::new_err(format!(
                "{what}: unsupported array dtype {typestr:?}; use float64, float32, int64 or int32 (e.g. values.astype('float64'))"
            )))
        }
    };
    if let Some(strides) = iface.get_item("strides")? {
        if !strides.is_none() {
            let strides: Vec<isize> = strides.extract()?;
            if len > 1 && strides != [dtype.size() as isize] {
                return Err(PyValueError::new_err(format!(
                    "{what}: `values` is not contiguous (strides {strides:?}); pass np.ascontiguousarray(values)"
                )));
            }
        }
    }
    if iface.get_item("mask")?.is_some_and(|m| !m.is_none()) {
        return Err(PyTypeError::new_err(format!(
            "{what}: masked arrays are not supported; pass values.compressed()"
        )));
    }
    let (data, _readonly): (usize, bool) = get("data")?.extract()?;
    Ok(Layout { dtype, len, data })
}

/// A numpy array, read in place.
fn array_values<'a>(np: &Numpy, obj: &'a Bound<'_, PyAny>, what: &str) -> PyResult<Values<'a>> {
    let py = obj.py();
    // Pinned before the pointer is read: creating the weak references may run a garbage
    // collection, hence Python code, and let another thread in.
    let pin = Pin::new(np, obj, what)?;
    let iface = np
        .interface
        .bind(py)
        .call_method1(intern!(py, "__get__"), (obj,))?;
    let Layout { dtype, len, data } = layout(&iface, what)?;
    if len == 0 {
        return Ok(Values::owned(Data::OwnedF64(Vec::new())));
    }
    if data == 0 || data % dtype.size() != 0 {
        return Err(PyValueError::new_err(format!(
            "{what}: `values` is not aligned in memory; pass values.copy()"
        )));
    }
    let ptr = data as *const u8;
    // SAFETY: numpy's own `ndarray.__array_interface__` getter (not an attribute a
    // subclass can override) described `len` initialised items of `dtype`, C-contiguous
    // and aligned (checked above), after `pin` was taken. `pin` holds the array, so it
    // is not freed, and weak references that make numpy refuse to resize it or the
    // array it views; the slices live in `Values` beside `pin` and go with it. numpy's
    // `ndarray.__setstate__` (and, in numpy 1.x, assigning `ndarray.data`) frees an
    // array's memory without any check, under numpy's own views and GIL-free loops
    // too: that is numpy's contract for those calls, not one a reader can enforce.
    // Writes from other threads give unspecified but well-formed numbers.
    let data = unsafe {
        match dtype {
            Dtype::F64 => Data::F64(std::slice::from_raw_parts(ptr.cast(), len)),
            Dtype::F32 => Data::F32(std::slice::from_raw_parts(ptr.cast(), len)),
            Dtype::I64 => Data::I64(std::slice::from_raw_parts(ptr.cast(), len)),
            Dtype::I32 => Data::I32(std::slice::from_raw_parts(ptr.cast(), len)),
        }
    };
    Ok(Values {
        data,
        _pin: Some(pin),
    })
}

fn sequence_values(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Values<'static>> {
    let items: Vec<Bound<'_, PyAny>> = if let Ok(l) = obj.cast::<PyList>() {
        l.iter().collect()
    } else if let Ok(t) = obj.cast::<PyTuple>() {
        t.iter().collect()
    } else if obj.is_instance_of::<PyString>()
        || obj.is_instance_of::<PyDict>()
        || obj.is_instance_of::<pyo3::types::PyBytes>()
        || obj.is_instance_of::<pyo3::types::PyByteArray>()
    {
        return Err(PyTypeError::new_err(format!(
            "{what}: `values` must be a 1-D array or a sequence of numbers"
        )));
    } else {
        obj.try_iter()
            .map_err(|_| {
                PyTypeError::new_err(format!(
                    "{what}: `values` must be a 1-D array or a sequence of numbers; got {}",
                    type_name(obj)
                ))
            })?
            .collect::<PyResult<_>>()?
    };
    let mut ints = Vec::with_capacity(items.len());
    let mut floats: Option<Vec<f64>> = None;
    for (i, item) in items.iter().enumerate() {
        let n = number(item, what).map_err(|e| {
            // Same exception type, with the position added.
            let py = obj.py();
            let message = format!("{} (at index {i})", e.value(py));
            match e.get_type(py).call1((message,)) {
                Ok(instance) => PyErr::from_value(instance),
                Err(other) => other,
            }
        })?;
        match (n, &mut floats) {
            (Number::Int(v), None) => ints.push(v),
            (n, slot) => {
                let f = slot.get_or_insert_with(|| ints.iter().map(|&x| x as f64).collect());
                f.push(match n {
                    Number::Int(v) => v as f64,
                    Number::Double(d) => d,
                });
            }
        }
    }
    Ok(Values::owned(match floats {
        Some(f) => Data::OwnedF64(f),
        None => Data::OwnedI64(ints),
    }))
}

fn values<'a>(obj: &'a Bound<'_, PyAny>, what: &str) -> PyResult<Values<'a>> {
    let py = obj.py();
    let np = Numpy::get(py);
    let exact_array = np.is_some_and(|np| obj.is_exact_instance(np.ndarray.bind(py).as_any()));
    // numpy masked arrays expose their data without the mask.
    if !exact_array
        && obj.hasattr(intern!(py, "mask"))?
        && obj.hasattr(intern!(py, "compressed"))?
    {
        return Err(PyTypeError::new_err(format!(
            "{what}: masked arrays are not supported; pass values.compressed()"
        )));
    }
    if let Some(np) = np {
        if exact_array || np.is_array(obj)? {
            return array_values(np, obj, what);
        }
    }
    match obj.getattr(intern!(py, "__array_interface__")) {
        Ok(iface) => {
            // Checked for the errors that say how to convert, but never read in place:
            // only numpy's own arrays are trusted to describe memory they keep alive.
            layout(&iface, what)?;
            if obj.try_iter().is_err() {
                return Err(PyTypeError::new_err(format!(
                    "{what}: `values` ({}) is not a numpy array, and its __array_interface__ \
                     is not read directly; pass a numpy array or a sequence of numbers",
                    type_name(obj)
                )));
            }
            sequence_values(obj, what)
        }
        Err(_) => sequence_values(obj, what),
    }
}

/// Aggregate `values` for a histogram, with the GIL released when large.
fn aggregate(py: Python<'_>, values: &Values<'_>, bounds: &[f64]) -> (Vec<u64>, Summary) {
    let kernels = Kernels::detect();
    let run = || {
        let mut counts = vec![0u64; bounds.len() + 1];
        let summary = values.histogram(kernels, bounds, &mut counts);
        (counts, summary)
    };
    if values.len() >= DETACH_THRESHOLD {
        // `Values` pins any array it reads in place (see `Pin`).
        crate::gil::detach(py, run)
    } else {
        run()
    }
}

/// Creates instruments for one scope. Get one from `Exporter.meter()`.
#[pyclass(frozen, name = "Meter", module = "otlp")]
pub struct PyMeter {
    exporter: Arc<otlp::Exporter>,
    /// `None` for a meter made after the exporter was shut down: its instruments
    /// record nothing.
    metrics: Option<Arc<MetricsExporter>>,
    scope: Arc<Scope>,
}

/// Histogram boundaries as given (`None`: the defaults); the core checks their values.
fn boundaries(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<f64>>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    let not_numbers = || PyTypeError::new_err("`boundaries` must be a sequence of numbers");
    let items: Vec<Bound<'_, PyAny>> = obj
        .try_iter()
        .and_then(|it| it.collect())
        .map_err(|_| not_numbers())?;
    let mut b = Vec::with_capacity(items.len());
    for item in &items {
        if item.is_instance_of::<PyBool>() {
            return Err(PyTypeError::new_err(
                "`boundaries` must be numbers, not bool",
            ));
        }
        b.push(item.extract::<f64>().map_err(|_| not_numbers())?);
    }
    Ok(Some(b))
}

/// A refused measurement as the `ValueError` of the call `what`.
fn refused(what: &str) -> impl Fn(Refused) -> PyErr + '_ {
    move |e| PyValueError::new_err(format!("{what}: {e}"))
}

/// One callback of an observable instrument.
enum PyCallback {
    /// A callable: called with no arguments (otlp's API) or with the OpenTelemetry
    /// API's `CallbackOptions`.
    Call(Py<PyAny>),
    /// A generator (OpenTelemetry API): sent the `CallbackOptions` each collection,
    /// it yields that collection's observations; once exhausted it observes nothing.
    Generator(Py<PyAny>),
}

/// How the callbacks of an OpenTelemetry API instrument are called and judged.
struct ApiCallbacks {
    /// The `CallbackOptions` each callback is given.
    options: Py<PyAny>,
    kind: InstrumentKind,
    name: String,
    exporter: Arc<otlp::Exporter>,
}

struct PyCallbacks {
    callbacks: Vec<PyCallback>,
    /// `None`: otlp's API (callables taking no argument; an observation that cannot
    /// be used fails its callback).
    api: Option<ApiCallbacks>,
}

impl PyCallbacks {
    /// What one callback returns this collection: an iterable of observations, or None.
    fn run<'py>(&self, py: Python<'py>, cb: &PyCallback) -> PyResult<Option<Bound<'py, PyAny>>> {
        let options = self.api.as_ref().map(|a| a.options.bind(py));
        let out = match (cb, options) {
            (PyCallback::Call(f), None) => f.bind(py).call0()?,
            (PyCallback::Call(f), Some(o)) => f.bind(py).call1((o,))?,
            (PyCallback::Generator(g), o) => {
                let none = py.None().into_bound(py);
                match g
                    .bind(py)
                    .call_method1(intern!(py, "send"), (o.unwrap_or(&none),))
                {
                    Ok(out) => out,
                    Err(e) if e.is_instance_of::<pyo3::exceptions::PyStopIteration>(py) => {
                        return Ok(None)
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        Ok(Some(out).filter(|o| !o.is_none()))
    }

    /// Report each observation of `out` through `observe`.
    fn observe_all(
        &self,
        out: &Bound<'_, PyAny>,
        observe: &mut dyn FnMut(Number, AttributeSet),
    ) -> PyResult<()> {
        let py = out.py();
        for item in out.try_iter()? {
            let item = item?;
            let (value, attrs) = if let Ok(t) = item.cast::<PyTuple>() {
                (t.get_item(0)?, t.get_item(1).ok())
            } else if let Ok(v) = item.getattr(intern!(py, "value")) {
                (v, item.getattr(intern!(py, "attributes")).ok())
            } else {
                (item.clone(), None)
            };
            let Some(api) = &self.api else {
                let n = number(&value, "observation")?;
                observe(n, attribute_set(attrs.as_ref(), Mode::Raise)?);
                continue;
            };
            // The OpenTelemetry SDK skips an observation it cannot use, not the rest.
            let policy = api.exporter.policy();
            let checked = number(&value, "observation").and_then(|n| {
                api.kind
                    .check_api(n)
                    .map_err(|e| PyValueError::new_err(format!("observation: {e}")))
            });
            match checked {
                Ok(n) => observe(n, attribute_set(attrs.as_ref(), Mode::Api(policy))?),
                Err(e) => policy::bad_measurement(py, policy, &api.name, e)?,
            }
        }
        Ok(())
    }
}

impl Callback for PyCallbacks {
    fn call(&self, observe: &mut dyn FnMut(Number, AttributeSet)) -> Result<(), String> {
        crate::gil::attach(|py| {
            let mut first_error = None;
            for cb in &self.callbacks {
                let result = self
                    .run(py, cb)
                    .and_then(|out| out.map_or(Ok(()), |out| self.observe_all(&out, observe)));
                if let Err(e) = result {
                    first_error.get_or_insert_with(|| e.to_string());
                }
            }
            first_error.map_or(Ok(()), Err)
        })
        .unwrap_or_else(|| Err("not run: the interpreter is exiting".into()))
    }
}

/// An instrument, the exporter whose policy judges its measurements, and whose rules
/// they follow: otlp's API, or the OpenTelemetry API's (`api`).
struct Handle {
    inst: Arc<Instrument>,
    exporter: Arc<otlp::Exporter>,
    api: bool,
}

impl Handle {
    fn policy(&self) -> &Policy {
        self.exporter.policy()
    }

    fn mode(&self) -> Mode<'_> {
        match self.api {
            true => Mode::Api(self.policy()),
            false => Mode::Native(self.policy()),
        }
    }

    /// Run `record` unless the exporter is shut down; a measurement it refuses is the
    /// policy's to drop (counted, reported once) or raise.
    fn measure(&self, py: Python<'_>, record: impl FnOnce() -> PyResult<()>) -> PyResult<()> {
        if policy::closed(py, self.policy(), "a measurement was recorded")? {
            return Ok(());
        }
        record()
            .or_else(|e| policy::bad_measurement(py, self.policy(), &self.inst.descriptor.name, e))
    }

    /// One measurement of the call `what`.
    fn one(
        &self,
        py: Python<'_>,
        value: &Bound<'_, PyAny>,
        attributes: Option<&Bound<'_, PyAny>>,
        what: &str,
    ) -> PyResult<()> {
        self.measure(py, || {
            let kind = self.inst.descriptor.kind;
            let n = number(value, what)?;
            let n = match self.api {
                true => kind.check_api(n),
                false => kind.check(n),
            }
            .map_err(refused(what))?;
            let attrs = attribute_set(attributes, self.mode())?;
            self.inst
                .record(n, attrs, now_unix_nano())
                .map_err(refused(what))
        })
    }

    /// Counter and up-down counter `add_many`: one increment per value.
    fn add_many(
        &self,
        py: Python<'_>,
        values: &Bound<'_, PyAny>,
        attributes: Option<&Bound<'_, PyAny>>,
        what: &str,
    ) -> PyResult<()> {
        self.measure(py, || {
            let attrs = attribute_set(attributes, Mode::Native(self.policy()))?;
            let vals = self::values(values, what)?;
            let summary;
            let increments = if vals.is_int() {
                let (sum, min) = vals.int_sum_min();
                Increments::Ints {
                    count: vals.len(),
                    sum,
                    min,
                }
            } else {
                summary = aggregate(py, &vals, &[]).1;
                Increments::Floats(&summary)
            };
            self.inst
                .add_many(increments, attrs, now_unix_nano())
                .map_err(refused(what))
        })
    }
}

/// An instrument class: `one` records a single measurement (`add`, `record`, `set`),
/// `many` adds a batch of increments, `api` records one by the OpenTelemetry API's
/// signature and rules (`add(amount, attributes=None, context=None)`).
macro_rules! instrument_class {
    (
        $py:ident, $name:literal,
        $(one: $(#[$doc:meta])* $one:ident,)?
        $(many: $many:ident,)?
        $(api: $api:ident,)?
        { $($methods:tt)* }
    ) => {
        #[pyclass(frozen, name = $name, module = "otlp")]
        pub struct $py(Handle);

        #[pymethods]
        impl $py {
            $(
                $(#[$doc])*
                #[pyo3(signature = (value, attributes = None))]
                fn $one(
                    &self,
                    py: Python<'_>,
                    value: &Bound<'_, PyAny>,
                    attributes: Option<&Bound<'_, PyAny>>,
                ) -> PyResult<()> {
                    self.0.one(py, value, attributes, concat!($name, ".", stringify!($one)))
                }
            )?

            $(
                /// Add every value of a 1-D array (float64, float32, int64, int32; not
                /// copied) or sequence; all or nothing.
                #[pyo3(signature = (values, attributes = None))]
                fn $many(
                    &self,
                    py: Python<'_>,
                    values: &Bound<'_, PyAny>,
                    attributes: Option<&Bound<'_, PyAny>>,
                ) -> PyResult<()> {
                    self.0.add_many(py, values, attributes, concat!($name, ".", stringify!($many)))
                }
            )?

            $(
                /// Record one measurement; `context` is accepted for the API's sake
                /// (no exemplars are kept).
                #[pyo3(signature = (amount, attributes = None, context = None))]
                fn $api(
                    &self,
                    py: Python<'_>,
                    amount: &Bound<'_, PyAny>,
                    attributes: Option<&Bound<'_, PyAny>>,
                    context: Option<&Bound<'_, PyAny>>,
                ) -> PyResult<()> {
                    let _ = context;
                    self.0.one(py, amount, attributes, concat!($name, ".", stringify!($api)))
                }
            )?

            $($methods)*

            #[getter]
            fn name(&self) -> &str {
                &self.0.inst.descriptor.name
            }

            #[getter]
            fn unit(&self) -> &str {
                &self.0.inst.descriptor.unit
            }

            #[getter]
            fn description(&self) -> &str {
                &self.0.inst.descriptor.description
            }

            fn __repr__(&self) -> String {
                format!("{}({:?})", $name, self.0.inst.descriptor.name)
            }
        }
    };
}

instrument_class!(PyObservable, "ObservableInstrument", {});
instrument_class!(PyCounter, "Counter",
    one: /// Add a non-negative increment.
    add,
    many: add_many,
    {}
);
instrument_class!(PyUpDownCounter, "UpDownCounter",
    one: /// Add an increment (it may be negative).
    add,
    many: add_many,
    {}
);
instrument_class!(PyGauge, "Gauge",
    one: /// Set the current value.
    set,
    {}
);
instrument_class!(PyHistogram, "Histogram",
    one: /// Record one value.
    record,
    {
    /// Record every value of a 1-D array (float64, float32, int64, int32; not copied,
    /// aggregated with the GIL released) or sequence; all or nothing.
    #[pyo3(signature = (values, attributes = None))]
    fn record_many(
        &self,
        py: Python<'_>,
        values: &Bound<'_, PyAny>,
        attributes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        const WHAT: &str = "Histogram.record_many";
        let h = &self.0;
        h.measure(py, || {
            let attrs = attribute_set(attributes, Mode::Native(h.policy()))?;
            let vals = self::values(values, WHAT)?;
            let (counts, s) = aggregate(py, &vals, &h.inst.descriptor.boundaries);
            h.inst.record_many(&counts, &s, attrs, now_unix_nano()).map_err(refused(WHAT))
        })
    }

    #[getter]
    fn boundaries(&self) -> Vec<f64> {
        self.0.inst.descriptor.boundaries.clone()
    }
});

instrument_class!(PyOtelCounter, "OtelCounter", api: add, {});
instrument_class!(PyOtelUpDownCounter, "OtelUpDownCounter", api: add, {});
instrument_class!(PyOtelHistogram, "OtelHistogram", api: record, {
    #[getter]
    fn boundaries(&self) -> Vec<f64> {
        self.0.inst.descriptor.boundaries.clone()
    }
});
instrument_class!(PyOtelGauge, "OtelGauge", api: set, {});
instrument_class!(PyOtelObservableCounter, "OtelObservableCounter", {});
instrument_class!(
    PyOtelObservableUpDownCounter,
    "OtelObservableUpDownCounter",
    {}
);
instrument_class!(PyOtelObservableGauge, "OtelObservableGauge", {});

impl PyMeter {
    /// A meter of `scope`; `metrics` is `None` after the exporter was shut down.
    pub fn new(
        exporter: Arc<otlp::Exporter>,
        metrics: Option<Arc<MetricsExporter>>,
        scope: Arc<Scope>,
    ) -> Self {
        Self {
            exporter,
            metrics,
            scope,
        }
    }

    /// The instrument of `descriptor`, registered with the exporter.
    fn register(&self, descriptor: Descriptor) -> Arc<Instrument> {
        match &self.metrics {
            Some(exporter) => exporter.instrument(&self.scope, descriptor),
            // Made after shutdown: never collected, and every measurement is refused
            // before reaching it.
            None => Arc::new(Instrument::new(
                descriptor,
                TemporalityPreference::Cumulative,
                2,
                now_unix_nano(),
            )),
        }
    }

    /// An OpenTelemetry API instrument (see [`Descriptor::opentelemetry`]): an
    /// invalid name or unit raises `ValueError` (the Python meter reports it and
    /// hands out a no-op instrument); advisory histogram boundaries that cannot be
    /// used are reported and replaced by the defaults.
    fn otel(
        &self,
        py: Python<'_>,
        name: &str,
        unit: &str,
        description: &str,
        kind: InstrumentKind,
        boundaries: Option<Vec<f64>>,
    ) -> PyResult<Handle> {
        let make = |b| Descriptor::opentelemetry(name, unit, description, kind, b);
        let descriptor = match make(boundaries.clone()) {
            Ok(d) => d,
            Err(e) => match boundaries.map(|_| make(None)) {
                Some(Ok(d)) => {
                    policy::warn(
                        py,
                        &format!(
                            "histogram {name:?}: explicit_bucket_boundaries_advisory ignored: \
                             {e}; the default boundaries are used"
                        ),
                    );
                    d
                }
                _ => return Err(PyValueError::new_err(e.to_string())),
            },
        };
        Ok(Handle {
            inst: self.register(descriptor),
            exporter: self.exporter.clone(),
            api: true,
        })
    }

    /// An OpenTelemetry API observable instrument and its callbacks, which are given
    /// a `CallbackOptions` whose timeout is the metrics export timeout.
    fn otel_observable(
        &self,
        py: Python<'_>,
        name: &str,
        callbacks: Option<&Bound<'_, PyAny>>,
        unit: &str,
        description: &str,
        kind: InstrumentKind,
    ) -> PyResult<Handle> {
        let handle = self.otel(py, name, unit, description, kind, None)?;
        let timeout = self
            .metrics
            .as_ref()
            .map_or(MetricsConfig::default().timeout, |m| m.config().timeout);
        let kwargs = PyDict::new(py);
        kwargs.set_item("timeout_millis", timeout.as_secs_f64() * 1000.0)?;
        let options = py
            .import(intern!(py, "opentelemetry.metrics"))?
            .getattr(intern!(py, "CallbackOptions"))?
            .call((), Some(&kwargs))?;
        let generator = py
            .import(intern!(py, "collections.abc"))?
            .getattr(intern!(py, "Generator"))?;
        let mut list = Vec::new();
        if let Some(cbs) = callbacks.filter(|c| !c.is_none()) {
            for cb in cbs.try_iter()? {
                let cb = cb?;
                if cb.is_instance(&generator)? {
                    // Run to its first `yield`, where it waits for the options.
                    cb.call_method0(intern!(py, "__next__"))?;
                    list.push(PyCallback::Generator(cb.unbind()));
                } else if cb.is_callable() {
                    list.push(PyCallback::Call(cb.unbind()));
                } else {
                    return Err(PyTypeError::new_err(format!(
                        "`callbacks` must hold callables taking a CallbackOptions, or \
                         generators; got {}",
                        type_name(&cb)
                    )));
                }
            }
        }
        if let Some(exporter) = self.metrics.as_ref().filter(|_| !list.is_empty()) {
            let callbacks = PyCallbacks {
                callbacks: list,
                api: Some(ApiCallbacks {
                    options: options.unbind(),
                    kind,
                    name: handle.inst.descriptor.name.clone(),
                    exporter: self.exporter.clone(),
                }),
            };
            exporter.register_callback(handle.inst.clone(), Arc::new(callbacks));
        }
        Ok(handle)
    }

    fn make(
        &self,
        name: &str,
        unit: &str,
        description: &str,
        kind: InstrumentKind,
        boundaries: Option<Vec<f64>>,
    ) -> PyResult<Handle> {
        let descriptor = Descriptor::new(name, unit, description, kind, boundaries)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Handle {
            inst: self.register(descriptor),
            exporter: self.exporter.clone(),
            api: false,
        })
    }

    fn observable(
        &self,
        name: &str,
        callbacks: Option<&Bound<'_, PyAny>>,
        unit: &str,
        description: &str,
        kind: InstrumentKind,
    ) -> PyResult<PyObservable> {
        let handle = self.make(name, unit, description, kind, None)?;
        let mut list = Vec::new();
        if let Some(cbs) = callbacks.filter(|c| !c.is_none()) {
            for cb in cbs.try_iter()? {
                let cb = cb?;
                if !cb.is_callable() {
                    return Err(PyTypeError::new_err(format!(
                        "`callbacks` must hold callables taking no arguments; got {}",
                        type_name(&cb)
                    )));
                }
                list.push(PyCallback::Call(cb.unbind()));
            }
        }
        if let Some(exporter) = self.metrics.as_ref().filter(|_| !list.is_empty()) {
            let callbacks = Arc::new(PyCallbacks {
                callbacks: list,
                api: None,
            });
            exporter.register_callback(handle.inst.clone(), callbacks);
        }
        Ok(PyObservable(handle))
    }
}

#[pymethods]
impl PyMeter {
    /// A monotonic counter (sum of non-negative increments).
    #[pyo3(signature = (name, *, unit = "", description = ""))]
    fn counter(&self, name: &str, unit: &str, description: &str) -> PyResult<PyCounter> {
        let kind = InstrumentKind::Counter;
        Ok(PyCounter(self.make(name, unit, description, kind, None)?))
    }

    /// A counter that can go down.
    #[pyo3(signature = (name, *, unit = "", description = ""))]
    fn up_down_counter(
        &self,
        name: &str,
        unit: &str,
        description: &str,
    ) -> PyResult<PyUpDownCounter> {
        let kind = InstrumentKind::UpDownCounter;
        Ok(PyUpDownCounter(self.make(
            name,
            unit,
            description,
            kind,
            None,
        )?))
    }

    /// A histogram with explicit bucket boundaries (the OTel defaults unless given).
    #[pyo3(signature = (name, *, unit = "", description = "", boundaries = None))]
    fn histogram(
        &self,
        name: &str,
        unit: &str,
        description: &str,
        boundaries: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyHistogram> {
        let (kind, b) = (InstrumentKind::Histogram, self::boundaries(boundaries)?);
        Ok(PyHistogram(self.make(name, unit, description, kind, b)?))
    }

    /// A gauge: the last value set per attribute set.
    #[pyo3(signature = (name, *, unit = "", description = ""))]
    fn gauge(&self, name: &str, unit: &str, description: &str) -> PyResult<PyGauge> {
        let kind = InstrumentKind::Gauge;
        Ok(PyGauge(self.make(name, unit, description, kind, None)?))
    }

    /// A counter observed by `callbacks` at each collection (cumulative totals).
    #[pyo3(signature = (name, callbacks = None, *, unit = "", description = ""))]
    fn observable_counter(
        &self,
        name: &str,
        callbacks: Option<&Bound<'_, PyAny>>,
        unit: &str,
        description: &str,
    ) -> PyResult<PyObservable> {
        let kind = InstrumentKind::ObservableCounter;
        self.observable(name, callbacks, unit, description, kind)
    }

    /// An up-down counter observed by `callbacks` at each collection.
    #[pyo3(signature = (name, callbacks = None, *, unit = "", description = ""))]
    fn observable_up_down_counter(
        &self,
        name: &str,
        callbacks: Option<&Bound<'_, PyAny>>,
        unit: &str,
        description: &str,
    ) -> PyResult<PyObservable> {
        let kind = InstrumentKind::ObservableUpDownCounter;
        self.observable(name, callbacks, unit, description, kind)
    }

    /// A gauge observed by `callbacks` at each collection.
    #[pyo3(signature = (name, callbacks = None, *, unit = "", description = ""))]
    fn observable_gauge(
        &self,
        name: &str,
        callbacks: Option<&Bound<'_, PyAny>>,
        unit: &str,
        description: &str,
    ) -> PyResult<PyObservable> {
        let kind = InstrumentKind::ObservableGauge;
        self.observable(name, callbacks, unit, description, kind)
    }

    /// An OpenTelemetry API counter (`otlp.otel.Meter.create_counter`).
    #[pyo3(signature = (name, unit = "", description = ""))]
    fn _otel_counter(
        &self,
        py: Python<'_>,
        name: &str,
        unit: &str,
        description: &str,
    ) -> PyResult<PyOtelCounter> {
        let kind = InstrumentKind::Counter;
        Ok(PyOtelCounter(self.otel(
            py,
            name,
            unit,
            description,
            kind,
            None,
        )?))
    }

    /// An OpenTelemetry API up-down counter.
    #[pyo3(signature = (name, unit = "", description = ""))]
    fn _otel_up_down_counter(
        &self,
        py: Python<'_>,
        name: &str,
        unit: &str,
        description: &str,
    ) -> PyResult<PyOtelUpDownCounter> {
        let kind = InstrumentKind::UpDownCounter;
        let handle = self.otel(py, name, unit, description, kind, None)?;
        Ok(PyOtelUpDownCounter(handle))
    }

    /// An OpenTelemetry API histogram; `boundaries` is the
    /// `explicit_bucket_boundaries_advisory`.
    #[pyo3(signature = (name, unit = "", description = "", boundaries = None))]
    fn _otel_histogram(
        &self,
        py: Python<'_>,
        name: &str,
        unit: &str,
        description: &str,
        boundaries: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyOtelHistogram> {
        let b = match self::boundaries(boundaries) {
            Ok(b) => b,
            Err(e) => {
                let why = e.value(py).to_string();
                policy::warn(
                    py,
                    &format!(
                        "histogram {name:?}: explicit_bucket_boundaries_advisory ignored: \
                         {why}; the default boundaries are used"
                    ),
                );
                None
            }
        };
        let kind = InstrumentKind::Histogram;
        Ok(PyOtelHistogram(self.otel(
            py,
            name,
            unit,
            description,
            kind,
            b,
        )?))
    }

    /// An OpenTelemetry API (synchronous) gauge.
    #[pyo3(signature = (name, unit = "", description = ""))]
    fn _otel_gauge(
        &self,
        py: Python<'_>,
        name: &str,
        unit: &str,
        description: &str,
    ) -> PyResult<PyOtelGauge> {
        let kind = InstrumentKind::Gauge;
        Ok(PyOtelGauge(self.otel(
            py,
            name,
            unit,
            description,
            kind,
            None,
        )?))
    }

    /// An OpenTelemetry API observable counter.
    #[pyo3(signature = (name, callbacks = None, unit = "", description = ""))]
    fn _otel_observable_counter(
        &self,
        py: Python<'_>,
        name: &str,
        callbacks: Option<&Bound<'_, PyAny>>,
        unit: &str,
        description: &str,
    ) -> PyResult<PyOtelObservableCounter> {
        let kind = InstrumentKind::ObservableCounter;
        let handle = self.otel_observable(py, name, callbacks, unit, description, kind)?;
        Ok(PyOtelObservableCounter(handle))
    }

    /// An OpenTelemetry API observable up-down counter.
    #[pyo3(signature = (name, callbacks = None, unit = "", description = ""))]
    fn _otel_observable_up_down_counter(
        &self,
        py: Python<'_>,
        name: &str,
        callbacks: Option<&Bound<'_, PyAny>>,
        unit: &str,
        description: &str,
    ) -> PyResult<PyOtelObservableUpDownCounter> {
        let kind = InstrumentKind::ObservableUpDownCounter;
        let handle = self.otel_observable(py, name, callbacks, unit, description, kind)?;
        Ok(PyOtelObservableUpDownCounter(handle))
    }

    /// An OpenTelemetry API observable gauge.
    #[pyo3(signature = (name, callbacks = None, unit = "", description = ""))]
    fn _otel_observable_gauge(
        &self,
        py: Python<'_>,
        name: &str,
        callbacks: Option<&Bound<'_, PyAny>>,
        unit: &str,
        description: &str,
    ) -> PyResult<PyOtelObservableGauge> {
        let kind = InstrumentKind::ObservableGauge;
        let handle = self.otel_observable(py, name, callbacks, unit, description, kind)?;
        Ok(PyOtelObservableGauge(handle))
    }

    #[getter]
    fn name(&self) -> &str {
        &self.scope.name
    }

    fn __repr__(&self) -> String {
        format!(
            "Meter(name={:?}, version={:?})",
            self.scope.name, self.scope.version
        )
    }
}

/// Kernel results for tests: `(count, sum, min, max, nan_count, bucket_counts)`
/// from the chosen kernel (`"avx2"`, `"scalar"`, or `None` for the detected one).
#[pyfunction]
#[pyo3(signature = (values, boundaries, kernel = None))]
pub fn _aggregate(
    py: Python<'_>,
    values: &Bound<'_, PyAny>,
    boundaries: Vec<f64>,
    kernel: Option<&str>,
) -> PyResult<(u64, f64, f64, f64, u64, Vec<u64>)> {
    let kernels = match kernel {
        None => Kernels::detect(),
        Some("scalar") => Kernels::Scalar,
        Some("avx2") if Kernels::Avx2.available() => Kernels::Avx2,
        Some(k) => {
            return Err(PyValueError::new_err(format!(
                "kernel {k:?} is not available here"
            )))
        }
    };
    let vals = self::values(values, "_aggregate")?;
    let mut counts = vec![0u64; boundaries.len() + 1];
    let s = crate::gil::detach(py, || vals.histogram(kernels, &boundaries, &mut counts));
    Ok((s.count, s.sum, s.min, s.max, s.nan_count, counts))
}

/// The kernel in use: "avx2" or "scalar".
#[pyfunction]
pub fn _kernel() -> &'static str {
    Kernels::detect().name()
}
