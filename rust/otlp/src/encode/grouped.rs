//! Requests shaped `resource_* { resource, scope_* { scope, items }, schema_url }`:
//! traces and logs.
//!
//! Items are grouped by resource, then by scope, both in order of first appearance,
//! and keep their input order inside a group, as the official Python encoder does.
//! Groups are keyed by `Arc` identity: producers share one `Arc` per distinct resource
//! and scope.

use std::borrow::Borrow;
use std::sync::Arc;

use super::protobuf::*;
use crate::model::{Resource, Scope};

/// An item of a grouped request.
pub trait Grouped {
    /// The item's resource; items group by its identity, not its contents.
    fn resource(&self) -> &Arc<Resource>;
    /// The item's instrumentation scope; grouped by identity too.
    fn scope(&self) -> &Arc<Scope>;
    /// Encoded size of the item's message.
    fn encoded_len(&self) -> usize;
    /// Append the item's message (without its field header).
    fn write(&self, buf: &mut Vec<u8>);
}

pub(crate) struct ScopeGroup<'a, T> {
    pub(crate) scope: &'a Arc<Scope>,
    pub(crate) items: Vec<&'a T>,
    len: usize,
}

pub(crate) struct ResourceGroup<'a, T> {
    pub(crate) resource: &'a Arc<Resource>,
    pub(crate) scopes: Vec<ScopeGroup<'a, T>>,
    len: usize,
}

/// A batch of items, grouped and sized, ready to be written.
pub struct GroupedRequest<'a, T> {
    pub(crate) groups: Vec<ResourceGroup<'a, T>>,
    item_lens: Vec<usize>,
    len: usize,
}

impl<'a, T: Grouped> GroupedRequest<'a, T> {
    /// Group and size `items` (owned or boxed: the pipelines queue boxes).
    pub fn new<S: Borrow<T>>(items: &'a [S]) -> Self {
        let mut request = Self::grouped(items);
        request.size();
        request
    }

    /// Group `items`, without sizing them: for [`write_grouped`] and the JSON
    /// encoder, which need no sizes first.
    pub(crate) fn grouped<S: Borrow<T>>(items: &'a [S]) -> Self {
        let mut groups: Vec<ResourceGroup<'a, T>> = Vec::new();
        for item in items {
            let span: &'a T = item.borrow();
            let rg = match groups
                .iter_mut()
                .position(|g| Arc::ptr_eq(g.resource, span.resource()))
            {
                Some(i) => &mut groups[i],
                None => {
                    groups.push(ResourceGroup {
                        resource: span.resource(),
                        scopes: Vec::new(),
                        len: 0,
                    });
                    groups.last_mut().expect("just pushed")
                }
            };
            match rg
                .scopes
                .iter_mut()
                .find(|g| Arc::ptr_eq(g.scope, span.scope()))
            {
                Some(sg) => sg.items.push(span),
                None => rg.scopes.push(ScopeGroup {
                    scope: span.scope(),
                    items: vec![span],
                    len: 0,
                }),
            }
        }
        Self {
            groups,
            item_lens: Vec::new(),
            len: 0,
        }
    }

    /// Size the groups, innermost first; item sizes are kept for the writing pass.
    fn size(&mut self) {
        let mut item_lens = Vec::new();
        let mut len = 0;
        for rg in &mut self.groups {
            let mut scopes_len = 0;
            for sg in &mut rg.scopes {
                let mut spans_len = 0;
                for item in &sg.items {
                    let l = item.encoded_len();
                    item_lens.push(l);
                    spans_len += len_field_len(2, l);
                }
                sg.len = len_field_len(1, scope_len(sg.scope))
                    + spans_len
                    + opt_len_field_len(3, sg.scope.schema_url.len());
                scopes_len += len_field_len(2, sg.len);
            }
            rg.len = len_field_len(1, resource_len(rg.resource))
                + scopes_len
                + opt_len_field_len(3, rg.resource.schema_url.len());
            len += len_field_len(1, rg.len);
        }
        self.item_lens = item_lens;
        self.len = len;
    }

    /// Encoded size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the request encodes to nothing (no items).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Append the encoded request to `buf` (exactly [`Self::len`] bytes).
    pub fn write(&self, buf: &mut Vec<u8>) {
        buf.reserve(self.len);
        let start = buf.len();
        let mut lens = self.item_lens.iter();
        for rg in &self.groups {
            put_len_header(buf, 1, rg.len);
            put_len_header(buf, 1, resource_len(rg.resource));
            put_resource(buf, rg.resource);
            for sg in &rg.scopes {
                put_len_header(buf, 2, sg.len);
                put_len_header(buf, 1, scope_len(sg.scope));
                put_scope(buf, sg.scope);
                for item in &sg.items {
                    let l = *lens.next().expect("one size per item");
                    put_len_header(buf, 2, l);
                    item.write(buf);
                }
                put_opt_bytes_field(buf, 3, sg.scope.schema_url.as_bytes());
            }
            put_opt_bytes_field(buf, 3, rg.resource.schema_url.as_bytes());
        }
        debug_assert_eq!(buf.len() - start, self.len);
    }
}

/// Bytes kept for the length of an item: its varint takes two bytes from 128 bytes to
/// 16 KiB, where nearly every span and log record falls.
const ITEM_LEN_KEPT: usize = 2;

/// Bytes kept for the length of a group: three bytes from 16 KiB to 2 MiB, where a
/// full batch's groups fall.
const GROUP_LEN_KEPT: usize = 3;

/// Append the request for `items` to `buf`, in one pass: each item, scope group and
/// resource group is written after a few bytes kept for its length, filled in when it
/// is done (see [`patch_len`]), instead of sizing everything first. The bytes are
/// those of [`GroupedRequest::write`].
pub fn write_grouped<T: Grouped, S: Borrow<T>>(items: &[S], buf: &mut Vec<u8>) {
    let request = GroupedRequest::<T>::grouped(items);
    for rg in &request.groups {
        put_tag(buf, 1, WIRE_LEN);
        let resource_at = keep_len(buf, GROUP_LEN_KEPT);
        put_len_header(buf, 1, resource_len(rg.resource));
        put_resource(buf, rg.resource);
        for sg in &rg.scopes {
            put_tag(buf, 2, WIRE_LEN);
            let scope_at = keep_len(buf, GROUP_LEN_KEPT);
            put_len_header(buf, 1, scope_len(sg.scope));
            put_scope(buf, sg.scope);
            for item in &sg.items {
                put_tag(buf, 2, WIRE_LEN);
                let at = keep_len(buf, ITEM_LEN_KEPT);
                item.write(buf);
                patch_len(buf, at, ITEM_LEN_KEPT);
            }
            put_opt_bytes_field(buf, 3, sg.scope.schema_url.as_bytes());
            patch_len(buf, scope_at, GROUP_LEN_KEPT);
        }
        put_opt_bytes_field(buf, 3, rg.resource.schema_url.as_bytes());
        patch_len(buf, resource_at, GROUP_LEN_KEPT);
    }
}
