//! Log records: severity (OpenTelemetry log data model), the trace context a record
//! carries, and how a record of a logging library such as Python's `logging` becomes
//! one (as the OpenTelemetry Python SDK's `LoggingHandler` makes it).

use crate::exception::Exception;
use crate::limits::AttributeLimits;
use crate::model::{AnyValue, KeyValue, LogRecord};
use crate::trace::SpanContext;

/// Severity of a record emitted without one: INFO.
pub const DEFAULT_SEVERITY: i32 = 9;

/// `severity` as a severity number, if it is one (0, unspecified, to 24).
pub fn severity(n: i64) -> Option<i32> {
    i32::try_from(n).ok().filter(|n| (0..=24).contains(n))
}

/// The name of a severity number (data model, "Displaying Severity"); empty for 0 and
/// for what is not a severity number.
pub fn severity_text(n: i32) -> &'static str {
    const NAMES: [&str; 24] = [
        "TRACE", "TRACE2", "TRACE3", "TRACE4", "DEBUG", "DEBUG2", "DEBUG3", "DEBUG4", "INFO",
        "INFO2", "INFO3", "INFO4", "WARN", "WARN2", "WARN3", "WARN4", "ERROR", "ERROR2", "ERROR3",
        "ERROR4", "FATAL", "FATAL2", "FATAL3", "FATAL4",
    ];
    usize::try_from(n - 1)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("")
}

/// The severity number of a level on Python `logging`'s scale (DEBUG 10, INFO 20,
/// WARNING 30, ERROR 40, CRITICAL 50): levels in between map to the numbered
/// severities above their band's (21 → INFO2), below 10 is unspecified, above 53 is
/// FATAL4.
pub fn severity_from_level(level: i64) -> i32 {
    match level {
        i64::MIN..=9 => 0,
        10..=49 => {
            let base = [5, 9, 13, 17][(level / 10 - 1) as usize];
            base + (level % 10).min(3) as i32
        }
        50..=53 => 21 + (level - 50) as i32,
        _ => 24,
    }
}

/// The severity text of a level name: the data model's short names where Python's
/// differ (`WARNING` → `WARN`, `CRITICAL` → `FATAL`), other names as they are.
pub fn level_name_text(name: String) -> String {
    match name.as_str() {
        "WARNING" => "WARN".to_owned(),
        "CRITICAL" => "FATAL".to_owned(),
        _ => name,
    }
}

/// Whether `key` is an attribute of Python's `logging.LogRecord` itself rather than a
/// user's `extra` field (the OpenTelemetry SDK handler's list).
pub fn is_reserved(key: &str) -> bool {
    matches!(
        key,
        "asctime"
            | "args"
            | "created"
            | "exc_info"
            | "exc_text"
            | "filename"
            | "funcName"
            | "getMessage"
            | "message"
            | "levelname"
            | "levelno"
            | "lineno"
            | "module"
            | "msecs"
            | "msg"
            | "name"
            | "pathname"
            | "process"
            | "processName"
            | "relativeCreated"
            | "stack_info"
            | "thread"
            | "threadName"
            | "taskName"
    )
}

impl LogRecord {
    /// Set the severity number and its text (by default the number's name).
    pub fn set_severity(&mut self, number: i32, text: Option<String>) {
        self.severity_number = number;
        self.severity_text = text.unwrap_or_else(|| severity_text(number).to_owned());
    }

    /// Set the attributes within the default limits.
    pub fn set_attributes(&mut self, attributes: Vec<KeyValue>) {
        self.set_attributes_within(attributes, &AttributeLimits::default());
    }

    /// Set the attributes: beyond `limits.count` they are counted as dropped, and
    /// their values are shortened to `limits.value_length`.
    pub fn set_attributes_within(
        &mut self,
        mut attributes: Vec<KeyValue>,
        limits: &AttributeLimits,
    ) {
        self.dropped_attributes_count = limits.apply(&mut attributes);
        self.attributes = attributes;
    }

    /// Carry the context of the span the record was emitted in (its full W3C trace
    /// flags, unlike a span's `flags`).
    pub fn set_context(&mut self, context: &SpanContext) {
        self.trace_id = Some(context.trace_id);
        self.span_id = Some(context.span_id);
        self.flags = u32::from(context.trace_flags);
    }
}

