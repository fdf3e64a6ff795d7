//! Collector endpoint URLs.

use crate::error::{Error, Result};

/// A parsed `http[s]://host[:port][/path]` endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Whether the connection uses TLS.
    pub scheme: Scheme,
    /// Host as written, without IPv6 brackets.
    pub host: String,
    /// Port as written, else the scheme's default (80 or 443).
    pub port: u16,
    /// Path prefix without a trailing `/` (empty for the root).
    pub path: String,
}

/// An endpoint's URL scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `http://`: plain TCP.
    Http,
    /// `https://`: TLS ([`super::tls`]).
    Https,
}

impl Endpoint {
    /// Parse an endpoint; errors name the argument and the expected shape, and never
    /// echo credentials or query strings ([`redacted`]).
    pub fn parse(url: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::Config(format!(
                "`endpoint` must be a URL like 'http://localhost:4317'; got {:?} ({why})",
                redacted(url)
            ))
        };
        let url = url.trim();
        let (scheme, rest) = match url.split_once("://") {
            Some((s, rest)) => match s.to_ascii_lowercase().as_str() {
                "http" => (Scheme::Http, rest),
                "https" => (Scheme::Https, rest),
                other => return Err(bad(&format!("scheme {other:?} is not http or https"))),
            },
            None => return Err(bad("no scheme")),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(bad(
                "credentials in the URL are not supported; use `headers`",
            ));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(|| bad("junk after ']'"))?),
            };
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "/?#[]".contains(c))
        {
            return Err(bad("invalid character in host"));
        }
        let port = match port {
            None => match scheme {
                Scheme::Http => 80,
                Scheme::Https => 443,
            },
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("port must be a number from 1 to 65535"))?,
        };
        if path.contains(['?', '#']) {
            return Err(bad("query strings and fragments are not allowed"));
        }
        Ok(Self {
            scheme,
            host: host.to_owned(),
            port,
            path: path.trim_end_matches('/').to_owned(),
        })
    }

    /// `host:port` as sent in `:authority` (IPv6 hosts bracketed).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// `url` as it may be shown in a message: credentials (`user:password@`), query
/// strings and fragments, which often carry secrets, are replaced by `***`.
pub fn redacted(url: &str) -> String {
    let (before_query, cut) = match url.find(['?', '#']) {
        Some(i) => (&url[..i], true),
        None => (url, false),
    };
    let start = before_query.find("://").map_or(0, |i| i + 3);
    let authority_end = before_query[start..]
        .find('/')
        .map_or(before_query.len(), |i| start + i);
    let mut out = match before_query[start..authority_end].rfind('@') {
        Some(at) => format!(
            "{}***@{}",
            &before_query[..start],
            &before_query[start + at + 1..]
        ),
        None => before_query.to_owned(),
    };
    if cut {
        out.push_str("?***");
    }
    out
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        write!(f, "{scheme}://{}{}", self.authority(), self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_shapes() {
        let e = Endpoint::parse("http://localhost:4317").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.path.as_str()),
            ("localhost", 4317, "")
        );
        let e = Endpoint::parse("https://collector.example/otlp/").unwrap();
        assert_eq!(
            (e.scheme, e.port, e.path.as_str()),
            (Scheme::Https, 443, "/otlp")
        );
        let e = Endpoint::parse("http://[::1]:4317").unwrap();
        assert_eq!(
            (e.host.as_str(), e.authority()),
            ("::1", "[::1]:4317".to_owned())
        );
    }

    #[test]
    fn rejects_malformed_endpoints_with_a_reason() {
        for bad in [
            "",
            "localhost:4317",
            "ftp://x",
            "http://",
            "http://:80",
            "http://host:0",
            "http://host:99999",
            "http://host:port",
            "http://[::1",
            "http://a b:1",
            "http://u:p@host:1",
            "http://host:1/?q",
        ] {
            let err = Endpoint::parse(bad).unwrap_err().to_string();
            assert!(
                err.starts_with("`endpoint` must be a URL"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn messages_never_echo_credentials_or_query_strings() {
        for (url, secret) in [
            ("http://user:s3cr3t@host:4317", "s3cr3t"),
            ("http://user:s3cr3t@host:4317/v1/traces?x=1", "s3cr3t"),
            ("http://host:4318/v1/traces?api_key=s3cr3t", "s3cr3t"),
            ("http://host:4318/v1/traces#s3cr3t", "s3cr3t"),
            ("ftp://user:s3cr3t@host", "s3cr3t"),
            ("user:s3cr3t@host:4317", "s3cr3t"),
        ] {
            let err = Endpoint::parse(url).unwrap_err().to_string();
            assert!(!err.contains(secret), "{url:?}: {err}");
            assert!(err.contains("***"), "{url:?}: {err}");
        }
        assert_eq!(redacted("https://a:b@h:1/p?q#f"), "https://***@h:1/p?***");
        assert_eq!(redacted("http://h:1/p"), "http://h:1/p");
    }
}
