//! OTLP/JSON bodies: the protobuf JSON mapping with OTLP's exceptions (trace and span
//! ids as hex; enums as integers), read as leniently as protobuf's own JSON parsers
//! read it: keys in lowerCamelCase or as in the `.proto`, `null` for a default, 64-bit
//! integers as strings or numbers, enums as integers or names, doubles as numbers or
//! `"NaN"`/`"Infinity"`/`"-Infinity"`; ids written as base64 (what a generic protobuf
//! JSON printer writes) are accepted too. A value of the wrong JSON type is an error.
//!
//! The body is first parsed into a small tree borrowing its strings (charged to the
//! budget, with its depth bounded), then mapped onto the model.

use std::borrow::Cow;
use std::sync::Arc;

use super::{Budget, DecodeError, MAX_DEPTH};
use crate::model::{
    AnyValue, Buckets, Event, Exemplar, ExponentialHistogramPoint, HistogramPoint, KeyValue, Link,
    LogRecord, Metric, MetricData, Number, NumberPoint, Quantile, Resource, ResourceMetrics, Scope,
    ScopeMetrics, SpanData, SpanKind, Status, StatusCode, SummaryPoint, Temporality,
};

type R<T> = Result<T, DecodeError>;

fn malformed(what: impl Into<String>) -> DecodeError {
    DecodeError::Malformed {
        format: "OTLP/JSON",
        what: what.into(),
    }
}

// --- the JSON tree --------------------------------------------------------------------

/// A parsed JSON value; numbers are kept as their text, parsed by the field's type.
#[derive(Debug)]
enum J<'a> {
    Null,
    Bool(bool),
    Num(&'a str),
    Str(Cow<'a, str>),
    Arr(Vec<J<'a>>),
    Obj(Vec<(Cow<'a, str>, J<'a>)>),
}

/// Deepest JSON nesting: each `AnyValue` level takes three (`{"kvlistValue":
/// {"values": [{...`), and the request's own structure a dozen.
const MAX_JSON_DEPTH: usize = 3 * MAX_DEPTH + 16;

struct Parser<'a, 'b> {
    s: &'a str,
    pos: usize,
    depth: usize,
    budget: &'b mut Budget,
}

impl<'a> Parser<'a, '_> {
    fn err(&self, what: &str) -> DecodeError {
        malformed(format!("{what} at byte {}", self.pos))
    }

    fn ws(&mut self) {
        let b = self.s.as_bytes();
        while self.pos < b.len() && matches!(b[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn literal(&mut self, word: &str, v: J<'a>) -> R<J<'a>> {
        if self.s[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn value(&mut self) -> R<J<'a>> {
        self.budget.take::<J<'_>>()?;
        self.ws();
        match self.peek() {
            None => Err(self.err("unexpected end")),
            Some(b'n') => self.literal("null", J::Null),
            Some(b't') => self.literal("true", J::Bool(true)),
            Some(b'f') => self.literal("false", J::Bool(false)),
            Some(b'"') => Ok(J::Str(self.string()?)),
            Some(b'[') => {
                self.open()?;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                } else {
                    loop {
                        items.push(self.value()?);
                        self.ws();
                        match self.peek() {
                            Some(b',') => self.pos += 1,
                            Some(b']') => {
                                self.pos += 1;
                                break;
                            }
                            _ => return Err(self.err("expected ',' or ']'")),
                        }
                    }
                }
                self.depth -= 1;
                Ok(J::Arr(items))
            }
            Some(b'{') => {
                self.open()?;
                let mut members = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                } else {
                    loop {
                        self.ws();
                        if self.peek() != Some(b'"') {
                            return Err(self.err("expected a key"));
                        }
                        let k = self.string()?;
                        self.ws();
                        if self.peek() != Some(b':') {
                            return Err(self.err("expected ':'"));
                        }
                        self.pos += 1;
                        members.push((k, self.value()?));
                        self.ws();
                        match self.peek() {
                            Some(b',') => self.pos += 1,
                            Some(b'}') => {
                                self.pos += 1;
                                break;
                            }
                            _ => return Err(self.err("expected ',' or '}'")),
                        }
                    }
                }
                self.depth -= 1;
                Ok(J::Obj(members))
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("unexpected character")),
        }
    }

    fn open(&mut self) -> R<()> {
        if self.depth >= MAX_JSON_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        self.depth += 1;
        self.pos += 1;
        Ok(())
    }

    fn number(&mut self) -> R<J<'a>> {
        let b = self.s.as_bytes();
        let start = self.pos;
        let digits = |p: &mut usize| {
            let s = *p;
            while *p < b.len() && b[*p].is_ascii_digit() {
                *p += 1;
            }
            *p > s
        };
        let mut p = self.pos;
        if b.get(p) == Some(&b'-') {
            p += 1;
        }
        if b.get(p) == Some(&b'0') {
            p += 1;
        } else if !digits(&mut p) {
            return Err(self.err("invalid number"));
        }
        if b.get(p) == Some(&b'.') {
            p += 1;
            if !digits(&mut p) {
                return Err(self.err("invalid number"));
            }
        }
        if matches!(b.get(p), Some(b'e' | b'E')) {
            p += 1;
            if matches!(b.get(p), Some(b'+' | b'-')) {
                p += 1;
            }
            if !digits(&mut p) {
                return Err(self.err("invalid number"));
            }
        }
        self.pos = p;
        Ok(J::Num(&self.s[start..p]))
    }

    fn hex4(&mut self) -> R<u32> {
        let h = self
            .s
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.err("short \\u escape"))?;
        let v = u32::from_str_radix(h, 16).map_err(|_| self.err("bad \\u escape"))?;
        if !h.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(self.err("bad \\u escape"));
        }
        self.pos += 4;
        Ok(v)
    }

    fn string(&mut self) -> R<Cow<'a, str>> {
        self.pos += 1; // the opening quote
        let b = self.s.as_bytes();
        let start = self.pos;
        // Fast path: no escapes, borrow the text.
        while self.pos < b.len() && b[self.pos] != b'"' && b[self.pos] != b'\\' {
            if b[self.pos] < 0x20 {
                return Err(self.err("control character in string"));
            }
            self.pos += 1;
        }
        if self.peek() == Some(b'"') {
            self.pos += 1;
            return Ok(Cow::Borrowed(&self.s[start..self.pos - 1]));
        }
        let mut out = String::from(&self.s[start..self.pos]);
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let e = self.peek().ok_or_else(|| self.err("unterminated string"))?;
                    self.pos += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let mut c = self.hex4()?;
                            if (0xd800..0xdc00).contains(&c) {
                                if !self.s[self.pos..].starts_with("\\u") {
                                    return Err(self.err("lone surrogate"));
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return Err(self.err("lone surrogate"));
                                }
                                c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
                            }
                            out.push(char::from_u32(c).ok_or_else(|| self.err("lone surrogate"))?);
                        }
                        _ => return Err(self.err("bad escape")),
                    }
                }
                Some(c) if c < 0x20 => return Err(self.err("control character in string")),
                Some(_) => {
                    // Copy one whole character (the text is valid UTF-8).
                    let ch = self.s[self.pos..].chars().next().unwrap_or('\u{fffd}');
                    out.push(ch);
                    self.pos += ch.len_utf8();
                }
            }
        }
    }
}

