//! The resource every signal of an exporter carries.

use crate::model::{AnyValue, KeyValue, Resource};
use crate::transport::grpc::decode_grpc_message;

/// The resource: the SDK's identity (`telemetry.sdk.*`, with `language` as the
/// application's language), then `OTEL_RESOURCE_ATTRIBUTES`, then `OTEL_SERVICE_NAME`,
/// then `user`'s attributes, later ones winning (OpenTelemetry resource SDK).
pub fn resource(language: &str, user: Vec<KeyValue>) -> Resource {
    let mut attrs: Vec<KeyValue> = vec![
        KeyValue::new("telemetry.sdk.language", AnyValue::from(language)),
        KeyValue::new("telemetry.sdk.name", AnyValue::from("otlp")),
        KeyValue::new("telemetry.sdk.version", AnyValue::from(crate::VERSION)),
        KeyValue::new("service.name", AnyValue::from("unknown_service")),
    ];
    let mut put = |kv: KeyValue| match attrs.iter_mut().find(|a| a.key == kv.key) {
        Some(a) => a.value = kv.value,
        None => attrs.push(kv),
    };
    for (k, v) in env_attributes() {
        put(KeyValue::new(k, AnyValue::from(v)));
    }
    if let Ok(name) = std::env::var("OTEL_SERVICE_NAME") {
        if !name.is_empty() {
            put(KeyValue::new("service.name", AnyValue::from(name)));
        }
    }
    for kv in user {
        put(kv);
    }
    Resource {
        attributes: attrs,
        dropped_attributes_count: 0,
        schema_url: String::new(),
    }
}

/// `OTEL_RESOURCE_ATTRIBUTES`: `k=v,k2=v2`, values percent-decoded; malformed pairs
/// are skipped, as the specification allows.
fn env_attributes() -> Vec<(String, String)> {
    let Ok(raw) = std::env::var("OTEL_RESOURCE_ATTRIBUTES") else {
        return Vec::new();
    };
    raw.split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let k = k.trim();
            (!k.is_empty()).then(|| (k.to_owned(), decode_grpc_message(v.trim().as_bytes())))
        })
        .collect()
}
