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
    fn reads_partial_success() {
        // partial_success { rejected_spans: 3, error_message: "no" }
        let msg = [0x0a, 0x06, 0x08, 0x03, 0x12, 0x02, b'n', b'o'];
        assert_eq!(partial_success(&msg), Ok(Some((3, "no".to_owned()))));
        assert_eq!(partial_success(&[]), Ok(None));
        assert_eq!(partial_success(&[0x0a, 0x05]), Err(Malformed));
    }
}
