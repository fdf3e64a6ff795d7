//! The trace exporter end to end against the embedded receiver and broken peers.

use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use otlp::export::{ExporterConfig, TraceExporter};
use otlp::model::{AnyValue, KeyValue, Resource, Scope, SpanData};
use otlp::pipeline::BatchConfig;
use otlp::receiver::{Format, Receiver};
use otlp::resilience::{CircuitConfig, RetryPolicy};
use otlp::transport::http::HttpVersion;
use otlp::transport::{Compression, Protocol};

fn spans(n: usize) -> Vec<SpanData> {
    let resource = Arc::new(Resource {
        attributes: vec![KeyValue::new("service.name", AnyValue::from("test"))],
        ..Resource::default()
    });
    let scope = Arc::new(Scope {
        name: "t".into(),
        ..Scope::default()
    });
    (0..n)
        .map(|i| {
            let mut s = SpanData::new(resource.clone(), scope.clone(), format!("span-{i}"));
            s.trace_id = otlp::ids::new_trace_id();
            s.span_id = otlp::ids::new_span_id();
            s.start_time_unix_nano = 1;
            s.end_time_unix_nano = 2;
            s.attributes = vec![KeyValue::new("i", AnyValue::Int(i as i64))];
            s
        })
        .collect()
}

fn config(endpoint: String) -> ExporterConfig {
    ExporterConfig {
        endpoint,
        batch: BatchConfig {
            max_queue_size: 100_000,
            max_export_batch_size: 512,
            schedule_delay: Duration::from_millis(50),
            max_concurrent_exports: 2,
        },
        retry: RetryPolicy {
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
            multiplier: 2.0,
            max_elapsed: Duration::from_millis(500),
        },
        timeout: Duration::from_secs(5),
        // These tests count retries; the breaker has its own tests.
        circuit: CircuitConfig {
            failure_threshold: 0,
            ..CircuitConfig::default()
        },
        ..ExporterConfig::default()
    }
}

#[test]
fn every_span_arrives_plain_gzip_and_zstd() {
    let rt = otlp::runtime::handle().unwrap();
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let receiver = Receiver::start(&rt, "127.0.0.1:0").unwrap();
        let exporter = TraceExporter::new(ExporterConfig {
            compression,
            ..config(format!("http://{}", receiver.local_addr()))
        })
        .unwrap();
        for s in spans(10_000) {
            exporter.export(Box::new(s));
        }
        assert!(exporter.force_flush(otlp::time::after(Duration::from_secs(20))));
        let stats = exporter.stats();
        assert_eq!(stats.exported, 10_000, "{compression:?}: {stats:?}");
        assert_eq!(receiver.counts().spans.load(Ordering::Relaxed), 10_000);
        assert_eq!(receiver.counts().errors.load(Ordering::Relaxed), 0);
        assert!(exporter.shutdown(otlp::time::after(Duration::from_secs(5))));
    }
}

#[test]
fn otlp_http_over_http2_reaches_the_receiver_compressed_or_not_and_as_json() {
    let rt = otlp::runtime::handle().unwrap();
    let receiver = Receiver::start(&rt, "127.0.0.1:0").unwrap();
    let mut sent = 0;
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let exporter = TraceExporter::new(ExporterConfig {
            compression,
            protocol: Protocol::HttpProtobuf,
            http_version: HttpVersion::Http2,
            ..config(format!("http://{}", receiver.local_addr()))
        })
        .unwrap();
        for s in spans(5_000) {
            exporter.export(Box::new(s));
        }
        sent += 5_000;
        assert!(exporter.force_flush(otlp::time::after(Duration::from_secs(20))));
        let stats = exporter.stats();
        assert_eq!(stats.exported, 5_000, "{compression:?}: {stats:?}");
        assert_eq!(receiver.counts().spans.load(Ordering::Relaxed), sent);
        assert_eq!(receiver.counts().errors.load(Ordering::Relaxed), 0);
        assert!(exporter.shutdown(otlp::time::after(Duration::from_secs(5))));
    }
    // OTLP/JSON is taken as well (and kept as JSON; the receiver counts only protobuf).
    let receiver = Receiver::start_on(&rt, "127.0.0.1:0", None, Default::default(), 100).unwrap();
    let exporter = TraceExporter::new(ExporterConfig {
        protocol: Protocol::HttpJson,
        http_version: HttpVersion::Http2,
        ..config(format!("http://{}", receiver.local_addr()))
    })
    .unwrap();
    for s in spans(10) {
        exporter.export(Box::new(s));
    }
    assert!(exporter.force_flush(otlp::time::after(Duration::from_secs(20))));
    assert_eq!(exporter.stats().exported, 10);
    let kept = receiver.take();
    assert!(!kept.is_empty());
    for r in &kept {
        assert_eq!((r.signal, r.format), ("traces", Format::Json));
        assert!(
            r.body.starts_with(b"{\"resourceSpans\""),
            "{:?}",
            &r.body[..20]
        );
    }
}

