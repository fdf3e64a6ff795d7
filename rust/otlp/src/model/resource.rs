use super::KeyValue;

/// The entity producing telemetry (`service.name`, host, ...).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resource {
    pub attributes: Vec<KeyValue>,
    pub schema_url: String,
}

/// The instrumentation scope (library) that produced the telemetry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scope {
    pub name: String,
    pub version: String,
    pub attributes: Vec<KeyValue>,
    pub schema_url: String,
}
