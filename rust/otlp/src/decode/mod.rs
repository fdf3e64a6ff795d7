//! Reading what peers send, within bounds: a minimal protobuf reader, enough for
//! collectors' answers (partial successes, `google.rpc.Status` and its `RetryInfo`)
//! and to count the items of an export request (the embedded receiver), without
//! generated message types; the partial success of an OTLP/JSON answer; and
//! [`peer_text`], which makes any text from a peer safe to keep. [`request`] decodes
//! whole export requests (protobuf or OTLP/JSON) into the model.

pub mod request;

/// One field of a message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Field<'a> {
    /// Wire type 0: an integer, bool or enum.
    Varint(u64),
    /// Wire type 1: a `fixed64`, `sfixed64` or `double`, as its bits.
    Fixed64(u64),
    /// Wire type 2: a string, bytes, a sub-message or a packed repeated field.
    Len(&'a [u8]),
    /// Wire type 5: a `fixed32`, `sfixed32` or `float`, as its bits.
    Fixed32(u32),
}

/// Iterates over `(field number, value)` pairs; stops (yielding an error) at the first
/// malformed byte.
pub struct Reader<'a> {
    buf: &'a [u8],
    /// `buf` is only the first bytes of a longer message (see [`Reader::prefix`]).
    cut: bool,
}

/// The bytes are not a valid protobuf message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

impl<'a> Reader<'a> {
    /// A reader of the whole message `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, cut: false }
    }

    /// A reader of the first bytes of a longer message: a length-delimited field that
    /// runs past the end yields what is there, and a field cut inside its key or
    /// varint ends the message instead of being an error (other malformations still
    /// are).
    pub fn prefix(buf: &'a [u8]) -> Self {
        Self { buf, cut: true }
    }

    /// A reader of `buf`, which is cut when `cut` is set.
    fn of(buf: &'a [u8], cut: bool) -> Self {
        Self { buf, cut }
    }

    fn varint(&mut self) -> Result<u64, Malformed> {
        let mut v = 0u64;
        for i in 0..10 {
            let (&b, rest) = self.buf.split_first().ok_or(Malformed)?;
            self.buf = rest;
            v |= ((b & 0x7f) as u64) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(Malformed)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if self.buf.len() < n {
            if self.cut {
                return Ok(std::mem::take(&mut self.buf));
            }
            return Err(Malformed);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<(u32, Field<'a>), Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        let item = (|| {
            let key = self.varint()?;
            let field = u32::try_from(key >> 3).map_err(|_| Malformed)?;
            let value = match key & 7 {
                0 => Field::Varint(self.varint()?),
                1 => Field::Fixed64(u64::from_le_bytes(
                    self.take(8)?.try_into().map_err(|_| Malformed)?,
                )),
                2 => {
                    let n = usize::try_from(self.varint()?).map_err(|_| Malformed)?;
                    Field::Len(self.take(n)?)
                }
                5 => Field::Fixed32(u32::from_le_bytes(
                    self.take(4)?.try_into().map_err(|_| Malformed)?,
                )),
                _ => return Err(Malformed),
            };
            Ok((field, value))
        })();
        if item.is_err() {
            // Bytes running out is where a cut message ends, not a malformation.
            let ran_out = self.buf.is_empty();
            self.buf = &[];
            if self.cut && ran_out {
                return None;
            }
        }
        Some(item)
    }
}

/// Standard base64 (padded or not), as gRPC's `-bin` metadata; `None` if malformed.
pub fn base64(text: &[u8]) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    }
    let text: Vec<u8> = text.iter().copied().filter(|c| *c != b'=').collect();
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= val(*c)? << (18 - 6 * i);
        }
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    Some(out)
}

