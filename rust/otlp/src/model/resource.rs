use super::KeyValue;

/// The entity producing telemetry (`service.name`, host, ...).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resource {
    /// What identifies and describes the entity (`service.name`, `host.name`, ...).
    pub attributes: Vec<KeyValue>,
    /// Attributes discarded (over a limit) before export; 0 when none (not written:
    /// the exporter's own resources never drop any, as upstream writes none).
    pub dropped_attributes_count: u32,
    /// Schema URL of the attributes' names, written as the `schema_url` of
    /// `ResourceSpans` / `ResourceMetrics` / `ResourceLogs`; empty when none.
    pub schema_url: String,
}

/// The instrumentation scope (library) that produced the telemetry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scope {
    /// The library's name; empty when unknown.
    pub name: String,
    /// The library's version; empty when unknown.
    pub version: String,
    /// Further attributes of the scope.
    pub attributes: Vec<KeyValue>,
    /// Attributes discarded (over a limit) before export; 0 when none (not written:
    /// the exporter's own scopes never drop any, as upstream writes none).
    pub dropped_attributes_count: u32,
    /// Schema URL of the telemetry's attribute names, written as the `schema_url` of
    /// `ScopeSpans` / `ScopeMetrics` / `ScopeLogs`; empty when none.
    pub schema_url: String,
}
