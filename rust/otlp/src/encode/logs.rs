//! `ExportLogsServiceRequest` (opentelemetry/proto/collector/logs/v1).

use std::borrow::Borrow;
use std::sync::Arc;

use super::grouped::{write_grouped, Grouped, GroupedRequest};
use super::protobuf::*;
use crate::model::{LogRecord, Resource, Scope};

/// A batch of log records, grouped and sized, ready to be written.
pub type LogsRequest<'a> = GroupedRequest<'a, LogRecord>;

impl Grouped for LogRecord {
    fn resource(&self) -> &Arc<Resource> {
        &self.resource
    }

    fn scope(&self) -> &Arc<Scope> {
        &self.scope
    }

    fn encoded_len(&self) -> usize {
        log_len(self)
    }

    fn write(&self, buf: &mut Vec<u8>) {
        put_log(buf, self)
    }
}

/// Encode `records` as an `ExportLogsServiceRequest`, appended to `buf`.
pub fn encode_logs_request<S: Borrow<LogRecord>>(records: &[S], buf: &mut Vec<u8>) {
    write_grouped::<LogRecord, S>(records, buf);
}

fn log_len(r: &LogRecord) -> usize {
    opt_fixed64_field_len(1, r.time_unix_nano)
        + opt_varint_field_len(2, r.severity_number as i64 as u64)
        + opt_len_field_len(3, r.severity_text.len())
        // The body is always present.
        + len_field_len(5, any_value_len(&r.body))
        + key_values_len(6, &r.attributes)
        + opt_varint_field_len(7, r.dropped_attributes_count as u64)
        + opt_fixed32_field_len(8, r.flags)
        + r.trace_id.map_or(0, |t| len_field_len(9, t.len()))
        + r.span_id.map_or(0, |s| len_field_len(10, s.len()))
        + opt_fixed64_field_len(11, r.observed_time_unix_nano)
        + opt_len_field_len(12, r.event_name.len())
}

fn put_log(buf: &mut Vec<u8>, r: &LogRecord) {
    put_opt_fixed64_field(buf, 1, r.time_unix_nano);
    put_opt_varint_field(buf, 2, r.severity_number as i64 as u64);
    put_opt_bytes_field(buf, 3, r.severity_text.as_bytes());
    put_len_header(buf, 5, any_value_len(&r.body));
    put_any_value(buf, &r.body);
    put_key_values(buf, 6, &r.attributes);
    put_opt_varint_field(buf, 7, r.dropped_attributes_count as u64);
    put_opt_fixed32_field(buf, 8, r.flags);
    if let Some(t) = &r.trace_id {
        put_bytes_field(buf, 9, t);
    }
    if let Some(s) = &r.span_id {
        put_bytes_field(buf, 10, s);
    }
    put_opt_fixed64_field(buf, 11, r.observed_time_unix_nano);
    put_opt_bytes_field(buf, 12, r.event_name.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AnyValue, KeyValue};

    #[test]
    fn empty_body_is_written_and_sizes_match() {
        let r = LogRecord::new(
            Arc::new(Resource::default()),
            Arc::new(Scope::default()),
            AnyValue::Empty,
        );
        let mut buf = Vec::new();
        encode_logs_request(std::slice::from_ref(&r), &mut buf);
        // resource_logs { resource {} scope_logs { scope {} log_records { body {} } } }
        assert_eq!(
            buf,
            [0x0a, 0x0a, 0x0a, 0x00, 0x12, 0x06, 0x0a, 0x00, 0x12, 0x02, 0x2a, 0x00]
        );

        let mut r = r;
        r.severity_number = 9;
        r.severity_text = "INFO".into();
        r.body = AnyValue::KvList(vec![KeyValue::new("k", AnyValue::Int(-1))]);
        r.trace_id = Some([1; 16]);
        r.span_id = Some([2; 8]);
        r.flags = 1;
        r.event_name = "e".into();
        let req = LogsRequest::new(std::slice::from_ref(&r));
        let mut buf = Vec::new();
        req.write(&mut buf);
        assert_eq!(buf.len(), req.len());
    }
}