/// What a logging library knows of a record besides its message and `extra` fields
/// (Python: a `logging.LogRecord`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoggingRecord {
    /// Its level, on Python `logging`'s scale (see [`severity_from_level`]).
    pub level: i64,
    /// Its level's name (`WARNING`).
    pub level_name: Option<String>,
    /// When it was made, in seconds since the epoch.
    pub created: Option<f64>,
    /// `code.file.path`.
    pub file_path: Option<String>,
    /// `code.function.name`.
    pub function_name: Option<String>,
    /// `code.line.number`.
    pub line_number: i64,
    /// `logger.name`.
    pub logger_name: Option<String>,
    /// The exception it was logged with.
    pub exception: Option<Exception>,
    /// The record goes to a scope named after its logger (as the OpenTelemetry SDK's
    /// handler sends it), so `logger.name` is not repeated as an attribute.
    pub scope_is_logger: bool,
}

impl LoggingRecord {
    /// Fill `record`: severity from the level, time from `created` (else `now`),
    /// observed `now`, and as attributes the `extras`, then `code.*`, `logger.name`
    /// (unless [`Self::scope_is_logger`]) and `exception.*` (`limits` apply to all of
    /// them, in that order).
    pub fn fill(
        self,
        record: &mut LogRecord,
        mut extras: Vec<KeyValue>,
        now: u64,
        limits: &AttributeLimits,
    ) {
        let text = |s: Option<String>| s.map_or(AnyValue::Empty, AnyValue::from);
        extras.reserve(4);
        extras.push(KeyValue::new("code.file.path", text(self.file_path)));
        extras.push(KeyValue::new(
            "code.function.name",
            text(self.function_name),
        ));
        extras.push(KeyValue::new(
            "code.line.number",
            AnyValue::Int(self.line_number),
        ));
        if !self.scope_is_logger {
            extras.push(KeyValue::new("logger.name", text(self.logger_name)));
        }
        if let Some(e) = self.exception {
            extras.extend(e.into_attributes());
        }
        record.set_attributes_within(extras, limits);
        record.severity_number = severity_from_level(self.level);
        record.severity_text = self.level_name.map(level_name_text).unwrap_or_default();
        record.time_unix_nano = self.created.map_or(now, |c| (c * 1e9) as u64);
        record.observed_time_unix_nano = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Resource, Scope};
    use std::sync::Arc;

    fn record() -> LogRecord {
        LogRecord::new(
            Arc::new(Resource::default()),
            Arc::new(Scope::default()),
            AnyValue::Empty,
        )
    }

    #[test]
    fn severity_names_follow_the_data_model() {
        let names: Vec<_> = (0..=25).map(severity_text).collect();
        assert_eq!(names[0], "");
        assert_eq!(
            &names[1..6],
            ["TRACE", "TRACE2", "TRACE3", "TRACE4", "DEBUG"]
        );
        assert_eq!((names[9], names[13], names[17]), ("INFO", "WARN", "ERROR"));
        assert_eq!((names[21], names[24], names[25]), ("FATAL", "FATAL4", ""));
        assert_eq!(severity_text(-1), "");
        assert_eq!(severity(24), Some(24));
        assert_eq!(
            (severity(25), severity(-1), severity(1 << 40)),
            (None, None, None)
        );
    }

    #[test]
    fn python_levels_map_as_the_sdk_handler_maps_them() {
        let cases = [
            (0, 0),
            (9, 0),
            (10, 5),
            (11, 6),
            (13, 8),
            (19, 8),
            (20, 9),
            (25, 12),
            (30, 13),
            (40, 17),
            (49, 20),
            (50, 21),
            (53, 24),
            (54, 24),
            (i64::MAX, 24),
            (i64::MIN, 0),
        ];
        for (level, number) in cases {
            assert_eq!(severity_from_level(level), number, "level {level}");
        }
        assert_eq!(level_name_text("WARNING".into()), "WARN");
        assert_eq!(level_name_text("CRITICAL".into()), "FATAL");
        assert_eq!(level_name_text("Level 5".into()), "Level 5");
    }

