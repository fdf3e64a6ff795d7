//! An exception as attributes (OpenTelemetry semantic conventions, "Exceptions"): what
//! a span's `exception` event and a log record emitted with an exception carry.

use crate::model::{AnyValue, KeyValue};

/// What is known of an exception, read from the language's exception object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exception {
    /// The module of its class (`builtins` for Python's own; empty when unknown).
    pub module: String,
    /// The qualified name of its class; `None` when the class is unknown.
    pub qualname: Option<String>,
    /// Its message (Python: `str(exception)`).
    pub message: Option<String>,
    /// Its formatted traceback.
    pub stacktrace: Option<String>,
}

impl Exception {
    /// `exception.type`: the class's qualified name, after its module unless that is
    /// `builtins` (as the OpenTelemetry Python SDK names it: `ValueError`,
    /// `app.errors.PaymentError`).
    pub fn type_name(&self) -> Option<String> {
        let qualname = self.qualname.as_deref()?;
        Some(match self.module.as_str() {
            "" | "builtins" => qualname.to_owned(),
            module => format!("{module}.{qualname}"),
        })
    }

    /// The description of the ERROR status of a span this exception ended:
    /// `Class: message`, the class by its own name (Python's `__name__`, the last part
    /// of its qualified name), as the OpenTelemetry API writes it.
    pub fn status_description(&self) -> String {
        let qualname = self.qualname.as_deref().unwrap_or_default();
        format!(
            "{}: {}",
            qualname.rsplit('.').next().unwrap_or_default(),
            self.message.as_deref().unwrap_or_default()
        )
    }

    /// `exception.type`, `exception.message` and `exception.stacktrace`, for the parts
    /// that are known.
    pub fn into_attributes(self) -> Vec<KeyValue> {
        let mut attrs = Vec::with_capacity(3);
        if let Some(t) = self.type_name() {
            attrs.push(KeyValue::new("exception.type", AnyValue::from(t)));
        }
        if let Some(m) = self.message {
            attrs.push(KeyValue::new("exception.message", AnyValue::from(m)));
        }
        if let Some(s) = self.stacktrace {
            attrs.push(KeyValue::new("exception.stacktrace", AnyValue::from(s)));
        }
        attrs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exception(module: &str, qualname: &str) -> Exception {
        Exception {
            module: module.into(),
            qualname: Some(qualname.into()),
            message: Some("bad".into()),
            stacktrace: Some("Traceback ...".into()),
        }
    }

    #[test]
    fn type_name_is_module_qualified_unless_builtin() {
        assert_eq!(
            exception("builtins", "ValueError").type_name().as_deref(),
            Some("ValueError")
        );
        assert_eq!(
            exception("", "ValueError").type_name().as_deref(),
            Some("ValueError")
        );
        assert_eq!(
            exception("app.errors", "Outer.Inner")
                .type_name()
                .as_deref(),
            Some("app.errors.Outer.Inner")
        );
        assert_eq!(Exception::default().type_name(), None);
    }

    #[test]
    fn attributes_name_the_known_parts() {
        let attrs = exception("app", "E").into_attributes();
        let got: Vec<_> = attrs
            .iter()
            .map(|kv| (kv.key.as_ref(), &kv.value))
            .collect();
        assert_eq!(
            got,
            [
                ("exception.type", &AnyValue::from("app.E")),
                ("exception.message", &AnyValue::from("bad")),
                ("exception.stacktrace", &AnyValue::from("Traceback ...")),
            ]
        );
        let partial = Exception {
            message: Some(String::new()),
            ..Exception::default()
        };
        let attrs = partial.into_attributes();
        assert_eq!(attrs, [KeyValue::new("exception.message", "".into())]);
    }

    #[test]
    fn status_description_uses_the_class_name() {
        assert_eq!(
            exception("app.errors", "PaymentError").status_description(),
            "PaymentError: bad"
        );
        assert_eq!(
            exception("app", "handle.<locals>.Outer.Inner").status_description(),
            "Inner: bad"
        );
    }
}