fn parse<'a>(body: &'a [u8], budget: &mut Budget) -> R<J<'a>> {
    let s = std::str::from_utf8(body)
        .map_err(|e| malformed(format!("not valid UTF-8 at byte {}", e.valid_up_to())))?;
    let mut p = Parser {
        s,
        pos: 0,
        depth: 0,
        budget,
    };
    let v = p.value()?;
    p.ws();
    if p.pos != s.len() {
        return Err(p.err("trailing characters"));
    }
    Ok(v)
}

// --- reading fields -------------------------------------------------------------------

/// Whether JSON key `key` names the field `name` (lowercase, no underscores): the
/// lowerCamelCase and the `.proto` spellings both do.
fn is(key: &str, name: &str) -> bool {
    // Most keys are lowerCamelCase: same length, no underscore to skip.
    if key.len() == name.len() {
        return key.eq_ignore_ascii_case(name);
    }
    if key.len() < name.len() {
        return false;
    }
    let mut k = key.bytes().filter(|&c| c != b'_');
    let mut n = name.bytes();
    loop {
        match (k.next(), n.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a.to_ascii_lowercase() == b => {}
            _ => return false,
        }
    }
}

type Members<'j, 'a> = &'j [(Cow<'a, str>, J<'a>)];

fn obj<'j, 'a>(j: &'j J<'a>, what: &str) -> R<Members<'j, 'a>> {
    match j {
        J::Obj(m) => Ok(m),
        J::Null => Ok(&[]),
        _ => Err(malformed(format!("{what} must be an object"))),
    }
}

fn arr<'j, 'a>(j: &'j J<'a>, what: &str) -> R<&'j [J<'a>]> {
    match j {
        J::Arr(a) => Ok(a),
        J::Null => Ok(&[]),
        _ => Err(malformed(format!("{what} must be an array"))),
    }
}

fn string(j: &J<'_>, what: &str) -> R<String> {
    match j {
        J::Str(s) => Ok(s.as_ref().to_owned()),
        J::Null => Ok(String::new()),
        _ => Err(malformed(format!("{what} must be a string"))),
    }
}