    #[test]
    fn reserved_names_are_not_extras() {
        assert!(is_reserved("msg") && is_reserved("taskName") && is_reserved("exc_info"));
        assert!(!is_reserved("user") && !is_reserved("otelTraceID"));
    }

    #[test]
    fn a_logging_record_fills_severity_time_and_attributes() {
        let mut r = record();
        let logging = LoggingRecord {
            level: 30,
            level_name: Some("WARNING".into()),
            created: Some(1.5),
            file_path: Some("/app/x.py".into()),
            function_name: None,
            line_number: 7,
            logger_name: Some("app".into()),
            exception: Some(Exception {
                module: "builtins".into(),
                qualname: Some("ValueError".into()),
                message: Some("bad".into()),
                stacktrace: None,
            }),
            scope_is_logger: false,
        };
        let sdk_style = LoggingRecord {
            scope_is_logger: true,
            ..logging.clone()
        };
        let limits = AttributeLimits::default();
        logging.fill(&mut r, vec![KeyValue::new("user", "u".into())], 99, &limits);
        assert_eq!((r.severity_number, r.severity_text.as_str()), (13, "WARN"));
        assert_eq!(
            (r.time_unix_nano, r.observed_time_unix_nano),
            (1_500_000_000, 99)
        );
        let keys: Vec<_> = r.attributes.iter().map(|kv| kv.key.as_ref()).collect();
        assert_eq!(
            keys,
            [
                "user",
                "code.file.path",
                "code.function.name",
                "code.line.number",
                "logger.name",
                "exception.type",
                "exception.message"
            ]
        );
        assert_eq!(r.attributes[2].value, AnyValue::Empty);
        assert_eq!(r.attributes[3].value, AnyValue::Int(7));
        assert_eq!(r.attributes[5].value, "ValueError".into());
        let mut sdk = record();
        sdk_style.fill(&mut sdk, Vec::new(), 99, &limits);
        assert!(sdk.attributes.iter().all(|kv| kv.key != "logger.name"));
        assert_eq!(sdk.attributes.len(), 5);

        let mut r = record();
        let extras = (0..200)
            .map(|i| KeyValue::new(format!("k{i}"), AnyValue::Int(i)))
            .collect();
        LoggingRecord::default().fill(&mut r, extras, 5, &limits);
        assert_eq!(r.attributes.len(), crate::limits::ATTRIBUTE_LIMIT);
        assert_eq!(r.dropped_attributes_count, 204 - 128);
        assert_eq!((r.severity_number, r.severity_text.as_str()), (0, ""));
        assert_eq!(r.time_unix_nano, 5);
    }

    #[test]
    fn limits_keep_the_first_attributes_and_cut_their_strings() {
        let mut r = record();
        let limits = AttributeLimits {
            count: 2,
            value_length: Some(2),
        };
        r.set_attributes_within(
            vec![
                KeyValue::new("a", "héllo".into()),
                KeyValue::new("b", AnyValue::Array(vec!["xyz".into(), AnyValue::Int(7)])),
                KeyValue::new("c", "kept out".into()),
            ],
            &limits,
        );
        assert_eq!(
            r.attributes,
            [
                KeyValue::new("a", "hé".into()),
                KeyValue::new("b", AnyValue::Array(vec!["xy".into(), AnyValue::Int(7)])),
            ]
        );
        assert_eq!(r.dropped_attributes_count, 1);
    }

    #[test]
    fn severity_text_defaults_to_the_numbers_name_and_context_keeps_all_flags() {
        let mut r = record();
        r.set_severity(17, None);
        assert_eq!(r.severity_text, "ERROR");
        r.set_severity(17, Some("oops".into()));
        assert_eq!(r.severity_text, "oops");
        r.set_context(&SpanContext {
            trace_id: [1; 16],
            span_id: [2; 8],
            trace_flags: 0x81,
            is_remote: true,
            trace_state: String::new(),
        });
        assert_eq!(
            (r.trace_id, r.span_id, r.flags),
            (Some([1; 16]), Some([2; 8]), 0x81)
        );
    }
}
