//! The request decoder against the encoders: what the exporter writes decodes back to
//! the same model and the same bytes, in protobuf and OTLP/JSON; and no input, cut,
//! corrupted, random, deeply nested or amplifying, makes it panic or allocate without
//! bound.

use std::sync::Arc;

use otlp::decode::request::{self, DecodeError, Format, Request, MAX_DEPTH};
use otlp::encode::{
    encode_logs_json, encode_logs_request, encode_metrics_json, encode_metrics_request,
    encode_trace_request, encode_traces_json,
};
use otlp::export::SignalKind;
use otlp::model::*;

fn attrs() -> Vec<KeyValue> {
    vec![
        KeyValue::new("s", AnyValue::from("text \"quoted\" ✓")),
        KeyValue::new("", AnyValue::Empty),
        KeyValue::new("i", AnyValue::Int(-1)),
        KeyValue::new("z", AnyValue::Int(0)),
        KeyValue::new("d", AnyValue::Double(f64::NEG_INFINITY)),
        KeyValue::new("b", AnyValue::Bool(false)),
        KeyValue::new("by", AnyValue::Bytes(vec![0, 255, 7])),
        KeyValue::new(
            "nested",
            AnyValue::KvList(vec![KeyValue::new(
                "a",
                AnyValue::Array(vec![AnyValue::Empty, AnyValue::from("")]),
            )]),
        ),
    ]
}

fn resource(n: &str) -> Arc<Resource> {
    Arc::new(Resource {
        attributes: vec![KeyValue::new("service.name", AnyValue::from(n))],
        dropped_attributes_count: 2,
        schema_url: format!("https://schema/{n}"),
    })
}

fn scope(n: &str) -> Arc<Scope> {
    Arc::new(Scope {
        name: n.into(),
        version: "1.0".into(),
        attributes: attrs(),
        dropped_attributes_count: u32::MAX,
        schema_url: String::new(),
    })
}

fn spans() -> Vec<SpanData> {
    let (r1, r2) = (resource("a"), resource("b"));
    let (s1, s2) = (scope("x"), scope("y"));
    let mut out = Vec::new();
    for (i, (r, s)) in [(&r1, &s1), (&r1, &s2), (&r2, &s1), (&r1, &s1)]
        .into_iter()
        .enumerate()
    {
        let mut sp = SpanData::new(r.clone(), s.clone(), format!("op{i}"));
        sp.trace_id = [i as u8 + 1; 16];
        sp.span_id = [0xab; 8];
        sp.parent_span_id = (i % 2 == 0).then_some([7; 8]);
        sp.trace_state = "k=v".into();
        sp.flags = 0x301;
        sp.kind = SpanKind::from_wire(i as i32 + 1).unwrap();
        sp.start_time_unix_nano = u64::MAX;
        sp.end_time_unix_nano = 1;
        sp.attributes = attrs();
        sp.dropped_attributes_count = 3;
        sp.events = vec![Event {
            time_unix_nano: 5,
            name: "e".into(),
            attributes: attrs(),
            dropped_attributes_count: 1,
        }];
        sp.links = vec![Link {
            trace_id: [9; 16],
            span_id: [8; 8],
            trace_state: "x=y".into(),
            attributes: attrs(),
            dropped_attributes_count: 2,
            flags: 0x100,
        }];
        sp.dropped_links_count = u32::MAX;
        sp.status = match i {
            0 => None,
            1 => Some(Status::default()),
            _ => Some(Status {
                code: StatusCode::Error,
                message: "bad".into(),
            }),
        };
        out.push(sp);
    }
    out
}

fn logs() -> Vec<LogRecord> {
    let r = resource("a");
    let s = scope("x");
    let mut a = LogRecord::new(r.clone(), s.clone(), AnyValue::from("hello"));
    a.time_unix_nano = 1;
    a.observed_time_unix_nano = 2;
    a.severity_number = -5;
    a.severity_text = "WARN".into();
    a.attributes = attrs();
    a.dropped_attributes_count = 1;
    a.flags = 1;
    a.trace_id = Some([1; 16]);
    a.span_id = Some([2; 8]);
    a.event_name = "ev".into();
    let b = LogRecord::new(r, s, AnyValue::Empty);
    vec![a, b]
}

