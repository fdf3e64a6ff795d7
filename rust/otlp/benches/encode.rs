//! Encoder throughput: `cargo bench -p otlp --bench encode`.
//! Prints ns per span for batches shaped like the end-to-end benchmark's spans.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use otlp::encode::{encode_trace_request, TraceRequest};
use otlp::model::{AnyValue, KeyValue, Resource, Scope, SpanData, SpanKind};

fn batch(n: usize) -> Vec<SpanData> {
    let resource = Arc::new(Resource {
        attributes: vec![
            KeyValue::new("service.name", AnyValue::from("bench")),
            KeyValue::new("telemetry.sdk.language", AnyValue::from("python")),
        ],
        ..Resource::default()
    });
    let scope = Arc::new(Scope {
        name: "bench".into(),
        version: "1.0".into(),
        ..Scope::default()
    });
    (0..n)
        .map(|i| {
            let mut s = SpanData::new(resource.clone(), scope.clone(), "GET /api/items");
            s.trace_id = otlp::ids::new_trace_id();
            s.span_id = otlp::ids::new_span_id();
            s.kind = SpanKind::Server;
            s.flags = 0x101;
            s.start_time_unix_nano = 1_700_000_000_000_000_000 + i as u64;
            s.end_time_unix_nano = s.start_time_unix_nano + 1000;
            s.attributes = vec![
                KeyValue::new("http.method", AnyValue::from("GET")),
                KeyValue::new("http.route", AnyValue::from("/api/items")),
                KeyValue::new("http.status_code", AnyValue::Int(200)),
                KeyValue::new("net.peer.port", AnyValue::Int(443)),
                KeyValue::new("sampled", AnyValue::Bool(true)),
            ];
            s
        })
        .collect()
}

fn main() {
    let spans = batch(512);
    let rounds = 2000;
    let mut buf = Vec::new();
    encode_trace_request(&spans, &mut buf);
    let bytes = buf.len();
    // What the exporter runs (one pass), then the sized writer (sizes first) it replaced.
    let one_pass = |buf: &mut Vec<u8>| encode_trace_request(black_box(&spans), buf);
    let sized = |buf: &mut Vec<u8>| TraceRequest::new(black_box(&spans)).write(buf);
    for (name, encode) in [
        ("one pass", &one_pass as &dyn Fn(&mut Vec<u8>)),
        ("sized first", &sized),
    ] {
        let start = Instant::now();
        for _ in 0..rounds {
            buf.clear();
            encode(&mut buf);
            black_box(&buf);
        }
        let per_span = start.elapsed().as_nanos() as f64 / (rounds * spans.len()) as f64;
        println!(
            "encode ExportTraceServiceRequest, {name}: {per_span:.1} ns/span ({} bytes/span, {:.0} MB/s)",
            bytes / spans.len(),
            bytes as f64 * rounds as f64 / start.elapsed().as_secs_f64() / 1e6
        );
    }
}
