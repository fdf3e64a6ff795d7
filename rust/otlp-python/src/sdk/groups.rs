//! The resources and instrumentation scopes of SDK spans and log records, as shared
//! values.
//!
//! Upstream groups a request's items with nested dicts keyed by the resource and the
//! scope objects, so by their `==` and `hash`, and encodes the first object seen for a
//! key. Hashing a `Resource` serialises its attributes to JSON (microseconds per
//! span), so objects are looked up by identity first, holding a strong reference so
//! that an address cannot be reused, and by equality only the first time an object is
//! seen. A dict finds an object equal to itself without calling `__eq__`, so the two
//! agree: grouping is upstream's exactly.
//!
//! The tables live for one `encode_*` call, or for the life of an SDK exporter or
//! processor (bounded then: past `limit` objects they start over). No lock is held
//! while Python code runs (`__hash__`, `__eq__`, attribute reads): that code may end a
//! span or log a record through the same processor. Two threads meeting a new object
//! at once may each make a value for it; both are correct, their items are merely
//! grouped apart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use otlp::model::{Resource, Scope};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::fields::{attrs_within, opt_string};

/// An object seen, held so that its address stays its own.
struct Seen {
    _object: Py<PyAny>,
    index: usize,
}

struct ResourceGroup {
    value: Arc<Resource>,
    scope_ids: HashMap<usize, Seen>,
    /// `scope or None` -> index into `scopes`.
    scopes_eq: Option<Py<PyDict>>,
    scopes: Vec<Arc<Scope>>,
}

#[derive(Default)]
struct Tables {
    /// Bumped when the tables start over: indexes taken before are stale.
    generation: u64,
    /// Objects held (resources and scopes).
    held: usize,
    /// The last pair found, by address (held in the tables while `generation` holds).
    last: Option<(usize, usize, Arc<Resource>, Arc<Scope>)>,
    resource_ids: HashMap<usize, Seen>,
    resources_eq: Option<Py<PyDict>>,
    resources: Vec<ResourceGroup>,
}

/// Resources and scopes to shared values (see the module's documentation).
pub struct Groups {
    tables: Mutex<Tables>,
    /// Most objects held; `None` for one call, whose input bounds them.
    limit: Option<usize>,
}

fn address(obj: &Bound<'_, PyAny>) -> usize {
    obj.as_ptr() as usize
}

fn dict<'py>(py: Python<'py>, slot: &mut Option<Py<PyDict>>) -> Bound<'py, PyDict> {
    slot.get_or_insert_with(|| PyDict::new(py).unbind())
        .bind(py)
        .clone()
}

fn resource_value(obj: &Bound<'_, PyAny>) -> PyResult<Resource> {
    let py = obj.py();
    Ok(Resource {
        attributes: attrs_within(&obj.getattr(intern!(py, "attributes"))?, 99)?,
        // The official encoder writes no dropped count for resources and scopes.
        dropped_attributes_count: 0,
        schema_url: opt_string(&obj.getattr(intern!(py, "schema_url"))?)?,
    })
}

fn scope_value(obj: &Bound<'_, PyAny>) -> PyResult<Scope> {
    if obj.is_none() {
        return Ok(Scope::default());
    }
    let py = obj.py();
    Ok(Scope {
        name: opt_string(&obj.getattr(intern!(py, "name"))?)?,
        version: opt_string(&obj.getattr(intern!(py, "version"))?)?,
        attributes: attrs_within(&obj.getattr(intern!(py, "attributes"))?, 98)?,
        dropped_attributes_count: 0,
        schema_url: opt_string(&obj.getattr(intern!(py, "schema_url"))?)?,
    })
}

impl Groups {
    /// Tables for one call.
    pub fn new() -> Self {
        Self {
            tables: Mutex::new(Tables::default()),
            limit: None,
        }
    }

