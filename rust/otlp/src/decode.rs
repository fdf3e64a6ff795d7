//! A minimal protobuf reader: enough to read export responses and to count the items
//! of an export request (the embedded receiver), without a generated message type.

/// One field of a message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Field<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8]),
    Fixed32(u32),
}

/// Iterates over `(field number, value)` pairs; stops (yielding an error) at the first
/// malformed byte.
pub struct Reader<'a> {
    buf: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
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
            self.buf = &[];
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

/// The message of a `google.rpc.Status` (an OTLP/HTTP failure body).
pub fn status_message(status: &[u8]) -> Option<String> {
    for f in Reader::new(status) {
        if let (2, Field::Len(m)) = f.ok()? {
            return Some(String::from_utf8_lossy(m).into_owned());
        }
    }
    None
}

/// The `partialSuccess` of an OTLP/JSON export response: rejected count and message.
/// A small reader for this one shape; anything unexpected counts as no rejection.
pub fn partial_success_json(body: &[u8]) -> Option<(u64, String)> {
    let text = std::str::from_utf8(body).ok()?;
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
        let end = after[start..].find('"')? + start;
        Some(after[start..end].to_owned())
    });
    Some((rejected.unwrap_or(0), message.unwrap_or_default()))
}

/// The `partial_success` of an `Export*ServiceResponse`: rejected count and message.
pub fn partial_success(response: &[u8]) -> Result<Option<(u64, String)>, Malformed> {
    for field in Reader::new(response) {
        if let (1, Field::Len(ps)) = field? {
            let mut rejected = 0;
            let mut message = String::new();
            for f in Reader::new(ps) {
                match f? {
                    (1, Field::Varint(n)) => rejected = n,
                    (2, Field::Len(m)) => message = String::from_utf8_lossy(m).into_owned(),
                    _ => {}
                }
            }
            return Ok(Some((rejected, message)));
        }
    }
    Ok(None)
}

/// Number of items in an export request whose items sit at
/// `request.1 (resource_*) .2 (scope_*) .2 (items)` — true of traces, metrics and logs.
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
        assert_eq!(partial_success(&msg), Ok(Some((3, "no".to_owned()))));
        assert_eq!(partial_success(&[]), Ok(None));
        assert_eq!(partial_success(&[0x0a, 0x05]), Err(Malformed));
    }
}