/// The delay of a `google.rpc.RetryInfo` inside a `google.rpc.Status` (the
/// `grpc-status-details-bin` trailer), if there is one.
pub fn retry_info_delay(status: &[u8]) -> Option<std::time::Duration> {
    const RETRY_INFO: &[u8] = b"type.googleapis.com/google.rpc.RetryInfo";
    for f in Reader::new(status) {
        let (3, Field::Len(any)) = f.ok()? else {
            continue;
        };
        let mut type_url: &[u8] = &[];
        let mut value: &[u8] = &[];
        for f in Reader::new(any) {
            match f.ok()? {
                (1, Field::Len(t)) => type_url = t,
                (2, Field::Len(v)) => value = v,
                _ => {}
            }
        }
        if type_url != RETRY_INFO {
            continue;
        }
        for f in Reader::new(value) {
            if let (1, Field::Len(duration)) = f.ok()? {
                let (mut secs, mut nanos) = (0i64, 0i64);
                for f in Reader::new(duration) {
                    match f.ok()? {
                        (1, Field::Varint(s)) => secs = s as i64,
                        (2, Field::Varint(n)) => nanos = n as i32 as i64,
                        _ => {}
                    }
                }
                if secs < 0 || nanos < 0 {
                    return Some(std::time::Duration::ZERO);
                }
                return Some(
                    std::time::Duration::from_secs(secs as u64)
                        + std::time::Duration::from_nanos(nanos as u64),
                );
            }
        }
        // A RetryInfo without a delay: retry, with the client's own backoff.
        return Some(std::time::Duration::ZERO);
    }
    None
}

/// The message of a `google.rpc.Status` (an OTLP/HTTP failure body), as
/// [`peer_text`]; `cut`: `status` is only the first bytes of the body.
pub fn status_message(status: &[u8], cut: bool) -> Option<String> {
    for f in Reader::of(status, cut) {
        if let (2, Field::Len(m)) = f.ok()? {
            return Some(peer_text(m));
        }
    }
    None
}

/// Most bytes of text from a peer (a `grpc-message`, an error body, a partial
/// success's `error_message`) that are kept: it ends up in `stats()` and in log lines
/// repeated every interval, so a peer must not be able to make it large.
pub const MAX_PEER_TEXT: usize = 512;

/// Text a peer sent, made safe to keep and to log: invalid UTF-8 replaced, control
/// characters turned into spaces, and cut on a character boundary after
/// [`MAX_PEER_TEXT`] bytes with a mark saying how much was left out.
pub fn peer_text(raw: &[u8]) -> String {
    let mut head = &raw[..raw.len().min(MAX_PEER_TEXT)];
    if let Err(e) = std::str::from_utf8(head) {
        // A character split by the cut is left out whole, not replaced.
        if e.error_len().is_none() && head.len() < raw.len() {
            head = &head[..e.valid_up_to()];
        }
    }
    let mut out: String = String::from_utf8_lossy(head)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let left = raw.len() - head.len();
    if left > 0 {
        out.push_str(&format!("… ({left} more bytes)"));
    }
    out
}

/// The `partialSuccess` of an OTLP/JSON export response: rejected count and message
/// (as [`peer_text`], escapes left as written). A small reader for this one shape;
/// anything unexpected counts as no rejection. `body` may be only the first bytes of
/// the response: a message cut by the end is read as far as it goes.
pub fn partial_success_json(body: &[u8]) -> Option<(u64, String)> {
    let text = match std::str::from_utf8(body) {
        Ok(t) => t,
        // Cut inside a character (or invalid further on): read the valid part.
        Err(e) => std::str::from_utf8(&body[..e.valid_up_to()]).ok()?,
    };
    let ps = &text[text.find("\"partialSuccess\"")?..];
    let rejected = ps.find("\"rejected").and_then(|i| {
        let after = &ps[i..];
        let colon = after.find(':')?;
        let digits: String = after[colon + 1..]
            .trim_start()
            .trim_start_matches('"')
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    });
    let message = ps.find("\"errorMessage\"").and_then(|i| {
        let after = &ps[i + "\"errorMessage\"".len()..];
        let start = after.find('"')? + 1;
        let value = &after.as_bytes()[start..];
        // The closing quote is the first one not escaped; none: the body was cut.
        let mut end = value.len();
        let mut i = 0;
        while i < value.len() {
            match value[i] {
                b'\\' => i += 2,
                b'"' => {
                    end = i;
                    break;
                }
                _ => i += 1,
            }
        }
        Some(peer_text(&value[..end]))
    });
    Some((rejected.unwrap_or(0), message.unwrap_or_default()))
}