    /// Tables kept across calls, holding at most `limit` objects.
    pub fn bounded(limit: usize) -> Self {
        Self {
            tables: Mutex::new(Tables::default()),
            limit: Some(limit),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The shared values of an item's `resource` and `instrumentation_scope` (as the
    /// item has it: `scope or None` is applied here).
    pub fn get(
        &self,
        resource: &Bound<'_, PyAny>,
        scope: &Bound<'_, PyAny>,
    ) -> PyResult<(Arc<Resource>, Arc<Scope>)> {
        let (r, s) = (address(resource), address(scope));
        let (generation, found) = {
            let mut t = self.lock();
            if let Some((lr, ls, rv, sv)) = &t.last {
                if (*lr, *ls) == (r, s) {
                    return Ok((rv.clone(), sv.clone()));
                }
            }
            if self.limit.is_some_and(|l| t.held >= l) {
                let old = std::mem::take(&mut *t);
                t.generation = old.generation + 1;
                drop(t);
                // Dropped unlocked: a finaliser may run Python code.
                drop(old);
                t = self.lock();
            }
            let found = match t.resource_ids.get(&r) {
                Some(seen) => {
                    let group = &t.resources[seen.index];
                    if let Some(scope) = group.scope_ids.get(&s) {
                        let pair = (group.value.clone(), group.scopes[scope.index].clone());
                        t.last = Some((r, s, pair.0.clone(), pair.1.clone()));
                        return Ok(pair);
                    }
                    Some((seen.index, group.value.clone()))
                }
                None => None,
            };
            (t.generation, found)
        };
        let (ri, resource_value) = match found {
            Some((ri, value)) => (Some(ri), value),
            None => self.resource(resource, generation)?,
        };
        let scope_value = match ri {
            Some(ri) => self.scope(ri, scope, generation)?,
            // The tables started over meanwhile: a value of its own.
            None => Arc::new(scope_value(&or_none(scope)?)?),
        };
        Ok((resource_value, scope_value))
    }

    /// A resource not seen by identity: found by equality, or converted.
    fn resource(
        &self,
        obj: &Bound<'_, PyAny>,
        generation: u64,
    ) -> PyResult<(Option<usize>, Arc<Resource>)> {
        let py = obj.py();
        let eq = {
            let mut t = self.lock();
            (t.generation == generation).then(|| dict(py, &mut t.resources_eq))
        };
        let Some(eq) = eq else {
            return Ok((None, Arc::new(resource_value(obj)?)));
        };
        if let Some(index) = eq.get_item(obj)? {
            let index: usize = index.extract()?;
            let mut t = self.lock();
            if t.generation == generation {
                t.resource_ids.insert(
                    address(obj),
                    Seen {
                        _object: obj.clone().unbind(),
                        index,
                    },
                );
                t.held += 1;
                return Ok((Some(index), t.resources[index].value.clone()));
            }
        }
        let value = Arc::new(resource_value(obj)?);
        let mut t = self.lock();
        if t.generation != generation {
            return Ok((None, value));
        }
        let index = t.resources.len();
        t.resources.push(ResourceGroup {
            value: value.clone(),
            scope_ids: HashMap::new(),
            scopes_eq: None,
            scopes: Vec::new(),
        });
        t.resource_ids.insert(
            address(obj),
            Seen {
                _object: obj.clone().unbind(),
                index,
            },
        );
        t.held += 1;
        drop(t);
        eq.set_item(obj, index)?;
        Ok((Some(index), value))
    }

    /// A scope not seen by identity within resource `ri`.
    fn scope(&self, ri: usize, raw: &Bound<'_, PyAny>, generation: u64) -> PyResult<Arc<Scope>> {
        let py = raw.py();
        let obj = or_none(raw)?;
        let eq = {
            let mut t = self.lock();
            (t.generation == generation).then(|| dict(py, &mut t.resources[ri].scopes_eq))
        };
        let Some(eq) = eq else {
            return Ok(Arc::new(scope_value(&obj)?));
        };
        let seen = |index| Seen {
            _object: raw.clone().unbind(),
            index,
        };
        if let Some(index) = eq.get_item(&obj)? {
            let index: usize = index.extract()?;
            let mut t = self.lock();
            if t.generation == generation {
                t.resources[ri].scope_ids.insert(address(raw), seen(index));
                t.held += 1;
                return Ok(t.resources[ri].scopes[index].clone());
            }
        }
        let value = Arc::new(scope_value(&obj)?);
        let mut t = self.lock();
        if t.generation != generation {
            return Ok(value);
        }
        let group = &mut t.resources[ri];
        let index = group.scopes.len();
        group.scopes.push(value.clone());
        group.scope_ids.insert(address(raw), seen(index));
        t.held += 1;
        drop(t);
        eq.set_item(&obj, index)?;
        Ok(value)
    }
}

/// `instrumentation_scope or None`, as upstream keys and encodes it.
fn or_none<'py>(scope: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if scope.is_truthy()? {
        Ok(scope.clone())
    } else {
        Ok(scope.py().None().into_bound(scope.py()))
    }
}
