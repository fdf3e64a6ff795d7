//! Sampling: whether a new span is recorded and exported. The specification's built-in
//! samplers (trace/sdk.md#built-in-samplers) under the names `OTEL_TRACES_SAMPLER`
//! gives them, deciding as the OpenTelemetry Python SDK's `TraceIdRatioBased` and
//! `ParentBased` (with its default delegates) do, so that both agree trace by trace.

use crate::model::TraceId;
use crate::trace::{SpanContext, SAMPLED};
use crate::{Error, Result};

/// What decides for a span without a (valid) parent, or for every span when the
/// sampler is not parent-based.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Root {
    AlwaysOn,
    AlwaysOff,
    /// Sample when the trace id's lower 64 bits, as an integer, are below `bound`.
    TraceIdRatio {
        ratio: f64,
        bound: u128,
    },
}

/// A sampler: one of `always_on`, `always_off`, `traceidratio`, and the
/// `parentbased_*` versions of those, which follow a parent's sampled flag (for remote
/// and local parents alike, as `ParentBased`'s default delegates do).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampler {
    root: Root,
    parent_based: bool,
}

/// The samplers' names, as `OTEL_TRACES_SAMPLER` spells them.
pub const NAMES: [&str; 6] = [
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
];

impl Default for Sampler {
    /// `parentbased_always_on`, the specification's default.
    fn default() -> Self {
        Self {
            root: Root::AlwaysOn,
            parent_based: true,
        }
    }
}

impl Sampler {
    /// The sampler `name` (one of [`NAMES`]); `ratio`, for the `traceidratio` ones, is
    /// the fraction of traces sampled (default 1).
    pub fn new(name: &str, ratio: Option<f64>) -> Result<Self> {
        Self::parse("sampler", "ratio", name, ratio.map(Ok))
    }

    /// The sampler `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` name, or `None`
    /// when the first is unset or empty. As for every other variable, a value that
    /// cannot be used is an [`Error::Config`] naming the variable.
    pub fn from_env() -> Result<Option<Self>> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// [`Self::from_env`] reading the variables through `env`.
    pub fn from_lookup(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        let Some(name) = env("OTEL_TRACES_SAMPLER")
            .map(|n| n.trim().to_ascii_lowercase())
            .filter(|n| !n.is_empty())
        else {
            return Ok(None);
        };
        let arg = env("OTEL_TRACES_SAMPLER_ARG")
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty() && name.ends_with("traceidratio"))
            .map(|a| a.parse::<f64>().map_err(|_| a));
        Self::parse("OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", &name, arg).map(Some)
    }

    /// `ratio` is `Err(text)` when it was given as text that is not a number.
    fn parse(
        setting: &str,
        ratio_setting: &str,
        name: &str,
        ratio: Option<Result<f64, String>>,
    ) -> Result<Self> {
        let Some(index) = NAMES.iter().position(|n| *n == name) else {
            let choices: Vec<String> = NAMES.iter().map(|n| format!("'{n}'")).collect();
            return Err(Error::Config(format!(
                "`{setting}` must be one of {}; got {name:?}",
                choices.join(", ")
            )));
        };
        let parent_based = name.starts_with("parentbased_");
        let root = match index % 3 {
            0 => Root::AlwaysOn,
            1 => Root::AlwaysOff,
            _ => {
                let ratio = match ratio {
                    None => 1.0,
                    Some(Ok(r)) if (0.0..=1.0).contains(&r) => r,
                    Some(Ok(r)) => return Err(bad_ratio(ratio_setting, &r.to_string())),
                    Some(Err(text)) => return Err(bad_ratio(ratio_setting, &format!("{text:?}"))),
                };
                Root::TraceIdRatio {
                    ratio,
                    bound: bound(ratio),
                }
            }
        };
        Ok(Self { root, parent_based })
    }

    /// Whether a span of trace `trace_id` under `parent` (a valid context, or none) is
    /// sampled.
    pub fn should_sample(&self, parent: Option<&SpanContext>, trace_id: &TraceId) -> bool {
        if self.parent_based {
            if let Some(parent) = parent {
                return parent.trace_flags & SAMPLED != 0;
            }
        }
        match self.root {
            Root::AlwaysOn => true,
            Root::AlwaysOff => false,
            Root::TraceIdRatio { bound, .. } => {
                let mut low = [0; 8];
                low.copy_from_slice(&trace_id[8..]);
                u128::from(u64::from_be_bytes(low)) < bound
            }
        }
    }

    /// Its name (one of [`NAMES`]).
    pub fn name(&self) -> &'static str {
        let root = match self.root {
            Root::AlwaysOn => 0,
            Root::AlwaysOff => 1,
            Root::TraceIdRatio { .. } => 2,
        };
        NAMES[root + if self.parent_based { 3 } else { 0 }]
    }

    /// The fraction of traces a `traceidratio` sampler samples.
    pub fn ratio(&self) -> Option<f64> {
        match self.root {
            Root::TraceIdRatio { ratio, .. } => Some(ratio),
            _ => None,
        }
    }
}

