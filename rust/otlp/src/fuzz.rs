//! Entry points for fuzzing (`fuzz/` at the repository's root, with `cargo fuzz`) and
//! for replaying the fuzz corpus as a test (`tests/fuzz_corpus.rs`): each takes any
//! bytes, runs them through the code that reads what peers send or what a previous
//! process left on disk, and panics only when a property that must hold does not.
//! Nothing here is part of the public interface.
//!
//! The inputs are laid out so that a mutated input stays meaningful: a leading byte
//! picks the signal or an option, and header lines are `name: value` lines separated
//! by `\n` (lines that are not a valid header are skipped, as `http` would refuse
//! them before they could reach the client).

use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::decode::request::{Format, Request};
use crate::decode::{count_items, MAX_PEER_TEXT};
use crate::export::SignalKind;
use crate::pipeline::disk;
use crate::pipeline::Encoding;
use crate::status::Status;
use crate::transport::{grpc, http as otlp_http, Accepted};

/// Longest message a client may keep of a peer's answer: the peer's text is cut at
/// [`MAX_PEER_TEXT`] bytes, the rest is the client's own words and the URL.
const MAX_MESSAGE: usize = 4 * MAX_PEER_TEXT;

const URL: &str = "http://collector:4317/fuzz";

/// An export request in protobuf: the first byte picks the signal (traces, metrics,
/// logs), the rest is the body. Runs the receiver's counter, which must count what
/// the decoder reads, and the request decoder. What decodes must encode again, to
/// bytes that decode to a request that encodes to the same bytes, and that make the
/// round trip through OTLP/JSON.
pub fn decode_protobuf(data: &[u8]) {
    decode(data, Format::Protobuf);
}

/// As [`decode_protobuf`], for an OTLP/JSON body (which the receiver decodes to count
/// it), and a round trip through protobuf.
pub fn decode_json(data: &[u8]) {
    decode(data, Format::Json);
}

fn decode(data: &[u8], format: Format) {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let signal = SignalKind::ALL[usize::from(first) % 3];
    // The receiver counts protobuf requests without decoding them.
    let counted = (format == Format::Protobuf).then(|| count_items(body));
    let Ok(request) = Request::decode(signal, body, format) else {
        return;
    };
    if let Some(counted) = counted {
        assert_eq!(
            counted,
            Ok(items(&request)),
            "the receiver counts what the decoder reads"
        );
    }
    let other = match format {
        Format::Protobuf => Format::Json,
        Format::Json => Format::Protobuf,
    };
    let _ = request.encode(other);
    // The first decode may drop what the model cannot hold; from then on the round
    // trip is exact.
    let again = request.encode(format);
    let decoded = Request::decode(signal, &again, format)
        .unwrap_or_else(|e| panic!("what the encoder writes decodes again: {e}"));
    assert!(
        decoded.encode(format) == again,
        "a decoded request encodes to the bytes it was decoded from"
    );
    // The other format carries the same request. Compared as OTLP/JSON, which has
    // one NaN where protobuf keeps a NaN's payload bits.
    let there = decoded.encode(other);
    let back = Request::decode(signal, &there, other)
        .unwrap_or_else(|e| panic!("what the encoder writes in the other format decodes: {e}"));
    assert!(
        back.encode(Format::Json) == decoded.encode(Format::Json),
        "a request makes the round trip through the other format"
    );
}

/// Items a request counts for in the receiver: spans, metrics (not their points), log
/// records.
fn items(request: &Request) -> u64 {
    let n = match request {
        Request::Traces(spans) => spans.len(),
        Request::Metrics(resources) => resources
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .map(|s| s.metrics.len())
            .sum(),
        Request::Logs(records) => records.len(),
    };
    n as u64
}

