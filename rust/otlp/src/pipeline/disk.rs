//! The crash-safe disk queue: every request is written to its own file before it is
//! sent, and removed once settled, so that what a crashed process left is sent by the
//! next one.
//!
//! One file per request, written whole under a temporary name and then renamed,
//! makes crash safety easy to argue: a request is visible under its final name only
//! after its bytes are all written (rename is atomic), is never modified afterwards,
//! and is removed only when the collector has answered for it for good. What a crash
//! can leave is a temporary file (ignored and removed on start), or, when the kernel
//! lost unsynced data (power loss), a final file that is short or holds zeroes: every
//! file carries its length and a CRC-32 of its contents, so such a file is detected,
//! counted and removed, never sent and never a crash. An embedded database would offer
//! the same guarantee with far more code to trust; a log of segments would need a
//! separate record of which requests were acknowledged.
//!
//! File format (little endian): `OTLPQ\x01`, protocol (u8), compression (u8), weight
//! (u64: items the request counts for), body length (u32), CRC-32 of the 16 bytes
//! before it and of the body (u32), then the body exactly as it is sent (framed and
//! compressed: no re-encode on replay).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;

use crate::error::{Error, Result};

use super::queue::Fsync;

const MAGIC: &[u8; 6] = b"OTLPQ\x01";
const HEADER: usize = 6 + 1 + 1 + 8 + 4 + 4;
const SUFFIX: &str = ".req";

/// What a request on disk was encoded for: a replay needs the same transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoding {
    /// `transport::Protocol` as a number (0 gRPC, 1 HTTP/protobuf, 2 HTTP/JSON).
    pub protocol: u8,
    /// `transport::Compression` as a number (0 none, 1 gzip, 2 zstd).
    pub compression: u8,
}

/// A request written to the disk queue.
#[derive(Debug, Clone, Copy)]
pub struct Record {
    seq: u64,
    len: u64,
}

/// A request a previous process left, checked intact; its body is read again when
/// it is sent ([`DiskQueue::load`]), so that a large queue is not held in memory.
#[derive(Debug)]
pub struct Stored {
    /// Its record, to remove once settled.
    pub record: Record,
    /// Items it counts for.
    pub weight: u64,
}

/// What opening a directory found.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Requests to send first, oldest first.
    pub stored: Vec<Stored>,
    /// Files that could not be read back (short, corrupted, zero-filled), removed.
    pub corrupt: u64,
    /// Requests encoded for another transport or compression, removed.
    pub incompatible: u64,
}

/// One signal's disk queue: a locked directory of request files.
pub struct DiskQueue {
    dir: PathBuf,
    /// Held (locked) while the queue is open: a second live process gets an error.
    lock: Mutex<Option<File>>,
    fsync: Fsync,
    encoding: Encoding,
    next_seq: AtomicU64,
    /// Bytes of the request files present.
    bytes: AtomicU64,
    /// Files written since the last sync (`Fsync::Interval`).
    unsynced: Mutex<Vec<u64>>,
    /// Held for a whole [`Self::sync`]: a flush's sync waits for a background one that
    /// took its files first, so "synced" never returns before the files are durable.
    syncing: Mutex<()>,
}

fn io_error(what: &str, path: &Path, e: io::Error) -> Error {
    Error::Config(format!("`queue.directory`: {what} {}: {e}", path.display()))
}