/// An integer field: a JSON number or a decimal string (exponent forms that are
/// integral included, as protobuf's parsers accept them).
fn integer(j: &J<'_>, what: &str) -> R<i128> {
    let t: &str = match j {
        J::Null => return Ok(0),
        J::Num(t) => t,
        J::Str(s) => s.as_ref(),
        _ => return Err(malformed(format!("{what} must be an integer"))),
    };
    if let Ok(v) = t.parse::<i128>() {
        return Ok(v);
    }
    match t.parse::<f64>() {
        Ok(f) if f.fract() == 0.0 && f.abs() < 1.8e19 => Ok(f as i128),
        _ => Err(malformed(format!("{what} must be an integer"))),
    }
}

fn ranged<T: TryFrom<i128>>(j: &J<'_>, what: &str) -> R<T> {
    T::try_from(integer(j, what)?).map_err(|_| malformed(format!("{what} is out of range")))
}

fn u64_of(j: &J<'_>, what: &str) -> R<u64> {
    ranged(j, what)
}

fn u32_of(j: &J<'_>, what: &str) -> R<u32> {
    ranged(j, what)
}

fn double(j: &J<'_>, what: &str) -> R<f64> {
    let t: &str = match j {
        J::Null => return Ok(0.0),
        J::Num(t) => t,
        J::Str(s) => match s.as_ref() {
            "NaN" => return Ok(f64::NAN),
            "Infinity" => return Ok(f64::INFINITY),
            "-Infinity" => return Ok(f64::NEG_INFINITY),
            s => s,
        },
        _ => return Err(malformed(format!("{what} must be a number"))),
    };
    t.parse()
        .map_err(|_| malformed(format!("{what} must be a number")))
}

fn boolean(j: &J<'_>, what: &str) -> R<bool> {
    match j {
        J::Bool(b) => Ok(*b),
        J::Null => Ok(false),
        _ => Err(malformed(format!("{what} must be true or false"))),
    }
}

/// An enum: its number, or its name in `names` (index = value).
fn enum_of(j: &J<'_>, names: &[&str], what: &str) -> R<i32> {
    if let J::Str(s) = j {
        if let Some(i) = names.iter().position(|n| *n == s.as_ref()) {
            return Ok(i as i32);
        }
    }
    ranged(j, what)
}

const SPAN_KINDS: &[&str] = &[
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];
const STATUS_CODES: &[&str] = &["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];
const TEMPORALITIES: &[&str] = &[
    "AGGREGATION_TEMPORALITY_UNSPECIFIED",
    "AGGREGATION_TEMPORALITY_DELTA",
    "AGGREGATION_TEMPORALITY_CUMULATIVE",
];
const SEVERITIES: &[&str] = &[
    "SEVERITY_NUMBER_UNSPECIFIED",
    "SEVERITY_NUMBER_TRACE",
    "SEVERITY_NUMBER_TRACE2",
    "SEVERITY_NUMBER_TRACE3",
    "SEVERITY_NUMBER_TRACE4",
    "SEVERITY_NUMBER_DEBUG",
    "SEVERITY_NUMBER_DEBUG2",
    "SEVERITY_NUMBER_DEBUG3",
    "SEVERITY_NUMBER_DEBUG4",
    "SEVERITY_NUMBER_INFO",
    "SEVERITY_NUMBER_INFO2",
    "SEVERITY_NUMBER_INFO3",
    "SEVERITY_NUMBER_INFO4",
    "SEVERITY_NUMBER_WARN",
    "SEVERITY_NUMBER_WARN2",
    "SEVERITY_NUMBER_WARN3",
    "SEVERITY_NUMBER_WARN4",
    "SEVERITY_NUMBER_ERROR",
    "SEVERITY_NUMBER_ERROR2",
    "SEVERITY_NUMBER_ERROR3",
    "SEVERITY_NUMBER_ERROR4",
    "SEVERITY_NUMBER_FATAL",
    "SEVERITY_NUMBER_FATAL2",
    "SEVERITY_NUMBER_FATAL3",
    "SEVERITY_NUMBER_FATAL4",
];

fn bytes(j: &J<'_>, what: &str) -> R<Vec<u8>> {
    match j {
        J::Null => Ok(Vec::new()),
        J::Str(s) => crate::decode::base64(s.as_bytes())
            .ok_or_else(|| malformed(format!("{what} must be base64"))),
        _ => Err(malformed(format!("{what} must be a base64 string"))),
    }
}

/// A trace or span id: hex (OTLP/JSON), or base64 (a generic protobuf JSON printer);
/// empty or `null` is absent.
fn opt_id<const N: usize>(j: &J<'_>, what: &str) -> R<Option<[u8; N]>> {
    let s = match j {
        J::Null => return Ok(None),
        J::Str(s) => s.as_ref(),
        _ => return Err(malformed(format!("{what} must be a hex string"))),
    };
    if s.is_empty() {
        return Ok(None);
    }
    let bad = || malformed(format!("{what} must be {N} bytes in hex"));
    let raw: Vec<u8> = if s.len() == 2 * N && s.bytes().all(|c| c.is_ascii_hexdigit()) {
        (0..N)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad()))
            .collect::<R<_>>()?
    } else {
        crate::decode::base64(s.as_bytes()).ok_or_else(bad)?
    };
    raw.try_into().map(Some).map_err(|_| bad())
}

