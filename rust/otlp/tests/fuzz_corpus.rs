//! The fuzz corpus, replayed on stable Rust: every input under `fuzz/corpus/<target>/`
//! (what the fuzzer kept for the coverage it reaches) and `fuzz/regressions/<target>/`
//! (inputs that once broke a property) goes through the target's entry point in
//! `otlp::fuzz`, which panics when a property fails. See `fuzz/README.md`.

use std::fs;
use std::panic::catch_unwind;
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files of `dir`, sorted so that a failure replays in the same order.
fn files(dir: &Path) -> Vec<PathBuf> {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

fn replay(target: &str, entry: fn(&[u8])) {
    let corpus = fuzz_dir().join("corpus").join(target);
    let mut inputs = files(&corpus);
    // A missing or emptied corpus would make this test pass without testing anything.
    assert!(
        inputs.len() >= 10,
        "{} holds {} inputs",
        corpus.display(),
        inputs.len()
    );
    let regressions = fuzz_dir().join("regressions").join(target);
    if regressions.exists() {
        inputs.extend(files(&regressions));
    }
    let failed: Vec<String> = inputs
        .iter()
        .filter(|path| {
            let data = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            catch_unwind(|| entry(&data)).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(failed.is_empty(), "{target} fails on {failed:#?}");
}

#[test]
fn decode_protobuf() {
    replay("decode_protobuf", otlp::fuzz::decode_protobuf);
}

#[test]
fn decode_json() {
    replay("decode_json", otlp::fuzz::decode_json);
}

#[test]
fn grpc_response() {
    replay("grpc_response", otlp::fuzz::grpc_response);
}

#[test]
fn http_response() {
    replay("http_response", otlp::fuzz::http_response);
}

#[test]
fn disk_record() {
    replay("disk_record", otlp::fuzz::disk_record);
}