#[test]
fn refused_connections_exhaust_retries_and_are_counted() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let exporter = TraceExporter::new(config(format!("http://127.0.0.1:{port}"))).unwrap();
    for s in spans(1000) {
        exporter.export(Box::new(s));
    }
    // Settled in time, but not all delivered: flush says so.
    assert!(!exporter.force_flush(otlp::time::after(Duration::from_secs(10))));
    let stats = exporter.stats();
    assert_eq!(stats.failed_retries_exhausted, 1000, "{stats:?}");
    assert!(stats.requests_retried > 0);
    assert!(stats.last_error.unwrap().starts_with("UNAVAILABLE"));
    assert_eq!(stats.bytes_sent, 0, "nothing reached a socket");
}

#[test]
fn shutdown_returns_by_its_deadline_when_the_server_never_answers() {
    // Accepts connections and never reads or answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = std::thread::spawn(move || {
        let mut held = Vec::new();
        listener.set_nonblocking(true).unwrap();
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            match listener.accept() {
                Ok((s, _)) => held.push(s),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    let exporter = TraceExporter::new(ExporterConfig {
        timeout: Duration::from_secs(30),
        ..config(format!("http://127.0.0.1:{port}"))
    })
    .unwrap();
    for s in spans(2000) {
        exporter.export(Box::new(s));
    }
    let start = Instant::now();
    assert!(!exporter.force_flush(otlp::time::after(Duration::from_secs(1))));
    assert!(
        start.elapsed() < Duration::from_millis(1200),
        "{:?}",
        start.elapsed()
    );
    let start = Instant::now();
    assert!(!exporter.shutdown(otlp::time::after(Duration::from_secs(1))));
    assert!(
        start.elapsed() < Duration::from_millis(1200),
        "{:?}",
        start.elapsed()
    );
    let stats = exporter.stats();
    assert_eq!(stats.dropped_shutdown, 2000, "{stats:?}");
    assert_eq!(stats.exported, 0);
    // Twice is harmless.
    assert!(exporter.shutdown(otlp::time::after(Duration::from_secs(1))));
    drop(hold);
}

#[test]
fn spans_after_shutdown_are_counted_as_dropped() {
    let rt = otlp::runtime::handle().unwrap();
    let receiver = Receiver::start(&rt, "127.0.0.1:0").unwrap();
    let exporter = TraceExporter::new(config(format!("http://{}", receiver.local_addr()))).unwrap();
    assert!(exporter.shutdown(otlp::time::after(Duration::from_secs(5))));
    for s in spans(3) {
        exporter.export(Box::new(s));
    }
    let stats = exporter.stats();
    assert_eq!((stats.accepted, stats.dropped_shutdown), (3, 3));
}

#[test]
fn a_full_queue_drops_the_newest_and_counts_them() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cfg = config(format!("http://127.0.0.1:{port}"));
    cfg.batch.max_queue_size = 100;
    cfg.batch.max_export_batch_size = 100;
    cfg.batch.schedule_delay = Duration::from_secs(60);
    let exporter = TraceExporter::new(cfg).unwrap();
    // Out of the queue at most: two batches in flight (retrying), one waiting for an
    // in-flight slot, one queued: 400 of 1000. The rest must be dropped on arrival.
    for s in spans(1000) {
        exporter.export(Box::new(s));
    }
    let stats = exporter.stats();
    assert_eq!(stats.accepted, 1000);
    assert!(stats.dropped_queue_full >= 600, "{stats:?}");
    exporter.shutdown(otlp::time::after(Duration::from_millis(100)));
    let s = exporter.stats();
    assert_eq!(
        s.accepted,
        s.exported + s.rejected + s.dropped() + s.failed(),
        "every span is accounted for once: {s:?}"
    );
}

