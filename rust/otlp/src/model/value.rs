use super::Text;

/// An OTLP `AnyValue`. `Empty` is the value-less `AnyValue` the official encoder writes
/// for `None`.
#[derive(Clone, Debug, PartialEq)]
pub enum AnyValue {
    /// No value: an `AnyValue` with its oneof unset (`{}` in OTLP/JSON).
    Empty,
    /// `string_value`: UTF-8 text (interned when the binding found it interned).
    String(Text),
    /// `bool_value`.
    Bool(bool),
    /// `int_value`: a signed 64-bit integer.
    Int(i64),
    /// `double_value`: an IEEE 754 double (NaN and infinities included).
    Double(f64),
    /// `bytes_value`: raw bytes (base64 in OTLP/JSON).
    Bytes(Vec<u8>),
    /// `array_value`: values of any kinds, mixed, [`AnyValue::Empty`] included.
    Array(Vec<AnyValue>),
    /// `kvlist_value`: a nested map, as key-value pairs in order.
    KvList(Vec<KeyValue>),
}

/// One attribute: a key and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyValue {
    /// The attribute's name (`http.request.method`).
    /// Interned ([`crate::model::intern`]) when it comes from the application.
    pub key: Text,
    /// Its value; [`AnyValue::Empty`] is still written, as an empty `AnyValue`.
    pub value: AnyValue,
}

impl KeyValue {
    /// The attribute `key` = `value`.
    pub fn new(key: impl Into<Text>, value: AnyValue) -> Self {
        Self {
            key: key.into(),
            value,
        }
    }
}

impl From<&str> for AnyValue {
    fn from(s: &str) -> Self {
        AnyValue::String(Text::Owned(s.to_owned()))
    }
}

impl From<String> for AnyValue {
    fn from(s: String) -> Self {
        AnyValue::String(Text::Owned(s))
    }
}

impl From<i64> for AnyValue {
    fn from(v: i64) -> Self {
        AnyValue::Int(v)
    }
}

impl From<f64> for AnyValue {
    fn from(v: f64) -> Self {
        AnyValue::Double(v)
    }
}

impl From<bool> for AnyValue {
    fn from(v: bool) -> Self {
        AnyValue::Bool(v)
    }
}
