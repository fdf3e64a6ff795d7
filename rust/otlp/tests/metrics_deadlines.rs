//! The metrics exporter keeps its deadlines whatever its callbacks do, and any
//! duration it is given is safe. Scenarios that could deadlock run on a helper thread
//! with a time limit, so that a hang fails the test instead of the test run.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use otlp::aggregate::{AttributeSet, Descriptor, InstrumentKind, DEFAULT_BOUNDARIES};
use otlp::export::ExporterConfig;
use otlp::metrics::{Callback, MetricsConfig, MetricsExporter};
use otlp::model::{Number, Resource, Scope};
use otlp::receiver::Receiver;
use otlp::resilience::RetryPolicy;
use otlp::time::MAX_DURATION;

/// Deadline tests, not benchmarks: the slack covers a busy 2-core machine.
const SLACK: Duration = Duration::from_millis(1500);

fn export_config(endpoint: String) -> ExporterConfig {
    ExporterConfig {
        endpoint,
        retry: RetryPolicy {
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
            multiplier: 2.0,
            max_elapsed: Duration::from_millis(500),
        },
        ..ExporterConfig::default()
    }
}

fn exporter(receiver: &Receiver, config: MetricsConfig) -> Arc<MetricsExporter> {
    MetricsExporter::new(
        &export_config(format!("http://{}", receiver.local_addr())),
        config,
        Arc::new(Resource::default()),
    )
    .unwrap()
}

fn descriptor(name: &str, kind: InstrumentKind) -> Descriptor {
    Descriptor {
        name: name.into(),
        description: String::new(),
        unit: String::new(),
        kind,
        boundaries: DEFAULT_BOUNDARIES.to_vec(),
    }
}

/// An observable gauge of `exp` whose callback is `f`, called with the exporter.
fn gauge(
    exp: &Arc<MetricsExporter>,
    f: impl Fn(&MetricsExporter) -> f64 + Send + Sync + 'static,
) -> Arc<OnceLock<Weak<MetricsExporter>>> {
    struct Cb<F> {
        exporter: Arc<OnceLock<Weak<MetricsExporter>>>,
        f: F,
    }
    impl<F: Fn(&MetricsExporter) -> f64 + Send + Sync> Callback for Cb<F> {
        fn call(
            &self,
            observe: &mut dyn FnMut(Number, AttributeSet),
        ) -> std::result::Result<(), String> {
            let exp = self.exporter.get().and_then(Weak::upgrade).ok_or("gone")?;
            observe(
                Number::Double((self.f)(&exp)),
                AttributeSet::new(Vec::new()),
            );
            Ok(())
        }
    }
    let scope = Arc::new(Scope::default());
    let instrument = exp.instrument(&scope, descriptor("g", InstrumentKind::ObservableGauge));
    let cell = Arc::new(OnceLock::new());
    cell.set(Arc::downgrade(exp)).unwrap();
    exp.register_callback(
        instrument,
        Arc::new(Cb {
            exporter: cell.clone(),
            f,
        }),
    );
    cell
}

/// A gate a callback can block on until the test opens it.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    changed: Condvar,
}

impl Gate {
    fn wait(&self, limit: Duration) {
        let guard = self.open.lock().unwrap();
        let _ = self
            .changed
            .wait_timeout_while(guard, limit, |open| !*open)
            .unwrap();
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.changed.notify_all();
    }
}

/// Run `f` on a helper thread; fail if it does not return within `limit`.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("hung: no result within {limit:?}"))
}

fn wait_until(limit: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    ok()
}

#[test]
fn any_interval_and_timeout_is_refused_or_safe() {
    let rt = otlp::runtime::handle().unwrap();
    let receiver = Receiver::start(&rt, "127.0.0.1:0").unwrap();
    let export = export_config(format!("http://{}", receiver.local_addr()));
    for (config, name) in [
        (
            MetricsConfig {
                interval: Duration::MAX,
                ..MetricsConfig::default()
            },
            "`metrics.interval`",
        ),
        (
            MetricsConfig {
                timeout: Duration::MAX,
                ..MetricsConfig::default()
            },
            "`metrics.timeout`",
        ),
    ] {
        let Err(e) = MetricsExporter::new(&export, config, Arc::new(Resource::default())) else {
            panic!("{name} = Duration::MAX was accepted");
        };
        assert!(e.to_string().starts_with(name), "{e}");
    }

    // The longest accepted: starts, flushes and shuts down.
    let exp = exporter(
        &receiver,
        MetricsConfig {
            interval: MAX_DURATION,
            timeout: MAX_DURATION,
            ..MetricsConfig::default()
        },
    );
    let scope = Arc::new(Scope::default());
    let counter = exp.instrument(&scope, descriptor("c", InstrumentKind::Counter));
    counter
        .record(Number::Int(3), AttributeSet::new(Vec::new()), 1)
        .unwrap();
    let flushed = {
        let exp = exp.clone();
        within(Duration::from_secs(20), move || {
            exp.force_flush(Instant::now() + Duration::from_secs(10))
        })
    };
    assert!(flushed, "{:?}", exp.stats());
    assert_eq!(exp.stats().exported, 1);
    assert_eq!(receiver.counts().metrics.load(Ordering::Relaxed), 1);
    assert!(exp.shutdown(Instant::now() + Duration::from_secs(5)));
}