#[test]
fn metrics_are_collected_and_delivered_on_flush() {
    use otlp::aggregate::{AttributeSet, Descriptor, InstrumentKind, DEFAULT_BOUNDARIES};
    use otlp::metrics::{MetricsConfig, MetricsExporter};
    use otlp::model::Number;

    let rt = otlp::runtime::handle().unwrap();
    let receiver = Receiver::start(&rt, "127.0.0.1:0").unwrap();
    let exporter = MetricsExporter::new(
        &config(format!("http://{}", receiver.local_addr())),
        MetricsConfig {
            interval: Duration::from_secs(3600),
            ..MetricsConfig::default()
        },
        Arc::new(Resource::default()),
    )
    .unwrap();
    let scope = Arc::new(Scope::default());
    let counter = exporter.instrument(
        &scope,
        Descriptor {
            name: "c".into(),
            description: String::new(),
            unit: String::new(),
            kind: InstrumentKind::Counter,
            boundaries: DEFAULT_BOUNDARIES.to_vec(),
        },
    );
    for i in 0..5 {
        let attrs = AttributeSet::new(vec![KeyValue::new("i", AnyValue::Int(i))]);
        counter.record(Number::Int(1), attrs, 1).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    assert!(exporter.force_flush(deadline));
    let stats = exporter.stats();
    assert_eq!(stats.exported, 5, "five points: {stats:?}");
    assert_eq!(receiver.counts().metrics.load(Ordering::Relaxed), 1);
    assert!(exporter.shutdown(Instant::now() + Duration::from_secs(5)));
}

#[test]
fn batches_too_large_for_one_request_are_split_and_oversized_items_dropped() {
    let rt = otlp::runtime::handle().unwrap();
    let receiver = Receiver::start(&rt, "127.0.0.1:0").unwrap();
    let exporter = TraceExporter::new(ExporterConfig {
        max_request_size: 4096,
        ..config(format!("http://{}", receiver.local_addr()))
    })
    .unwrap();
    let mut batch = spans(301);
    // One span alone is larger than a request may be.
    batch[150]
        .attributes
        .push(KeyValue::new("blob", AnyValue::Bytes(vec![7; 10_000])));
    for s in batch {
        exporter.export(Box::new(s));
    }
    // Settled in time, but not all delivered: flush says so.
    assert!(!exporter.force_flush(otlp::time::after(Duration::from_secs(20))));
    let stats = exporter.stats();
    assert_eq!(stats.exported, 300, "{stats:?}");
    assert_eq!(stats.dropped_too_large, 1, "{stats:?}");
    assert_eq!(receiver.counts().spans.load(Ordering::Relaxed), 300);
    assert!(
        stats.requests_ok >= 300 * 60 / 4096,
        "split into several requests: {stats:?}"
    );
    assert!(stats.last_error.unwrap().contains("request limit"));
}

#[test]
fn the_disk_queue_keeps_what_shutdown_left_and_the_next_exporter_sends_it_first() {
    use otlp::pipeline::{Fsync, QueueConfig};
    let dir = std::env::temp_dir().join(format!("otlp-pipeline-disk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let down = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let queue = QueueConfig {
        directory: Some(dir.clone()),
        fsync: Fsync::Always,
        ..QueueConfig::default()
    };
    // The collector is down: after a flush the spans are durable, and at shutdown they
    // stay on disk instead of being dropped.
    let first = TraceExporter::new(ExporterConfig {
        queue: queue.clone(),
        retry: RetryPolicy {
            max_elapsed: Duration::from_secs(60),
            ..config(String::new()).retry
        },
        ..config(format!("http://127.0.0.1:{down}"))
    })
    .unwrap();
    for s in spans(1000) {
        first.export(Box::new(s));
    }
    assert!(
        first.force_flush(otlp::time::after(Duration::from_secs(20))),
        "durable"
    );
    first.shutdown(otlp::time::after(Duration::from_millis(200)));
    let stats = first.stats();
    assert_eq!(stats.left_on_disk, 1000, "{stats:?}");
    assert_eq!(stats.dropped(), 0, "{stats:?}");
    drop(first);
    // The next exporter on the same directory sends them to a live collector.
    let rt = otlp::runtime::handle().unwrap();
    let receiver = Receiver::start(&rt, "127.0.0.1:0").unwrap();
    let second = TraceExporter::new(ExporterConfig {
        queue,
        ..config(format!("http://{}", receiver.local_addr()))
    })
    .unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    while receiver.counts().spans.load(Ordering::Relaxed) < 1000 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(receiver.counts().spans.load(Ordering::Relaxed), 1000);
    assert!(second.shutdown(otlp::time::after(Duration::from_secs(10))));
    let stats = second.stats();
    assert_eq!((stats.accepted, stats.exported), (1000, 1000), "{stats:?}");
    let left: Vec<_> = std::fs::read_dir(dir.join("traces"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".req"))
        .collect();
    assert!(left.is_empty(), "settled requests are removed");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn with_a_disk_queue_an_outage_fills_the_disk_not_the_memory_queue() {
    use otlp::pipeline::{Fsync, Overflow, QueueConfig};
    let dir = std::env::temp_dir().join(format!("otlp-pipeline-spool-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let down = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // A memory queue of 256 spans and a collector that is down: without the disk
    // queue, producers would wait `block_timeout` and then drop almost everything.
    let queue = QueueConfig {
        directory: Some(dir.clone()),
        fsync: Fsync::Never,
        overflow: Overflow::Block,
        block_timeout: Duration::from_secs(20),
        ..QueueConfig::default()
    };
    let small = BatchConfig {
        max_queue_size: 256,
        max_export_batch_size: 64,
        ..config(String::new()).batch
    };
    let first = TraceExporter::new(ExporterConfig {
        queue: queue.clone(),
        batch: small,
        retry: RetryPolicy {
            max_elapsed: Duration::from_secs(60),
            ..config(String::new()).retry
        },
        ..config(format!("http://127.0.0.1:{down}"))
    })
    .unwrap();
    let n = 20_000;
    for s in spans(n) {
        first.export(Box::new(s));
    }
    assert!(first.force_flush(otlp::time::after(Duration::from_secs(20))));
    first.shutdown(otlp::time::after(Duration::from_millis(200)));
    let stats = first.stats();
    assert_eq!(stats.dropped(), 0, "{stats:?}");
    assert_eq!(stats.left_on_disk, n as u64, "{stats:?}");
    drop(first);
    // Back up: everything arrives, from disk, in bounded memory.
    let rt = otlp::runtime::handle().unwrap();
    let receiver = Receiver::start(&rt, "127.0.0.1:0").unwrap();
    let second = TraceExporter::new(ExporterConfig {
        queue,
        batch: small,
        ..config(format!("http://{}", receiver.local_addr()))
    })
    .unwrap();
    assert!(second.force_flush(otlp::time::after(Duration::from_secs(5))));
    assert!(second.shutdown(otlp::time::after(Duration::from_secs(30))));
    assert_eq!(receiver.counts().spans.load(Ordering::Relaxed), n as u64);
    let stats = second.stats();
    assert_eq!(
        (stats.accepted, stats.exported),
        (n as u64, n as u64),
        "{stats:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
