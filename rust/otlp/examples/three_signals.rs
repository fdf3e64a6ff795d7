//! Spans, metrics and log records exported with the core alone, to the embedded
//! receiver (or to the collector at `$OTLP_ENDPOINT`).
//!
//! ```text
//! cargo run -p otlp --example three_signals
//! ```
//!
//! Exits with status 1 if the receiver did not get everything.

use std::sync::atomic::Ordering;
use std::time::Duration;

use otlp::aggregate::{AttributeSet, Descriptor, InstrumentKind};
use otlp::export::{Settings, Value};
use otlp::model::{AnyValue, KeyValue, LogRecord, Number, SpanData, SpanKind};
use otlp::receiver::Receiver;

fn main() -> otlp::Result<()> {
    let receiver = Receiver::start(&otlp::runtime::handle()?, "127.0.0.1:0")?;
    let endpoint = std::env::var("OTLP_ENDPOINT")
        .unwrap_or_else(|_| format!("http://{}", receiver.local_addr()));

    // The same settings, defaults and checks as Python's otlp.Exporter(...).
    let settings = Settings::from_args(&[
        ("endpoint".into(), Value::Str(endpoint.clone())),
        ("compression".into(), Value::Str("gzip".into())),
    ])?;
    let service = KeyValue::new("service.name", AnyValue::from("three-signals"));
    let exporter = otlp::Exporter::new(settings, otlp::export::resource("rust", vec![service]))?;
    let scope = exporter.scope("example".into(), "1.0".into(), String::new(), Vec::new());

    // Traces: a server span and its child.
    let mut parent = SpanData::new(exporter.resource().clone(), scope.clone(), "GET /items");
    parent.kind = SpanKind::Server;
    parent.trace_id = otlp::ids::new_trace_id();
    parent.span_id = otlp::ids::new_span_id();
    parent.start_time_unix_nano = otlp::ids::now_unix_nano();
    let mut child = SpanData::new(exporter.resource().clone(), scope.clone(), "SELECT items");
    child.kind = SpanKind::Client;
    child.trace_id = parent.trace_id;
    child.span_id = otlp::ids::new_span_id();
    child.parent_span_id = Some(parent.span_id);
    child.start_time_unix_nano = parent.start_time_unix_nano;
    child.end_time_unix_nano = otlp::ids::now_unix_nano();
    parent.end_time_unix_nano = otlp::ids::now_unix_nano();
    exporter.traces().export(Box::new(child));
    exporter.traces().export(Box::new(parent));

    // Metrics: a counter, aggregated in the core and exported on flush.
    if let Some(metrics) = exporter.metrics()? {
        let requests = metrics.instrument(
            &scope,
            Descriptor {
                name: "http.server.requests".into(),
                description: String::new(),
                unit: "1".into(),
                kind: InstrumentKind::Counter,
                boundaries: Vec::new(),
            },
        );
        let route = AttributeSet::new(vec![KeyValue::new("route", AnyValue::from("/items"))]);
        requests.add(Number::Int(3), route, otlp::ids::now_unix_nano());
    }

    // Logs: one record.
    if let Some(logs) = exporter.logs()? {
        let mut record = LogRecord::new(
            exporter.resource().clone(),
            scope.clone(),
            AnyValue::from("served 3 requests"),
        );
        record.time_unix_nano = otlp::ids::now_unix_nano();
        record.severity_number = 9;
        record.severity_text = "INFO".into();
        logs.export(Box::new(record));
    }

    let delivered = exporter.force_flush(otlp::time::after(Duration::from_secs(10)));
    exporter.shutdown(otlp::time::after(Duration::from_secs(5)));
    let counts = receiver.counts();
    let (spans, metrics, logs) = (
        counts.spans.load(Ordering::Relaxed),
        counts.metrics.load(Ordering::Relaxed),
        counts.log_records.load(Ordering::Relaxed),
    );
    println!("sent to {endpoint}: delivered={delivered}");
    if std::env::var("OTLP_ENDPOINT").is_err() {
        println!("received {spans} spans, {metrics} metrics, {logs} log records");
        if !(delivered && spans == 2 && metrics >= 1 && logs == 1) {
            std::process::exit(1);
        }
    }
    Ok(())
}