fn id<const N: usize>(j: &J<'_>, what: &str) -> R<[u8; N]> {
    Ok(opt_id(j, what)?.unwrap_or([0; N]))
}

// --- common.v1 ----------------------------------------------------------------------

fn any_value(j: &J<'_>, b: &mut Budget) -> R<AnyValue> {
    let mut v = AnyValue::Empty;
    for (k, x) in obj(j, "AnyValue")? {
        if matches!(x, J::Null) {
            continue;
        }
        v = if is(k, "stringvalue") {
            AnyValue::String(string(x, "stringValue")?.into())
        } else if is(k, "boolvalue") {
            AnyValue::Bool(boolean(x, "boolValue")?)
        } else if is(k, "intvalue") {
            AnyValue::Int(ranged(x, "intValue")?)
        } else if is(k, "doublevalue") {
            AnyValue::Double(double(x, "doubleValue")?)
        } else if is(k, "bytesvalue") {
            AnyValue::Bytes(bytes(x, "bytesValue")?)
        } else if is(k, "arrayvalue") {
            b.enter()?;
            let mut items = Vec::new();
            for (k, vs) in obj(x, "arrayValue")? {
                if is(k, "values") {
                    for item in arr(vs, "arrayValue.values")? {
                        b.take::<AnyValue>()?;
                        items.push(any_value(item, b)?);
                    }
                }
            }
            b.leave();
            AnyValue::Array(items)
        } else if is(k, "kvlistvalue") {
            b.enter()?;
            let mut kvs = Vec::new();
            for (k, vs) in obj(x, "kvlistValue")? {
                if is(k, "values") {
                    key_values(&mut kvs, vs, b)?;
                }
            }
            b.leave();
            AnyValue::KvList(kvs)
        } else {
            continue;
        };
    }
    Ok(v)
}

fn key_values(out: &mut Vec<KeyValue>, j: &J<'_>, b: &mut Budget) -> R<()> {
    for kv in arr(j, "attributes")? {
        b.take::<KeyValue>()?;
        let mut item = KeyValue::new(String::new(), AnyValue::Empty);
        for (k, x) in obj(kv, "KeyValue")? {
            if is(k, "key") {
                item.key = string(x, "KeyValue.key")?.into();
            } else if is(k, "value") {
                item.value = any_value(x, b)?;
            }
        }
        out.push(item);
    }
    Ok(())
}

fn resource(j: &J<'_>, r: &mut Resource, b: &mut Budget) -> R<()> {
    for (k, x) in obj(j, "resource")? {
        if is(k, "attributes") {
            key_values(&mut r.attributes, x, b)?;
        } else if is(k, "droppedattributescount") {
            r.dropped_attributes_count = u32_of(x, "resource.droppedAttributesCount")?;
        }
    }
    Ok(())
}

fn scope(j: &J<'_>, s: &mut Scope, b: &mut Budget) -> R<()> {
    for (k, x) in obj(j, "scope")? {
        if is(k, "name") {
            s.name = string(x, "scope.name")?;
        } else if is(k, "version") {
            s.version = string(x, "scope.version")?;
        } else if is(k, "attributes") {
            key_values(&mut s.attributes, x, b)?;
        } else if is(k, "droppedattributescount") {
            s.dropped_attributes_count = u32_of(x, "scope.droppedAttributesCount")?;
        }
    }
    Ok(())
}