/// `TraceIdRatioBased.get_bound_for_rate`: `round(ratio * 2**64)`, rounding half to
/// even as Python's `round` does (the product is exact: 2**64 is a power of two).
fn bound(ratio: f64) -> u128 {
    (ratio * 18_446_744_073_709_551_616.0).round_ties_even() as u128
}

fn bad_ratio(setting: &str, got: &str) -> Error {
    Error::Config(format!(
        "`{setting}` must be a number from 0 to 1 (the fraction of traces sampled); got {got}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parent(flags: u8, remote: bool) -> SpanContext {
        SpanContext {
            trace_id: [1; 16],
            span_id: [2; 8],
            trace_flags: flags,
            is_remote: remote,
            trace_state: String::new(),
        }
    }

    fn trace_id(low: u64) -> TraceId {
        let mut id = [0xff; 16];
        id[8..].copy_from_slice(&low.to_be_bytes());
        id
    }

    #[test]
    fn names_round_trip_and_unknown_ones_list_the_choices() {
        for name in NAMES {
            assert_eq!(Sampler::new(name, None).unwrap().name(), name);
        }
        assert_eq!(Sampler::default().name(), "parentbased_always_on");
        let err = Sampler::new("sometimes", None).unwrap_err().to_string();
        assert!(
            err.starts_with("`sampler` must be one of 'always_on', "),
            "{err}"
        );
        for bad in [-0.1, 1.5, f64::NAN] {
            let err = Sampler::new("traceidratio", Some(bad))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("`ratio` must be a number from 0 to 1"),
                "{err}"
            );
        }
    }

    #[test]
    fn the_ratio_bound_is_the_python_sdks() {
        // TraceIdRatioBased.get_bound_for_rate, computed by CPython.
        for (ratio, expected) in [
            (0.0, 0u128),
            (1.0, 1 << 64),
            (0.5, 1 << 63),
            (0.1, 1_844_674_407_370_955_264),
            (1e-19, 2),
            // 2.5 rounds to 2 (half to even), not 3.
            (2.5 / 18_446_744_073_709_551_616.0, 2),
        ] {
            assert_eq!(bound(ratio), expected, "{ratio}");
        }
        let s = Sampler::new("traceidratio", Some(0.5)).unwrap();
        assert!(s.should_sample(None, &trace_id((1 << 63) - 1)));
        assert!(!s.should_sample(None, &trace_id(1 << 63)));
        let all = Sampler::new("traceidratio", Some(1.0)).unwrap();
        assert!(all.should_sample(None, &trace_id(u64::MAX)));
        let none = Sampler::new("traceidratio", Some(0.0)).unwrap();
        assert!(!none.should_sample(None, &trace_id(0)));
    }

    #[test]
    fn parent_based_samplers_follow_the_parents_flag_others_ignore_it() {
        for name in NAMES {
            let s = Sampler::new(name, Some(0.0)).unwrap();
            for remote in [false, true] {
                for flags in [0, 1, 2, 3] {
                    let got = s.should_sample(Some(&parent(flags, remote)), &trace_id(0));
                    let expected = if name.starts_with("parentbased_") {
                        flags & 1 == 1
                    } else {
                        name == "always_on"
                    };
                    assert_eq!(got, expected, "{name} flags={flags} remote={remote}");
                }
            }
        }
        let root = |name| {
            Sampler::new(name, None)
                .unwrap()
                .should_sample(None, &[0; 16])
        };
        assert!(root("parentbased_always_on") && root("parentbased_traceidratio"));
        assert!(!root("parentbased_always_off"));
    }

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn the_environment_names_the_sampler_and_its_ratio() {
        let read = |vars: &[(&str, &str)]| Sampler::from_lookup(&env(vars));
        assert_eq!(read(&[]).unwrap(), None);
        assert_eq!(read(&[("OTEL_TRACES_SAMPLER", " ")]).unwrap(), None);
        let s = read(&[
            ("OTEL_TRACES_SAMPLER", "ParentBased_TraceIdRatio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (s.name(), s.ratio()),
            ("parentbased_traceidratio", Some(0.25))
        );
        let default_ratio = read(&[("OTEL_TRACES_SAMPLER", "traceidratio")]).unwrap();
        assert_eq!(default_ratio.unwrap().ratio(), Some(1.0));
        // The argument of another sampler is not read.
        let on = read(&[
            ("OTEL_TRACES_SAMPLER", "always_on"),
            ("OTEL_TRACES_SAMPLER_ARG", "x"),
        ]);
        assert_eq!(on.unwrap().unwrap().name(), "always_on");
        let err = read(&[("OTEL_TRACES_SAMPLER", "jaeger_remote")]).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("`OTEL_TRACES_SAMPLER` must be one of"));
        for bad in ["half", "2"] {
            let err = read(&[
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", bad),
            ])
            .unwrap_err()
            .to_string();
            assert!(
                err.starts_with("`OTEL_TRACES_SAMPLER_ARG` must be a number from 0 to 1"),
                "{err}"
            );
        }
    }
}