/// The next `n` lines of `data` as headers (invalid ones skipped), and what follows.
fn headers(data: &[u8], n: usize) -> (HeaderMap, &[u8]) {
    let mut map = HeaderMap::new();
    let mut rest = data;
    for _ in 0..n {
        let (line, after) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        rest = after;
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let value = line[colon + 1..].trim_ascii_start();
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(value),
        ) {
            map.append(name, value);
        }
    }
    (map, rest)
}

/// The HTTP status of two bytes: one a client can receive (100 to 999).
fn http_status(hi: u8, lo: u8) -> u16 {
    100 + u16::from_be_bytes([hi, lo]) % 900
}

/// What a client tells of a collector's answer (in `stats()` and log lines) stays
/// bounded however large the answer, and on one line whatever it holds: a peer
/// cannot forge log lines.
fn check_message(outcome: &Result<Accepted, Status>) {
    let text = match outcome {
        Ok(accepted) => accepted.warning.as_deref().unwrap_or(""),
        Err(status) => &status.message,
    };
    assert!(
        text.len() <= MAX_MESSAGE,
        "a peer's answer makes a message of {} bytes",
        text.len()
    );
    assert!(
        !text.chars().any(char::is_control),
        "a peer's answer puts control characters in {text:?}"
    );
}

/// A gRPC response: byte 0 is the number of head header lines (low 4 bits), whether
/// the body was cut at the client's limit (bit 7); byte 1 the number of trailer lines;
/// bytes 2-3 the HTTP status; then the head's lines, the trailers' lines and the body
/// (the framed message). Runs the client's handling of the answer: trailers-only
/// status, status in the trailers (`grpc-message`, `grpc-status-details-bin` and its
/// `RetryInfo`), the "no grpc-status" classification, unframing and decompression,
/// and the partial success.
pub fn grpc_response(data: &[u8]) {
    let [flags, trailer_lines, hi, lo, rest @ ..] = data else {
        return;
    };
    let (head, rest) = headers(rest, usize::from(flags & 0x0f));
    let (trailers, body) = headers(rest, usize::from(trailer_lines & 0x0f));
    let outcome = grpc::answer(
        http_status(*hi, *lo),
        &head,
        body,
        flags & 0x80 != 0,
        &trailers,
        URL,
    );
    check_message(&outcome);
}

/// An OTLP/HTTP response: bytes 0-1 are the HTTP status; byte 2 has the number of
/// header lines (low 4 bits), whether the client speaks OTLP/JSON (bit 4), whether the
/// body was cut at the client's limit (bit 5) or could not be read at all (bit 6);
/// then the header lines and the body. Runs the client's handling of the answer:
/// `Content-Encoding`, the partial success of a 2xx, `Retry-After` and the error
/// body's message otherwise.
pub fn http_response(data: &[u8]) {
    let [hi, lo, flags, rest @ ..] = data else {
        return;
    };
    let (head, body) = headers(rest, usize::from(flags & 0x0f));
    let body = if flags & 0x40 != 0 {
        Err("the body did not arrive in time".to_owned())
    } else {
        Ok((Bytes::copy_from_slice(body), flags & 0x20 != 0))
    };
    // A fixed clock keeps a replay's outcome the fuzzer's.
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let outcome = otlp_http::answer(
        http_status(*hi, *lo),
        &head,
        body,
        flags & 0x10 != 0,
        URL,
        now,
    );
    check_message(&outcome);
}

/// A file of the disk queue: byte 0 picks the encoding the queue expects (protocol
/// and compression), the rest is the file's bytes. What is read back as intact is the
/// file a write of its weight and body makes.
pub fn disk_record(data: &[u8]) {
    let Some((&first, file)) = data.split_first() else {
        return;
    };
    let encoding = Encoding {
        protocol: first % 3,
        compression: first / 3 % 3,
    };
    if let Ok(Some((weight, body))) = disk::parse(file.to_vec(), encoding) {
        let head = disk::header(encoding, weight, &body).expect("a body read back fits");
        assert!(
            file.len() == head.len() + body.len() && file[..head.len()] == head,
            "an intact file is the one its weight and body make"
        );
    }
}