fn metrics() -> Vec<ResourceMetrics> {
    let exemplar = |value| Exemplar {
        filtered_attributes: attrs(),
        time_unix_nano: 4,
        value,
        ids: Some(([1; 16], [2; 8])),
    };
    let number = |value| NumberPoint {
        attributes: attrs(),
        start_time_unix_nano: 0,
        time_unix_nano: 3,
        value,
        exemplars: vec![exemplar(Number::Int(0)), exemplar(Number::Double(f64::NAN))],
        flags: 1,
    };
    let data = vec![
        MetricData::Gauge(vec![number(Number::Int(0)), number(Number::Double(-0.0))]),
        MetricData::Sum {
            points: vec![NumberPoint {
                start_time_unix_nano: 9,
                ..number(Number::Int(i64::MIN))
            }],
            temporality: Temporality::Other(-7),
            monotonic: true,
        },
        MetricData::Histogram {
            points: vec![HistogramPoint {
                attributes: attrs(),
                count: 3,
                sum: Some(0.0),
                bucket_counts: vec![1, 0, 2],
                explicit_bounds: vec![-1.0, f64::INFINITY],
                exemplars: vec![exemplar(Number::Double(1.5))],
                min: Some(f64::INFINITY),
                max: None,
                ..HistogramPoint::default()
            }],
            temporality: Temporality::Delta,
        },
        MetricData::ExponentialHistogram {
            points: vec![ExponentialHistogramPoint {
                count: 4,
                scale: -3,
                zero_count: 1,
                positive: Some(Buckets {
                    offset: -2,
                    bucket_counts: vec![1, u64::MAX],
                }),
                negative: Some(Buckets::default()),
                zero_threshold: -0.0,
                min: Some(-1.0),
                ..ExponentialHistogramPoint::default()
            }],
            temporality: Temporality::Cumulative,
        },
        MetricData::Summary(vec![SummaryPoint {
            attributes: attrs(),
            start_time_unix_nano: 1,
            time_unix_nano: 2,
            count: 7,
            sum: -0.0,
            quantile_values: vec![
                Quantile {
                    quantile: 0.0,
                    value: -3.5,
                },
                Quantile {
                    quantile: 1.0,
                    value: f64::MAX,
                },
            ],
            flags: 1,
        }]),
    ];
    let mut metrics: Vec<Metric> = data
        .into_iter()
        .enumerate()
        .map(|(i, d)| Metric {
            name: format!("m{i}"),
            description: "d".into(),
            unit: "s".into(),
            data: Some(d),
            metadata: if i == 0 { attrs() } else { Vec::new() },
        })
        .collect();
    metrics.push(Metric {
        name: "no points".into(),
        description: String::new(),
        unit: String::new(),
        data: None,
        metadata: Vec::new(),
    });
    vec![
        ResourceMetrics {
            resource: resource("a"),
            scope_metrics: vec![
                ScopeMetrics {
                    scope: scope("x"),
                    metrics: metrics.clone(),
                },
                ScopeMetrics {
                    scope: scope("y"),
                    metrics: metrics[..1].to_vec(),
                },
            ],
        },
        ResourceMetrics {
            resource: resource("a"),
            scope_metrics: vec![ScopeMetrics {
                scope: scope("x"),
                metrics,
            }],
        },
    ]
}