/// The shape shared by the three requests (see the protobuf reader's `grouped`):
/// `keys` are the request's, the resource group's and the scope group's item keys, as
/// [`is`] matches them and as messages name them.
fn grouped(
    body: &[u8],
    keys: [(&'static str, &'static str); 3],
    b: &mut Budget,
    mut item: impl FnMut(&J<'_>, &Arc<Resource>, &Arc<Scope>, &mut Budget) -> R<()>,
) -> R<()> {
    let tree = parse(body, b)?;
    let [(groups_key, groups_name), (scopes_key, scopes_name), (items_key, items_name)] = keys;
    for (k, groups) in obj(&tree, "the request")? {
        if !is(k, groups_key) {
            continue;
        }
        for group in arr(groups, groups_name)? {
            let members = obj(group, groups_name)?;
            let mut res = Resource::default();
            for (k, x) in members {
                if is(k, "resource") {
                    resource(x, &mut res, b)?;
                } else if is(k, "schemaurl") {
                    res.schema_url = string(x, "schemaUrl")?;
                }
            }
            b.take::<Resource>()?;
            let res = Arc::new(res);
            for (k, scopes) in members {
                if !is(k, scopes_key) {
                    continue;
                }
                for sg in arr(scopes, scopes_name)? {
                    let members = obj(sg, scopes_name)?;
                    let mut sc = Scope::default();
                    for (k, x) in members {
                        if is(k, "scope") {
                            scope(x, &mut sc, b)?;
                        } else if is(k, "schemaurl") {
                            sc.schema_url = string(x, "schemaUrl")?;
                        }
                    }
                    b.take::<Scope>()?;
                    let sc = Arc::new(sc);
                    for (k, items) in members {
                        if is(k, items_key) {
                            for it in arr(items, items_name)? {
                                item(it, &res, &sc, b)?;
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

// --- trace.v1 -----------------------------------------------------------------------

pub(super) fn traces(body: &[u8], b: &mut Budget) -> R<Vec<SpanData>> {
    let mut spans = Vec::new();
    grouped(
        body,
        [
            ("resourcespans", "resourceSpans"),
            ("scopespans", "scopeSpans"),
            ("spans", "spans"),
        ],
        b,
        |j, r, s, b| {
            b.take::<SpanData>()?;
            spans.push(span(j, r, s, b)?);
            Ok(())
        },
    )?;
    Ok(spans)
}

fn span(j: &J<'_>, r: &Arc<Resource>, s: &Arc<Scope>, b: &mut Budget) -> R<SpanData> {
    let mut sp = SpanData::new(r.clone(), s.clone(), "");
    sp.kind = SpanKind::Unspecified;
    sp.status = None;
    for (k, x) in obj(j, "span")? {
        if is(k, "traceid") {
            sp.trace_id = id(x, "traceId")?;
        } else if is(k, "spanid") {
            sp.span_id = id(x, "spanId")?;
        } else if is(k, "tracestate") {
            sp.trace_state = string(x, "traceState")?;
        } else if is(k, "parentspanid") {
            sp.parent_span_id = opt_id(x, "parentSpanId")?;
        } else if is(k, "name") {
            sp.name = string(x, "name")?.into();
        } else if is(k, "kind") {
            let v = enum_of(x, SPAN_KINDS, "kind")?;
            sp.kind = SpanKind::from_wire(v)
                .ok_or_else(|| malformed(format!("kind {v} is not a SpanKind")))?;
        } else if is(k, "starttimeunixnano") {
            sp.start_time_unix_nano = u64_of(x, "startTimeUnixNano")?;
        } else if is(k, "endtimeunixnano") {
            sp.end_time_unix_nano = u64_of(x, "endTimeUnixNano")?;
        } else if is(k, "attributes") {
            key_values(&mut sp.attributes, x, b)?;
        } else if is(k, "droppedattributescount") {
            sp.dropped_attributes_count = u32_of(x, "droppedAttributesCount")?;
        } else if is(k, "events") {
            for e in arr(x, "events")? {
                b.take::<Event>()?;
                sp.events.push(event(e, b)?);
            }
        } else if is(k, "droppedeventscount") {
            sp.dropped_events_count = u32_of(x, "droppedEventsCount")?;
        } else if is(k, "links") {
            for l in arr(x, "links")? {
                b.take::<Link>()?;
                sp.links.push(link(l, b)?);
            }
        } else if is(k, "droppedlinkscount") {
            sp.dropped_links_count = u32_of(x, "droppedLinksCount")?;
        } else if is(k, "status") {
            if matches!(x, J::Null) {
                continue;
            }
            let mut st = Status::default();
            for (k, x) in obj(x, "status")? {
                if is(k, "message") {
                    st.message = string(x, "status.message")?;
                } else if is(k, "code") {
                    let v = enum_of(x, STATUS_CODES, "status.code")?;
                    st.code = StatusCode::from_wire(v)
                        .ok_or_else(|| malformed(format!("status.code {v} is not a StatusCode")))?;
                }
            }
            sp.status = Some(st);
        } else if is(k, "flags") {
            sp.flags = u32_of(x, "flags")?;
        }
    }
    Ok(sp)
}

fn event(j: &J<'_>, b: &mut Budget) -> R<Event> {
    let mut e = Event::default();
    for (k, x) in obj(j, "event")? {
        if is(k, "timeunixnano") {
            e.time_unix_nano = u64_of(x, "event.timeUnixNano")?;
        } else if is(k, "name") {
            e.name = string(x, "event.name")?;
        } else if is(k, "attributes") {
            key_values(&mut e.attributes, x, b)?;
        } else if is(k, "droppedattributescount") {
            e.dropped_attributes_count = u32_of(x, "event.droppedAttributesCount")?;
        }
    }
    Ok(e)
}

fn link(j: &J<'_>, b: &mut Budget) -> R<Link> {
    let mut l = Link::default();
    for (k, x) in obj(j, "link")? {
        if is(k, "traceid") {
            l.trace_id = id(x, "link.traceId")?;
        } else if is(k, "spanid") {
            l.span_id = id(x, "link.spanId")?;
        } else if is(k, "tracestate") {
            l.trace_state = string(x, "link.traceState")?;
        } else if is(k, "attributes") {
            key_values(&mut l.attributes, x, b)?;
        } else if is(k, "droppedattributescount") {
            l.dropped_attributes_count = u32_of(x, "link.droppedAttributesCount")?;
        } else if is(k, "flags") {
            l.flags = u32_of(x, "link.flags")?;
        }
    }
    Ok(l)
}

// --- logs.v1 ------------------------------------------------------------------------

pub(super) fn logs(body: &[u8], b: &mut Budget) -> R<Vec<LogRecord>> {
    let mut records = Vec::new();
    grouped(
        body,
        [
            ("resourcelogs", "resourceLogs"),
            ("scopelogs", "scopeLogs"),
            ("logrecords", "logRecords"),
        ],
        b,
        |j, r, s, b| {
            b.take::<LogRecord>()?;
            records.push(log_record(j, r, s, b)?);
            Ok(())
        },
    )?;
    Ok(records)
}

fn log_record(j: &J<'_>, r: &Arc<Resource>, s: &Arc<Scope>, b: &mut Budget) -> R<LogRecord> {
    let mut l = LogRecord::new(r.clone(), s.clone(), AnyValue::Empty);
    for (k, x) in obj(j, "logRecord")? {
        if is(k, "timeunixnano") {
            l.time_unix_nano = u64_of(x, "timeUnixNano")?;
        } else if is(k, "observedtimeunixnano") {
            l.observed_time_unix_nano = u64_of(x, "observedTimeUnixNano")?;
        } else if is(k, "severitynumber") {
            l.severity_number = enum_of(x, SEVERITIES, "severityNumber")?;
        } else if is(k, "severitytext") {
            l.severity_text = string(x, "severityText")?;
        } else if is(k, "body") {
            l.body = any_value(x, b)?;
        } else if is(k, "attributes") {
            key_values(&mut l.attributes, x, b)?;
        } else if is(k, "droppedattributescount") {
            l.dropped_attributes_count = u32_of(x, "droppedAttributesCount")?;
        } else if is(k, "flags") {
            l.flags = u32_of(x, "flags")?;
        } else if is(k, "traceid") {
            l.trace_id = opt_id(x, "traceId")?;
        } else if is(k, "spanid") {
            l.span_id = opt_id(x, "spanId")?;
        } else if is(k, "eventname") {
            l.event_name = string(x, "eventName")?;
        }
    }
    Ok(l)
}

// --- metrics.v1 ---------------------------------------------------------------------

pub(super) fn metrics(body: &[u8], b: &mut Budget) -> R<Vec<ResourceMetrics>> {
    let mut out: Vec<ResourceMetrics> = Vec::new();
    grouped(
        body,
        [
            ("resourcemetrics", "resourceMetrics"),
            ("scopemetrics", "scopeMetrics"),
            ("metrics", "metrics"),
        ],
        b,
        |j, r, s, b| {
            if !out.last().is_some_and(|rm| Arc::ptr_eq(&rm.resource, r)) {
                b.take::<ResourceMetrics>()?;
                out.push(ResourceMetrics {
                    resource: r.clone(),
                    scope_metrics: Vec::new(),
                });
            }
            let rm = out.last_mut().expect("just ensured");
            if !rm
                .scope_metrics
                .last()
                .is_some_and(|sm| Arc::ptr_eq(&sm.scope, s))
            {
                b.take::<ScopeMetrics>()?;
                rm.scope_metrics.push(ScopeMetrics {
                    scope: s.clone(),
                    metrics: Vec::new(),
                });
            }
            b.take::<Metric>()?;
            let m = metric(j, b)?;
            rm.scope_metrics
                .last_mut()
                .expect("just ensured")
                .metrics
                .push(m);
            Ok(())
        },
    )?;
    Ok(out)
}

fn metric(j: &J<'_>, b: &mut Budget) -> R<Metric> {
    let mut m = Metric {
        name: String::new(),
        description: String::new(),
        unit: String::new(),
        data: None,
        metadata: Vec::new(),
    };
    for (k, x) in obj(j, "metric")? {
        if matches!(x, J::Null) {
            continue;
        }
        if is(k, "name") {
            m.name = string(x, "metric.name")?;
        } else if is(k, "description") {
            m.description = string(x, "metric.description")?;
        } else if is(k, "unit") {
            m.unit = string(x, "metric.unit")?;
        } else if is(k, "metadata") {
            key_values(&mut m.metadata, x, b)?;
        } else if is(k, "gauge") || is(k, "sum") {
            let mut points = Vec::new();
            let (mut temporality, mut monotonic) = (Temporality::Unspecified, false);
            for (k, x) in obj(x, "metric data")? {
                if is(k, "datapoints") {
                    for p in arr(x, "dataPoints")? {
                        b.take::<NumberPoint>()?;
                        points.push(number_point(p, b)?);
                    }
                } else if is(k, "aggregationtemporality") {
                    temporality = temporality_of(x)?;
                } else if is(k, "ismonotonic") {
                    monotonic = boolean(x, "isMonotonic")?;
                }
            }
            m.data = Some(if is(k, "gauge") {
                MetricData::Gauge(points)
            } else {
                MetricData::Sum {
                    points,
                    temporality,
                    monotonic,
                }
            });
        } else if is(k, "histogram") {
            let mut points = Vec::new();
            let mut temporality = Temporality::Unspecified;
            for (k, x) in obj(x, "histogram")? {
                if is(k, "datapoints") {
                    for p in arr(x, "dataPoints")? {
                        b.take::<HistogramPoint>()?;
                        points.push(histogram_point(p, b)?);
                    }
                } else if is(k, "aggregationtemporality") {
                    temporality = temporality_of(x)?;
                }
            }
            m.data = Some(MetricData::Histogram {
                points,
                temporality,
            });
        } else if is(k, "exponentialhistogram") {
            let mut points = Vec::new();
            let mut temporality = Temporality::Unspecified;
            for (k, x) in obj(x, "exponentialHistogram")? {
                if is(k, "datapoints") {
                    for p in arr(x, "dataPoints")? {
                        b.take::<ExponentialHistogramPoint>()?;
                        points.push(exp_point(p, b)?);
                    }
                } else if is(k, "aggregationtemporality") {
                    temporality = temporality_of(x)?;
                }
            }
            m.data = Some(MetricData::ExponentialHistogram {
                points,
                temporality,
            });
        } else if is(k, "summary") {
            let mut points = Vec::new();
            for (k, x) in obj(x, "summary")? {
                if is(k, "datapoints") {
                    for p in arr(x, "dataPoints")? {
                        b.take::<SummaryPoint>()?;
                        points.push(summary_point(p, b)?);
                    }
                }
            }
            m.data = Some(MetricData::Summary(points));
        }
    }
    Ok(m)
}

fn temporality_of(j: &J<'_>) -> R<Temporality> {
    Ok(match enum_of(j, TEMPORALITIES, "aggregationTemporality")? {
        0 => Temporality::Unspecified,
        1 => Temporality::Delta,
        2 => Temporality::Cumulative,
        v => Temporality::Other(v),
    })
}

fn number_point(j: &J<'_>, b: &mut Budget) -> R<NumberPoint> {
    let mut p = NumberPoint {
        attributes: Vec::new(),
        start_time_unix_nano: 0,
        time_unix_nano: 0,
        value: Number::Int(0),
        exemplars: Vec::new(),
        flags: 0,
    };
    for (k, x) in obj(j, "dataPoint")? {
        if is(k, "starttimeunixnano") {
            p.start_time_unix_nano = u64_of(x, "startTimeUnixNano")?;
        } else if is(k, "timeunixnano") {
            p.time_unix_nano = u64_of(x, "timeUnixNano")?;
        } else if is(k, "asdouble") && !matches!(x, J::Null) {
            p.value = Number::Double(double(x, "asDouble")?);
        } else if is(k, "asint") && !matches!(x, J::Null) {
            p.value = Number::Int(ranged(x, "asInt")?);
        } else if is(k, "exemplars") {
            exemplars(&mut p.exemplars, x, b)?;
        } else if is(k, "attributes") {
            key_values(&mut p.attributes, x, b)?;
        } else if is(k, "flags") {
            p.flags = u32_of(x, "flags")?;
        }
    }
    Ok(p)
}

fn opt_double(j: &J<'_>, what: &str) -> R<Option<f64>> {
    if matches!(j, J::Null) {
        return Ok(None);
    }
    double(j, what).map(Some)
}

fn u64s(out: &mut Vec<u64>, j: &J<'_>, what: &str) -> R<()> {
    for x in arr(j, what)? {
        out.push(u64_of(x, what)?);
    }
    Ok(())
}

fn histogram_point(j: &J<'_>, b: &mut Budget) -> R<HistogramPoint> {
    let mut p = HistogramPoint::default();
    for (k, x) in obj(j, "dataPoint")? {
        if is(k, "starttimeunixnano") {
            p.start_time_unix_nano = u64_of(x, "startTimeUnixNano")?;
        } else if is(k, "timeunixnano") {
            p.time_unix_nano = u64_of(x, "timeUnixNano")?;
        } else if is(k, "count") {
            p.count = u64_of(x, "count")?;
        } else if is(k, "sum") {
            p.sum = opt_double(x, "sum")?;
        } else if is(k, "bucketcounts") {
            u64s(&mut p.bucket_counts, x, "bucketCounts")?;
        } else if is(k, "explicitbounds") {
            for v in arr(x, "explicitBounds")? {
                p.explicit_bounds.push(double(v, "explicitBounds")?);
            }
        } else if is(k, "exemplars") {
            exemplars(&mut p.exemplars, x, b)?;
        } else if is(k, "attributes") {
            key_values(&mut p.attributes, x, b)?;
        } else if is(k, "flags") {
            p.flags = u32_of(x, "flags")?;
        } else if is(k, "min") {
            p.min = opt_double(x, "min")?;
        } else if is(k, "max") {
            p.max = opt_double(x, "max")?;
        }
    }
    Ok(p)
}

fn buckets(j: &J<'_>) -> R<Option<Buckets>> {
    if matches!(j, J::Null) {
        return Ok(None);
    }
    let mut bk = Buckets::default();
    for (k, x) in obj(j, "buckets")? {
        if is(k, "offset") {
            bk.offset = ranged(x, "offset")?;
        } else if is(k, "bucketcounts") {
            u64s(&mut bk.bucket_counts, x, "bucketCounts")?;
        }
    }
    Ok(Some(bk))
}

fn exp_point(j: &J<'_>, b: &mut Budget) -> R<ExponentialHistogramPoint> {
    let mut p = ExponentialHistogramPoint::default();
    for (k, x) in obj(j, "dataPoint")? {
        if is(k, "attributes") {
            key_values(&mut p.attributes, x, b)?;
        } else if is(k, "starttimeunixnano") {
            p.start_time_unix_nano = u64_of(x, "startTimeUnixNano")?;
        } else if is(k, "timeunixnano") {
            p.time_unix_nano = u64_of(x, "timeUnixNano")?;
        } else if is(k, "count") {
            p.count = u64_of(x, "count")?;
        } else if is(k, "sum") {
            p.sum = opt_double(x, "sum")?;
        } else if is(k, "scale") {
            p.scale = ranged(x, "scale")?;
        } else if is(k, "zerocount") {
            p.zero_count = u64_of(x, "zeroCount")?;
        } else if is(k, "positive") {
            p.positive = buckets(x)?;
        } else if is(k, "negative") {
            p.negative = buckets(x)?;
        } else if is(k, "flags") {
            p.flags = u32_of(x, "flags")?;
        } else if is(k, "exemplars") {
            exemplars(&mut p.exemplars, x, b)?;
        } else if is(k, "min") {
            p.min = opt_double(x, "min")?;
        } else if is(k, "max") {
            p.max = opt_double(x, "max")?;
        } else if is(k, "zerothreshold") {
            p.zero_threshold = double(x, "zeroThreshold")?;
        }
    }
    Ok(p)
}

fn summary_point(j: &J<'_>, b: &mut Budget) -> R<SummaryPoint> {
    let mut p = SummaryPoint::default();
    for (k, x) in obj(j, "dataPoint")? {
        if is(k, "attributes") {
            key_values(&mut p.attributes, x, b)?;
        } else if is(k, "starttimeunixnano") {
            p.start_time_unix_nano = u64_of(x, "startTimeUnixNano")?;
        } else if is(k, "timeunixnano") {
            p.time_unix_nano = u64_of(x, "timeUnixNano")?;
        } else if is(k, "count") {
            p.count = u64_of(x, "count")?;
        } else if is(k, "sum") {
            p.sum = double(x, "sum")?;
        } else if is(k, "quantilevalues") {
            for q in arr(x, "quantileValues")? {
                b.take::<Quantile>()?;
                let mut quantile = Quantile::default();
                for (k, x) in obj(q, "quantileValues")? {
                    if is(k, "quantile") {
                        quantile.quantile = double(x, "quantile")?;
                    } else if is(k, "value") {
                        quantile.value = double(x, "value")?;
                    }
                }
                p.quantile_values.push(quantile);
            }
        } else if is(k, "flags") {
            p.flags = u32_of(x, "flags")?;
        }
    }
    Ok(p)
}

fn exemplars(out: &mut Vec<Exemplar>, j: &J<'_>, b: &mut Budget) -> R<()> {
    for e in arr(j, "exemplars")? {
        b.take::<Exemplar>()?;
        let mut ex = Exemplar {
            filtered_attributes: Vec::new(),
            time_unix_nano: 0,
            value: Number::Int(0),
            ids: None,
        };
        let (mut trace_id, mut span_id) = (None, None);
        for (k, x) in obj(e, "exemplar")? {
            if is(k, "filteredattributes") {
                key_values(&mut ex.filtered_attributes, x, b)?;
            } else if is(k, "timeunixnano") {
                ex.time_unix_nano = u64_of(x, "timeUnixNano")?;
            } else if is(k, "asdouble") && !matches!(x, J::Null) {
                ex.value = Number::Double(double(x, "asDouble")?);
            } else if is(k, "asint") && !matches!(x, J::Null) {
                ex.value = Number::Int(ranged(x, "asInt")?);
            } else if is(k, "traceid") {
                trace_id = opt_id(x, "exemplar.traceId")?;
            } else if is(k, "spanid") {
                span_id = opt_id(x, "exemplar.spanId")?;
            }
        }
        ex.ids = trace_id.zip(span_id);
        out.push(ex);
    }
    Ok(())
}