#[test]
fn a_stuck_callback_holds_neither_force_flush_nor_shutdown() {
    let rt = otlp::runtime::handle().unwrap();
    let receiver = Receiver::start(&rt, "127.0.0.1:0").unwrap();
    let exp = exporter(&receiver, MetricsConfig::default());
    let gate = Arc::new(Gate::default());
    let stuck = gate.clone();
    gauge(&exp, move |_| {
        stuck.wait(Duration::from_secs(10));
        1.0
    });

    let deadline = Duration::from_millis(500);
    let (flushed, flush_took, clean, shutdown_took) = {
        let exp = exp.clone();
        within(Duration::from_secs(30), move || {
            let start = Instant::now();
            let flushed = exp.force_flush(start + deadline);
            let flush_took = start.elapsed();
            let start = Instant::now();
            let clean = exp.shutdown(start + deadline);
            (flushed, flush_took, clean, start.elapsed())
        })
    };
    gate.open();
    assert!(!flushed && !clean);
    assert!(
        flush_took < deadline + SLACK,
        "force_flush took {flush_took:?}"
    );
    assert!(
        shutdown_took < deadline + SLACK,
        "shutdown took {shutdown_took:?}"
    );
    // Once the callback returns, its collection is late: counted, never sent.
    assert!(wait_until(Duration::from_secs(10), || exp
        .collections_late()
        == 1));
    assert_eq!(exp.stats().accepted, 0);
    assert_eq!(receiver.counts().requests.load(Ordering::Relaxed), 0);
}

#[test]
fn a_callback_may_flush() {
    let rt = otlp::runtime::handle().unwrap();
    let receiver = Receiver::start(&rt, "127.0.0.1:0").unwrap();
    let exp = exporter(&receiver, MetricsConfig::default());
    let inner = Arc::new(Mutex::new(Vec::new()));
    let seen = inner.clone();
    gauge(&exp, move |exp| {
        let flushed = exp.force_flush(Instant::now() + Duration::from_secs(2));
        seen.lock().unwrap().push(flushed);
        1.0
    });
    let flushed = {
        let exp = exp.clone();
        within(Duration::from_secs(20), move || {
            exp.force_flush(Instant::now() + Duration::from_secs(10))
        })
    };
    assert!(flushed);
    // It cannot wait for the collection it runs in, and says so.
    assert_eq!(*inner.lock().unwrap(), [false]);
    assert_eq!(receiver.counts().metrics.load(Ordering::Relaxed), 1);
    assert!(exp.shutdown(Instant::now() + Duration::from_secs(5)));
}

#[test]
fn a_callback_may_shut_down() {
    let rt = otlp::runtime::handle().unwrap();
    let receiver = Receiver::start(&rt, "127.0.0.1:0").unwrap();
    let exp = exporter(&receiver, MetricsConfig::default());
    let inner = Arc::new(Mutex::new(Vec::new()));
    let seen = inner.clone();
    gauge(&exp, move |exp| {
        let clean = exp.shutdown(Instant::now() + Duration::from_secs(5));
        seen.lock().unwrap().push(clean);
        1.0
    });
    let flushed = {
        let exp = exp.clone();
        within(Duration::from_secs(20), move || {
            exp.force_flush(Instant::now() + Duration::from_secs(10))
        })
    };
    assert!(flushed);
    assert_eq!(*inner.lock().unwrap(), [false]);
    // The collection it was called from is the last, and is delivered.
    assert!(wait_until(Duration::from_secs(10), || {
        receiver.counts().metrics.load(Ordering::Relaxed) == 1
    }));
    assert!(exp.shutdown(Instant::now() + Duration::from_secs(5)));
    assert_eq!(exp.stats().exported, 1);
}

#[test]
fn a_fork_pause_from_a_callback_does_not_wait_for_itself() {
    let rt = otlp::runtime::handle().unwrap();
    let receiver = Receiver::start(&rt, "127.0.0.1:0").unwrap();
    let exp = exporter(&receiver, MetricsConfig::default());
    // What `os.fork()` in a Python callback does around the fork, in the parent.
    gauge(&exp, |exp| {
        exp.pause_for_fork();
        exp.resume_after_fork();
        1.0
    });
    let flushed = {
        let exp = exp.clone();
        within(Duration::from_secs(20), move || {
            exp.force_flush(Instant::now() + Duration::from_secs(10))
        })
    };
    assert!(flushed);
    assert!(exp.shutdown(Instant::now() + Duration::from_secs(5)));
}