impl DiskQueue {
    /// Open (creating it) the queue of `signal` under `root`, lock it, and read back
    /// what a previous process left, oldest first.
    pub fn open(
        root: &Path,
        signal: &str,
        fsync: Fsync,
        encoding: Encoding,
    ) -> Result<(Self, Recovered)> {
        let dir = root.join(signal);
        fs::create_dir_all(&dir).map_err(|e| io_error("cannot create", &dir, e))?;
        let lock_path = dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io_error("cannot open", &lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(Error::Config(format!(
                    "`queue.directory`: {} is in use by another live exporter or process; \
                     give each its own directory",
                    dir.display()
                )))
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_error("cannot lock", &lock_path, e)),
        }
        let mut found = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| io_error("cannot list", &dir, e))? {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".tmp") {
                // Never renamed: its request was not queued yet when the process died.
                let _ = fs::remove_file(entry.path());
            } else if let Some(seq) = name.strip_suffix(SUFFIX).and_then(|s| s.parse().ok()) {
                found.push(seq);
            }
        }
        found.sort_unstable();
        let queue = Self {
            dir,
            lock: Mutex::new(Some(lock)),
            fsync,
            encoding,
            next_seq: AtomicU64::new(found.last().map_or(1, |s| s + 1)),
            bytes: AtomicU64::new(0),
            unsynced: Mutex::new(Vec::new()),
            syncing: Mutex::new(()),
        };
        let mut recovered = Recovered::default();
        for seq in found {
            match queue.read(seq) {
                Ok(Some((weight, body))) => {
                    let record = Record {
                        seq,
                        len: DiskQueue::size_of(body.len()),
                    };
                    queue.bytes.fetch_add(record.len, Ordering::Relaxed);
                    recovered.stored.push(Stored { record, weight });
                }
                Ok(None) => {
                    recovered.incompatible += 1;
                    let _ = fs::remove_file(queue.path(seq));
                }
                Err(_) => {
                    recovered.corrupt += 1;
                    let _ = fs::remove_file(queue.path(seq));
                }
            }
        }
        Ok((queue, recovered))
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}{SUFFIX}"))
    }

    /// Read a request back to send it, checked again (the file may have been damaged
    /// since it was written).
    pub fn load(&self, record: &Record) -> io::Result<Bytes> {
        match self.read(record.seq)? {
            Some((_, body)) => Ok(body),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "encoded for another transport",
            )),
        }
    }

    /// Read request `seq` back (its weight and body): `Ok(None)` when it was encoded
    /// for another transport, an error when it is not intact.
    fn read(&self, seq: u64) -> io::Result<Option<(u64, Bytes)>> {
        let mut data = Vec::new();
        File::open(self.path(seq))?.read_to_end(&mut data)?;
        parse(data, self.encoding)
    }

    /// Write a request of `weight` items before it is sent; durable now with
    /// `Fsync::Always`, at the next [`Self::sync`] with `Fsync::Interval`.
    pub fn write(&self, weight: u64, body: &[u8]) -> io::Result<Record> {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let head = header(self.encoding, weight, body)?;
        let tmp = self.dir.join(format!("{seq:020}.tmp"));
        let result = (|| {
            let mut file = File::create(&tmp)?;
            file.write_all(&head)?;
            file.write_all(body)?;
            if self.fsync == Fsync::Always {
                file.sync_data()?;
            }
            fs::rename(&tmp, self.path(seq))?;
            if self.fsync == Fsync::Always {
                File::open(&self.dir)?.sync_all()?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        if self.fsync == Fsync::Interval {
            self.unsynced
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(seq);
        }
        let total = (HEADER + body.len()) as u64;
        self.bytes.fetch_add(total, Ordering::Relaxed);
        Ok(Record { seq, len: total })
    }

    /// Make what was written durable (`Fsync::Interval`): the files, then the
    /// directory that names them.
    pub fn sync(&self) {
        let _one_at_a_time = self.syncing.lock().unwrap_or_else(|e| e.into_inner());
        let pending = std::mem::take(&mut *self.unsynced.lock().unwrap_or_else(|e| e.into_inner()));
        if pending.is_empty() {
            return;
        }
        for seq in pending {
            // Already removed (settled) is fine: nothing to make durable.
            if let Ok(file) = File::open(self.path(seq)) {
                let _ = file.sync_data();
            }
        }
        if let Ok(dir) = File::open(&self.dir) {
            let _ = dir.sync_all();
        }
    }

    /// Remove a settled request.
    pub fn remove(&self, record: &Record) {
        if fs::remove_file(self.path(record.seq)).is_ok() {
            self.bytes.fetch_sub(record.len, Ordering::Relaxed);
        }
    }

    /// Let another process (or exporter) open the directory: at shutdown, when what is
    /// left stays for the next one.
    pub fn release(&self) {
        self.lock.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// Bytes of the request files present.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Bytes a request of `body_len` takes on disk.
    pub fn size_of(body_len: usize) -> u64 {
        (HEADER + body_len) as u64
    }
}

/// The header of the file of a request of `weight` items with `body`, encoded as
/// `encoding`; an error when the body is too large for the format.
pub(crate) fn header(encoding: Encoding, weight: u64, body: &[u8]) -> io::Result<[u8; HEADER]> {
    let len = u32::try_from(body.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "request over 4 GiB"))?;
    let mut head = [0u8; HEADER];
    head[..6].copy_from_slice(MAGIC);
    head[6] = encoding.protocol;
    head[7] = encoding.compression;
    head[8..16].copy_from_slice(&weight.to_le_bytes());
    head[16..20].copy_from_slice(&len.to_le_bytes());
    let crc = checksum(&head[..20], body);
    head[20..24].copy_from_slice(&crc.to_le_bytes());
    Ok(head)
}

/// The weight and body of a request file's bytes `data`, checked: `Ok(None)` when it
/// was encoded for another transport than `encoding`, an error when it is not intact
/// (short, extended, zero-filled, corrupted, or not a request file at all).
pub(crate) fn parse(data: Vec<u8>, encoding: Encoding) -> io::Result<Option<(u64, Bytes)>> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_owned());
    if data.len() < HEADER || &data[..6] != MAGIC {
        return Err(bad("not a request file"));
    }
    let weight = u64::from_le_bytes(data[8..16].try_into().expect("8 bytes"));
    let len = u32::from_le_bytes(data[16..20].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(data[20..24].try_into().expect("4 bytes"));
    if data.len() != HEADER + len {
        return Err(bad("truncated or extended"));
    }
    if checksum(&data[..20], &data[HEADER..]) != crc {
        return Err(bad("checksum mismatch"));
    }
    if (data[6], data[7]) != (encoding.protocol, encoding.compression) {
        return Ok(None);
    }
    Ok(Some((weight, Bytes::from(data).slice(HEADER..))))
}

/// CRC-32 (IEEE) of a header and a body.
fn checksum(head: &[u8], body: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(head);
    h.update(body);
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENC: Encoding = Encoding {
        protocol: 0,
        compression: 1,
    };

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("otlp-disk-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn requests_come_back_in_order_until_removed() {
        let root = dir("order");
        let (q, rec) = DiskQueue::open(&root, "traces", Fsync::Always, ENC).unwrap();
        assert!(rec.stored.is_empty());
        let a = q.write(3, b"first").unwrap();
        q.write(5, b"second").unwrap();
        q.remove(&a);
        q.write(7, b"third").unwrap();
        drop(q);
        let (q, rec) = DiskQueue::open(&root, "traces", Fsync::Never, ENC).unwrap();
        let got: Vec<_> = rec
            .stored
            .iter()
            .map(|s| (s.weight, q.load(&s.record).unwrap().to_vec()))
            .collect();
        assert_eq!(got, [(5, b"second".to_vec()), (7, b"third".to_vec())]);
        assert_eq!(q.bytes(), DiskQueue::size_of(6) + DiskQueue::size_of(5));
        let _ = fs::remove_dir_all(root);
    }

    #[test]
    fn a_second_live_process_is_refused() {
        let root = dir("lock");
        let (_q, _) = DiskQueue::open(&root, "logs", Fsync::Never, ENC).unwrap();
        let err = DiskQueue::open(&root, "logs", Fsync::Never, ENC)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("in use by another live exporter or process"),
            "{err}"
        );
        let _ = fs::remove_dir_all(root);
    }

    #[test]
    fn damaged_files_are_skipped_and_counted_and_the_rest_comes_back() {
        let root = dir("damage");
        let (q, _) = DiskQueue::open(&root, "traces", Fsync::Never, ENC).unwrap();
        let body = vec![42u8; 1000];
        let records: Vec<_> = (0..5).map(|_| q.write(1, &body).unwrap()).collect();
        let path = |r: &Record| q.path(r.seq);
        // Truncated.
        let p = path(&records[0]);
        let data = fs::read(&p).unwrap();
        fs::write(&p, &data[..data.len() - 10]).unwrap();
        // A flipped bit.
        let p = path(&records[1]);
        let mut data = fs::read(&p).unwrap();
        data[500] ^= 0x10;
        fs::write(&p, &data).unwrap();
        // A zero-filled tail.
        let p = path(&records[2]);
        let mut data = fs::read(&p).unwrap();
        let n = data.len();
        data[n - 300..].fill(0);
        fs::write(&p, &data).unwrap();
        // A leftover temporary file.
        fs::write(q.dir.join("00000000000000000099.tmp"), b"half").unwrap();
        drop(q);
        let (q, rec) = DiskQueue::open(&root, "traces", Fsync::Never, ENC).unwrap();
        assert_eq!(rec.corrupt, 3);
        assert_eq!(rec.stored.len(), 2);
        assert!(rec
            .stored
            .iter()
            .all(|s| q.load(&s.record).unwrap() == body));
        assert!(!q.dir.join("00000000000000000099.tmp").exists());
        let _ = fs::remove_dir_all(root);
    }

    #[test]
    fn requests_for_another_transport_are_not_replayed() {
        let root = dir("encoding");
        let (q, _) = DiskQueue::open(&root, "traces", Fsync::Never, ENC).unwrap();
        q.write(1, b"gzip-framed").unwrap();
        drop(q);
        let other = Encoding {
            protocol: 1,
            compression: 0,
        };
        let (_q, rec) = DiskQueue::open(&root, "traces", Fsync::Never, other).unwrap();
        assert_eq!((rec.stored.len(), rec.incompatible), (0, 1));
        let _ = fs::remove_dir_all(root);
    }
}
