//! Interned text: attribute keys and span names repeat from span to span, so each
//! distinct one is stored once for the life of the process and every span that uses
//! it points at that copy. A span then costs no allocation for them on the thread that
//! makes it and no free on the thread that exports it.
//!
//! The tables are bounded (entries, bytes, length of one string): an application that
//! makes keys or names without end fills them once and gets plain copies from then
//! on. A lookup never waits: each thread reads its own cache, and a miss takes the
//! shared table only if it is free, so contention, or a child forked while another
//! thread held it, costs a copy, never a wait.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Text that is either interned (`'static`) or owned by the value holding it.
pub type Text = Cow<'static, str>;

/// Which table a string goes to: kept apart so that names or values made without end
/// (an id in a span name, a user id as a value) cannot crowd out the keys.
#[derive(Clone, Copy, Debug)]
pub enum Table {
    /// Attribute keys.
    Key = 0,
    /// Span names.
    Name = 1,
    /// Attribute values that are strings (`"GET"`, `"postgresql"`).
    Value = 2,
}

const TABLES: usize = 3;

/// Longest string interned, in bytes; longer ones are copied.
pub const MAX_LEN: usize = 128;
/// Most strings one table holds.
pub const MAX_ENTRIES: usize = 4096;
/// Most bytes of text one table holds (so at most 1.5 MiB for all three, plus the sets).
pub const MAX_BYTES: usize = 512 * 1024;

type Set = HashSet<&'static str, BuildHasherDefault<Fx>>;

struct Shared {
    set: Set,
    bytes: usize,
}

static SHARED: [Mutex<Shared>; TABLES] = [const {
    Mutex::new(Shared {
        set: HashSet::with_hasher(BuildHasherDefault::new()),
        bytes: 0,
    })
}; TABLES];

/// Set once a table has refused a string for want of room.
static FULL: [AtomicBool; TABLES] = [const { AtomicBool::new(false) }; TABLES];

thread_local! {
    static LOCAL: RefCell<[Set; TABLES]> = RefCell::new(Default::default());
}

/// Whether `table` has turned a string away for want of room.
fn full(table: Table) -> bool {
    FULL[table as usize].load(Ordering::Relaxed)
}

/// `s` as [`Text`]: the interned copy when there is (or there is room for) one, an
/// owned copy otherwise. Once the values' table is full, values are copied without a
/// lookup: most are new by then (ids, paths), and looking costs a hash each.
pub fn intern(table: Table, s: &str) -> Text {
    if s.len() > MAX_LEN || (matches!(table, Table::Value) && full(table)) {
        return Cow::Owned(s.to_owned());
    }
    let found = LOCAL.try_with(|local| {
        let mut local = local.try_borrow_mut().ok()?;
        let local = &mut local[table as usize];
        if let Some(&k) = local.get(s) {
            return Some(k);
        }
        let k = shared(table, s)?;
        local.insert(k);
        Some(k)
    });
    match found {
        Ok(Some(k)) => Cow::Borrowed(k),
        _ => Cow::Owned(s.to_owned()),
    }
}

/// The shared table's copy of `s`, added if there is room; `None` when the table is
/// busy or full.
fn shared(table: Table, s: &str) -> Option<&'static str> {
    let mut shared = SHARED[table as usize].try_lock().ok()?;
    if let Some(&k) = shared.set.get(s) {
        return Some(k);
    }
    if shared.set.len() >= MAX_ENTRIES || shared.bytes + s.len() > MAX_BYTES {
        FULL[table as usize].store(true, Ordering::Relaxed);
        return None;
    }
    let k: &'static str = Box::leak(Box::from(s));
    shared.bytes += k.len();
    shared.set.insert(k);
    Some(k)
}

/// The Fx hash (rustc's): a multiply and a rotate per word, several times faster than
/// SipHash on keys of a few words. The strings come from the application, not from a
/// peer, and a table is bounded, so hash flooding cannot cost more than a full table.
#[derive(Default)]
struct Fx(u64);

impl Fx {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for Fx {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // The length first, so that strings of zero bytes differ by their length.
        self.add(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap_or_default()));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u8(&mut self, b: u8) {
        self.add(u64::from(b));
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_text_is_one_copy() {
        let a = intern(Table::Name, "intern.test.same");
        let b = intern(Table::Name, &String::from("intern.test.same"));
        match (a, b) {
            (Cow::Borrowed(a), Cow::Borrowed(b)) => assert!(std::ptr::eq(a, b)),
            other => panic!("not interned: {other:?}"),
        }
    }

    #[test]
    fn another_thread_finds_the_shared_copy() {
        let a = intern(Table::Name, "intern.test.thread");
        let b = std::thread::spawn(|| intern(Table::Name, "intern.test.thread"))
            .join()
            .unwrap();
        assert!(std::ptr::eq(a.as_ref(), b.as_ref()));
    }

    #[test]
    fn long_text_is_copied() {
        let long = "k".repeat(MAX_LEN + 1);
        assert!(matches!(intern(Table::Name, &long), Cow::Owned(s) if s == long));
        let edge = "e".repeat(MAX_LEN);
        assert!(matches!(intern(Table::Name, &edge), Cow::Borrowed(s) if s == edge));
    }

    #[test]
    fn a_full_table_copies_and_stays_within_its_bounds() {
        // Its own thread, and the one table no other test here needs room in.
        std::thread::spawn(|| {
            let mut copied = 0;
            for i in 0..MAX_ENTRIES + 100 {
                let s = format!("intern.test.endless.{i}");
                let t = intern(Table::Key, &s);
                assert_eq!(t, s);
                copied += usize::from(matches!(t, Cow::Owned(_)));
            }
            assert!(copied >= 100, "{copied}");
            assert!(full(Table::Key) && !full(Table::Name));
            let shared = SHARED[Table::Key as usize].lock().unwrap();
            assert!(shared.set.len() <= MAX_ENTRIES);
            assert!(shared.bytes <= MAX_BYTES);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn fx_tells_short_keys_apart() {
        let h = |s: &str| {
            let mut f = Fx::default();
            std::hash::Hash::hash(s, &mut f);
            f.finish()
        };
        assert_ne!(h("a"), h("b"));
        assert_ne!(h("http.method"), h("http.methoe"));
        assert_ne!(h(""), h("\0"));
    }
}