/// The `partial_success` of an `Export*ServiceResponse`: rejected count and message
/// (as [`peer_text`]). `cut`: `response` is only the first bytes of the message; what
/// it holds is read (the count comes first in the messages collectors write).
pub fn partial_success(response: &[u8], cut: bool) -> Result<Option<(u64, String)>, Malformed> {
    for field in Reader::of(response, cut) {
        if let (1, Field::Len(ps)) = field? {
            let mut rejected = 0;
            let mut message = String::new();
            for f in Reader::of(ps, cut) {
                match f? {
                    (1, Field::Varint(n)) => rejected = n,
                    (2, Field::Len(m)) => message = peer_text(m),
                    _ => {}
                }
            }
            return Ok(Some((rejected, message)));
        }
    }
    Ok(None)
}

/// Number of items in an export request whose items sit at
/// `request.1 (resource_*) .2 (scope_*) .2 (items)` — true of traces, metrics and logs:
/// spans, log records, or metrics (not their data points).
pub fn count_items(request: &[u8]) -> Result<u64, Malformed> {
    let mut n = 0;
    for f in Reader::new(request) {
        if let (1, Field::Len(resource)) = f? {
            for f in Reader::new(resource) {
                if let (2, Field::Len(scope)) = f? {
                    for f in Reader::new(scope) {
                        if let (2, Field::Len(_)) = f? {
                            n += 1;
                        }
                    }
                }
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::encode_trace_request;
    use crate::model::{Resource, Scope, SpanData};
    use std::sync::Arc;

    #[test]
    fn counts_the_spans_of_an_encoded_request() {
        let r = Arc::new(Resource::default());
        let (a, b) = (Arc::new(Scope::default()), Arc::new(Scope::default()));
        let spans: Vec<SpanData> = (0..7)
            .map(|i| {
                SpanData::new(
                    r.clone(),
                    if i % 2 == 0 { a.clone() } else { b.clone() },
                    "x",
                )
            })
            .collect();
        let mut buf = Vec::new();
        encode_trace_request(&spans, &mut buf);
        assert_eq!(count_items(&buf), Ok(7));
        assert_eq!(count_items(&buf[..buf.len() - 1]), Err(Malformed));
    }

    #[test]
    fn reads_retry_info_from_a_status() {
        // Status { code: 8, details: [Any { type_url: ...RetryInfo, value: RetryInfo {
        //   retry_delay: Duration { seconds: 2, nanos: 500000000 } } }] }
        let mut duration = vec![0x08, 0x02, 0x10];
        let mut n = 500_000_000u64;
        while n >= 0x80 {
            duration.push((n as u8) | 0x80);
            n >>= 7;
        }
        duration.push(n as u8);
        let mut retry_info = vec![0x0a, duration.len() as u8];
        retry_info.extend(&duration);
        let type_url = b"type.googleapis.com/google.rpc.RetryInfo";
        let mut any = vec![0x0a, type_url.len() as u8];
        any.extend_from_slice(type_url);
        any.extend([0x12, retry_info.len() as u8]);
        any.extend(&retry_info);
        let mut status = vec![0x08, 0x08, 0x1a, any.len() as u8];
        status.extend(&any);
        assert_eq!(
            retry_info_delay(&status),
            Some(std::time::Duration::from_millis(2500))
        );
        assert_eq!(retry_info_delay(&[0x08, 0x08]), None);
        assert_eq!(base64(b"aGVsbG8"), Some(b"hello".to_vec()));
        assert_eq!(base64(b"aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(base64(b"a"), None);
        assert_eq!(base64(b"a*bc"), None);
    }

    #[test]
    fn reads_json_partial_success() {
        let body = br#"{"partialSuccess":{"rejectedSpans":"3","errorMessage":"too old"}}"#;
        assert_eq!(partial_success_json(body), Some((3, "too old".to_owned())));
        assert_eq!(partial_success_json(b"{}"), None);
        assert_eq!(
            partial_success_json(br#"{"partialSuccess":{"rejectedLogRecords":7}}"#),
            Some((7, String::new()))
        );
    }

    #[test]
    fn reads_partial_success() {
        // partial_success { rejected_spans: 3, error_message: "no" }
        let msg = [0x0a, 0x06, 0x08, 0x03, 0x12, 0x02, b'n', b'o'];
        assert_eq!(partial_success(&msg, false), Ok(Some((3, "no".to_owned()))));
        assert_eq!(partial_success(&[], false), Ok(None));
        assert_eq!(partial_success(&[0x0a, 0x05], false), Err(Malformed));
    }

    #[test]
    fn reads_what_there_is_of_a_cut_partial_success() {
        // partial_success { rejected_spans: 3, error_message: 1 MiB of "x" }, cut.
        let text = vec![b'x'; 1 << 20];
        let mut ps = vec![0x08, 0x03, 0x12];
        push_varint(&mut ps, text.len() as u64);
        ps.extend(&text);
        let mut msg = vec![0x0a];
        push_varint(&mut msg, ps.len() as u64);
        msg.extend(&ps);
        let head = &msg[..4096];
        assert_eq!(partial_success(head, false), Err(Malformed));
        let (rejected, message) = partial_success(head, true).unwrap().unwrap();
        assert_eq!(rejected, 3);
        assert!(
            message.starts_with("xxx") && message.ends_with("more bytes)"),
            "{message}"
        );
        assert!(message.len() < MAX_PEER_TEXT + 40, "{}", message.len());
        // Cut inside a length, inside the count, after it: the message so far.
        assert_eq!(partial_success(&msg[..3], true), Ok(None));
        assert_eq!(
            partial_success(&msg[..5], true),
            Ok(Some((0, String::new())))
        );
        assert_eq!(
            partial_success(&msg[..6], true),
            Ok(Some((3, String::new())))
        );
        // A malformation that is not a cut is still one.
        assert_eq!(partial_success(b"<html>", true), Err(Malformed));
        assert_eq!(partial_success(&[0xff; 64], true), Err(Malformed));
        // The same for a google.rpc.Status message (field 2).
        let mut status = vec![0x08, 0x03, 0x12];
        push_varint(&mut status, text.len() as u64);
        status.extend(&text);
        assert_eq!(status_message(&status[..100], false), None);
        assert!(status_message(&status[..100], true)
            .unwrap()
            .starts_with("xxx"));
    }

    fn push_varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    #[test]
    fn peer_text_is_bounded_cut_on_a_character_and_printable() {
        assert_eq!(peer_text(b"plain"), "plain");
        assert_eq!(peer_text(b"two\nlines\x1b[31m"), "two lines [31m");
        assert_eq!(peer_text(b"bad \xff byte"), "bad \u{fffd} byte");
        let long = "é".repeat(MAX_PEER_TEXT); // 2 bytes each: the cut falls on a boundary
        let out = peer_text(long.as_bytes());
        assert_eq!(
            out,
            format!(
                "{}… ({} more bytes)",
                "é".repeat(MAX_PEER_TEXT / 2),
                MAX_PEER_TEXT
            )
        );
        // A cut inside a character leaves the whole character out.
        let odd = format!("a{}", "é".repeat(MAX_PEER_TEXT));
        let out = peer_text(odd.as_bytes());
        let kept = out.split('…').next().unwrap();
        assert_eq!(kept, format!("a{}", "é".repeat(MAX_PEER_TEXT / 2 - 1)));
        assert!(
            out.ends_with(&format!("({} more bytes)", odd.len() - kept.len())),
            "{out}"
        );
        assert!(!out.contains('\u{fffd}'), "{out}");
        let huge = vec![b'm'; 8 << 20];
        assert!(peer_text(&huge).len() < MAX_PEER_TEXT + 40);
    }

    #[test]
    fn reads_a_cut_json_partial_success() {
        let body = br#"{"partialSuccess":{"rejectedSpans":"4","errorMessage":"too \"old\" and mo"#;
        let (n, message) = partial_success_json(body).unwrap();
        assert_eq!((n, message.as_str()), (4, r#"too \"old\" and mo"#));
        // Cut inside a character.
        let body = "{\"partialSuccess\":{\"rejectedSpans\":\"1\",\"errorMessage\":\"é".as_bytes();
        assert_eq!(
            partial_success_json(&body[..body.len() - 1]),
            Some((1, String::new()))
        );
    }
}