/// `(signal, protobuf, OTLP/JSON)` of every fixture.
fn bodies() -> Vec<(SignalKind, Vec<u8>, Vec<u8>)> {
    let (mut tp, mut tj, mut mp, mut mj, mut lp, mut lj) = Default::default();
    encode_trace_request(&spans(), &mut tp);
    encode_traces_json(&spans(), &mut tj);
    encode_metrics_request(&metrics(), &mut mp);
    encode_metrics_json(&metrics(), &mut mj);
    encode_logs_request(&logs(), &mut lp);
    encode_logs_json(&logs(), &mut lj);
    vec![
        (SignalKind::Traces, tp, tj),
        (SignalKind::Metrics, mp, mj),
        (SignalKind::Logs, lp, lj),
    ]
}

#[test]
fn what_the_encoders_write_decodes_back_to_the_same_model() {
    let (tp, mp, lp) = {
        let b = bodies();
        (b[0].1.clone(), b[1].1.clone(), b[2].1.clone())
    };
    // Spans come back grouped by resource, then scope (see the next tests).
    let grouped: Vec<SpanData> = [0, 3, 1, 2].map(|i| spans()[i].clone()).into();
    assert_eq!(request::traces(&tp, Format::Protobuf).unwrap(), grouped);
    assert_eq!(request::logs(&lp, Format::Protobuf).unwrap(), logs());
    // NaN is not equal to itself: metrics are compared through their bytes below.
    let decoded = request::metrics(&mp, Format::Protobuf).unwrap();
    assert_eq!(decoded.len(), 2);
    assert_eq!(decoded[0].point_count(), metrics()[0].point_count());
}

#[test]
fn protobuf_and_json_reencode_to_the_same_bytes() {
    for (signal, pb, json) in bodies() {
        let from_pb = Request::decode(signal, &pb, Format::Protobuf).unwrap();
        assert_eq!(from_pb.encode(Format::Protobuf), pb, "{signal:?} protobuf");
        assert_eq!(from_pb.encode(Format::Json), json, "{signal:?} json");
        let from_json = Request::decode(signal, &json, Format::Json).unwrap();
        assert_eq!(
            from_json.encode(Format::Protobuf),
            pb,
            "{signal:?} from json"
        );
    }
}

#[test]
fn shares_one_resource_and_scope_per_group() {
    let (_, pb, _) = bodies().remove(0);
    let spans = request::traces(&pb, Format::Protobuf).unwrap();
    // Grouped on the wire as (a, x: op0 op3), (a, y: op1), (b, x: op2).
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(names, ["op0", "op3", "op1", "op2"]);
    assert!(Arc::ptr_eq(&spans[0].resource, &spans[1].resource));
    assert!(Arc::ptr_eq(&spans[0].scope, &spans[1].scope));
    assert!(Arc::ptr_eq(&spans[0].resource, &spans[2].resource));
    assert!(!Arc::ptr_eq(&spans[0].scope, &spans[2].scope));
    assert!(!Arc::ptr_eq(&spans[0].resource, &spans[3].resource));
}

/// A small deterministic generator, so a failure can be replayed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn cut_corrupted_and_random_bodies_never_panic() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let (mut ok, mut refused) = (0, 0);
    let mut check = |signal, body: &[u8], format| match Request::decode(signal, body, format) {
        Ok(r) => {
            // Whatever decodes also encodes.
            r.encode(Format::Protobuf);
            r.encode(Format::Json);
            ok += 1;
        }
        Err(_) => refused += 1,
    };
    for (signal, pb, json) in bodies() {
        for (body, format) in [(&pb, Format::Protobuf), (&json, Format::Json)] {
            for cut in 0..body.len() {
                check(signal, &body[..cut], format);
            }
            for _ in 0..2000 {
                let mut b = body.clone();
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(b.len());
                    b[i] = rng.next() as u8;
                }
                check(signal, &b, format);
            }
        }
        for _ in 0..2000 {
            let noise: Vec<u8> = (0..rng.below(256)).map(|_| rng.next() as u8).collect();
            check(signal, &noise, Format::Protobuf);
            check(signal, &noise, Format::Json);
        }
    }
    assert!(ok > 0 && refused > 0, "ok {ok}, refused {refused}");
}

