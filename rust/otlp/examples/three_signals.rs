//! Spans, metrics and log records exported with the core alone, to the embedded
//! receiver (or to the collector at `$OTLP_ENDPOINT`).
//!
//! ```text
//! cargo run -p otlp --example three_signals
//! ```
//!
//! Exits with status 1 if the receiver did not get everything.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use otlp::aggregate::{AttributeSet, Descriptor, InstrumentKind};
use otlp::export::{Settings, Value};
use otlp::model::{AnyValue, KeyValue, LogRecord, Number, SpanKind};
use otlp::receiver::Receiver;
use otlp::trace::Tracer;

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
    let resource = otlp::export::resource("rust", vec![service]);
    let exporter = Arc::new(otlp::Exporter::new(settings, resource)?);
    let scope = exporter.scope("example".into(), "1.0".into(), String::new(), Vec::new());

    // Traces: a server span and its child, with the same rules as Python's spans (ids,
    // flags, limits, status, end time). The second value says whether the exporter was
    // shut down already (then the span records nothing).
    let tracer = Arc::new(Tracer::new(exporter.clone(), scope.clone()));
    let (parent, _) = tracer.start("GET /items", SpanKind::Server, None, None);
    let (child, _) = tracer.start(
        "SELECT items",
        SpanKind::Client,
        Some(parent.context()),
        None,
    );
    child.set_attribute("db.system", AnyValue::from("postgresql"));
    child.end(None);

    // Metrics: a counter, aggregated in the core and exported on flush. A negative
    // increment would be refused, as in Python.
    if let Some(metrics) = exporter.metrics()? {
        let descriptor = Descriptor::new(
            "http.server.requests",
            "1",
            "",
            InstrumentKind::Counter,
            None,
        )?;
        let requests = metrics.instrument(&scope, descriptor);
        let route = AttributeSet::new(vec![KeyValue::new("route", AnyValue::from("/items"))]);
        if let Err(refused) = requests.record(Number::Int(3), route, otlp::ids::now_unix_nano()) {
            eprintln!("http.server.requests: {refused}");
        }
    }

    // Logs: one record, in the server span's context.
    if let Some(logs) = exporter.logs()? {
        let mut record = LogRecord::new(
            exporter.resource().clone(),
            scope.clone(),
            AnyValue::from("served 3 requests"),
        );
        record.time_unix_nano = otlp::ids::now_unix_nano();
        record.observed_time_unix_nano = record.time_unix_nano;
        record.set_severity(otlp::logs::DEFAULT_SEVERITY, None);
        record.set_context(parent.context());
        logs.export(Box::new(record));
    }
    parent.end(None);

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