fn varint(mut n: usize, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn len_field(tag: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    varint(payload.len(), &mut out);
    out.extend_from_slice(payload);
    out
}

/// A logs request of one record whose body is `depth` arrays deep.
fn nested_logs(depth: usize) -> Vec<u8> {
    let mut value = vec![0x18, 0x01]; // int_value: 1
    for _ in 0..depth {
        value = len_field(0x2a, &len_field(0x0a, &value));
    }
    let record = len_field(0x2a, &value);
    len_field(0x0a, &len_field(0x12, &len_field(0x12, &record)))
}

#[test]
fn nesting_is_bounded() {
    let logs = request::logs(&nested_logs(MAX_DEPTH), Format::Protobuf).unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(
        request::logs(&nested_logs(MAX_DEPTH + 1), Format::Protobuf),
        Err(DecodeError::TooDeep)
    );
    // Far deeper than any stack would survive, were the decoder not bounded.
    let json = format!(
        r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{"body":{}"#,
        r#"{"kvlistValue":{"values":[{"key":"k","value":"#.repeat(200_000)
    );
    assert_eq!(
        request::logs(json.as_bytes(), Format::Json),
        Err(DecodeError::TooDeep)
    );
}

#[test]
fn memory_is_bounded_by_the_body_size() {
    // Two bytes per span on the wire, hundreds in memory.
    let spans = [0x12, 0x00].repeat(1 << 20);
    let body = len_field(0x0a, &len_field(0x12, &spans));
    assert!(matches!(
        request::traces(&body, Format::Protobuf),
        Err(DecodeError::TooLarge(_))
    ));
    // A few real spans are far from the bound.
    let (_, pb, _) = bodies().remove(0);
    assert!(request::traces(&pb, Format::Protobuf).is_ok());
}

#[test]
fn errors_say_what_is_wrong() {
    let span = len_field(0x0a, &[1, 2, 3]); // trace_id of 3 bytes
    let body = len_field(0x0a, &len_field(0x12, &len_field(0x12, &span)));
    let err = request::traces(&body, Format::Protobuf).unwrap_err();
    assert_eq!(
        err.to_string(),
        "malformed protobuf request: Span.trace_id must be 16 bytes, got 3"
    );
    let err = request::traces(br#"{"resourceSpans":{}}"#, Format::Json).unwrap_err();
    assert_eq!(
        err.to_string(),
        "malformed OTLP/JSON request: resourceSpans must be an array"
    );
}

#[test]
fn json_reads_what_generic_protobuf_printers_write() {
    // Proto field names, enum names, base64 ids, numbers for 64-bit integers, null
    // for defaults, and unknown keys.
    let body = br#"{"resource_spans":[{"resource":null,"scope_spans":[{"scope":{"name":"s"},
        "spans":[{"trace_id":"AAECAwQFBgcICQoLDA0ODw==","span_id":"AAECAwQFBgc=",
        "kind":"SPAN_KIND_CLIENT","start_time_unix_nano":12,"status":{"code":"STATUS_CODE_ERROR"},
        "attributes":[{"key":"k","value":{"int_value":"-3","unknown":[1,{"x":null}]}}],
        "parent_span_id":null,"zzz":true}]}]}]}"#;
    let spans = request::traces(body, Format::Json).unwrap();
    let s = &spans[0];
    assert_eq!(s.trace_id, core::array::from_fn(|i| i as u8));
    assert_eq!(s.span_id, core::array::from_fn(|i| i as u8));
    assert_eq!(s.kind, SpanKind::Client);
    assert_eq!(s.start_time_unix_nano, 12);
    assert_eq!(s.status.as_ref().map(|st| st.code), Some(StatusCode::Error));
    assert_eq!(s.attributes, vec![KeyValue::new("k", AnyValue::Int(-3))]);
    assert_eq!(s.parent_span_id, None);
    assert_eq!(s.scope.name, "s");
}
