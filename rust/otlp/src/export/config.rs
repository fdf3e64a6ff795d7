//! What an exporter of one signal is configured with: endpoint, protocol, TLS,
//! headers, compression, timeouts, batching, retries and the circuit breaker, with
//! their defaults and validation.

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;

use crate::error::{Error, Result};
use crate::pipeline::{BatchConfig, QueueConfig};
use crate::resilience::{CircuitConfig, RetryPolicy};
use crate::transport::grpc::{validate_headers, GrpcClient, GrpcConfig};
use crate::transport::http::{HttpClient, HttpConfig, HttpVersion};
use crate::transport::tls::{self, TlsConfig};
use crate::transport::{Client, Compression, Endpoint, Paths, Protocol, Scheme};

/// The default largest request before compression: the common gRPC receiver limit.
pub const DEFAULT_MAX_REQUEST_SIZE: usize = 4 << 20;

/// The largest `max_request_size` accepted: a gRPC message length is 32 bits, and
/// receivers refuse far less.
pub const MAX_REQUEST_SIZE: usize = 1 << 30;

/// Everything needed to build an exporter.
#[derive(Clone, Debug)]
pub struct ExporterConfig {
    /// The collector's URL (`http://localhost:4317`), parsed by [`Endpoint::parse`].
    pub endpoint: String,
    /// OTLP/gRPC or OTLP/HTTP, protobuf or JSON.
    pub protocol: Protocol,
    /// Used for `https://` endpoints.
    pub tls: TlsConfig,
    /// Headers (gRPC metadata) sent with every request, checked by
    /// [`crate::transport::grpc::validate_headers`].
    pub headers: Vec<(String, String)>,
    /// How request bodies are compressed.
    pub compression: Compression,
    /// Limit of one export attempt, request and response.
    pub timeout: Duration,
    /// Queueing and batching.
    pub batch: BatchConfig,
    /// How the queue is bounded (items, bytes, disk) and what happens when it is full.
    pub queue: QueueConfig,
    /// How failed attempts are retried.
    pub retry: RetryPolicy,
    /// When the circuit breaker opens.
    pub circuit: CircuitConfig,
    /// Largest request in bytes before compression (default [`DEFAULT_MAX_REQUEST_SIZE`],
    /// 4 MiB: the common gRPC receiver limit); larger batches are split.
    pub max_request_size: usize,
    /// OTLP/HTTP's HTTP version (gRPC is always HTTP/2).
    pub http_version: HttpVersion,
    /// `endpoint` is the signal's own URL (a per-signal endpoint): OTLP/HTTP posts to
    /// its path as it is, instead of appending `/v1/<signal>` to it.
    pub signal_url: bool,
}

impl Default for ExporterConfig {
    fn default() -> Self {
        Self {
            endpoint: "http://localhost:4317".into(),
            protocol: Protocol::Grpc,
            tls: TlsConfig::default(),
            headers: Vec::new(),
            compression: Compression::None,
            timeout: Duration::from_secs(10),
            batch: BatchConfig::default(),
            queue: QueueConfig::default(),
            retry: RetryPolicy::default(),
            circuit: CircuitConfig::default(),
            max_request_size: DEFAULT_MAX_REQUEST_SIZE,
            http_version: HttpVersion::Auto,
            signal_url: false,
        }
    }
}

impl ExporterConfig {
    /// TLS for `https://` endpoints (offering `alpn`); `None` for `http://`.
    fn tls_for(
        &self,
        endpoint: &Endpoint,
        alpn: &[&[u8]],
    ) -> Result<Option<Arc<rustls::ClientConfig>>> {
        match endpoint.scheme {
            Scheme::Https => Ok(Some(tls::client_config(&self.tls, alpn)?)),
            Scheme::Http => Ok(None),
        }
    }

    /// Every setting is valid, and so is everything a client needs: the endpoint,
    /// headers and TLS files.
    pub fn check(&self) -> Result<()> {
        crate::time::check_positive(self.timeout, "timeout")?;
        crate::check_range(
            "max_request_size",
            self.max_request_size as i128,
            1024,
            MAX_REQUEST_SIZE as i128,
        )?;
        self.batch.validate_at("batch.")?;
        self.queue.validate_at("queue.")?;
        self.retry.validate_at("retry.")?;
        self.circuit.validate_at("circuit_breaker.")?;
        let endpoint = Endpoint::parse(&self.endpoint)?;
        self.client(&endpoint).map(drop)
    }

    /// A client for `endpoint` in the configured protocol, and the runtime it runs on.
    pub fn client(&self, endpoint: &Endpoint) -> Result<(Arc<Client>, Handle)> {
        let headers = validate_headers(self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        let client = match self.protocol {
            Protocol::Grpc if self.http_version == HttpVersion::Http1 => {
                return Err(Error::Config(
                    "`http_version`: gRPC runs on HTTP/2 only; leave it 'auto' or use \
                     protocol='http/protobuf' for HTTP/1.1"
                        .into(),
                ))
            }
            Protocol::Grpc if is_otlp_http_path(&endpoint.path) => {
                return Err(Error::Config(format!(
                    "`endpoint` {endpoint} ends in an OTLP/HTTP path, but the protocol is \
                     'grpc'; give protocol='http/protobuf' (or 'http/json') to post there, or \
                     the collector's gRPC address (usually port 4317, no path)"
                )))
            }
            Protocol::Grpc => Client::Grpc(GrpcClient::new(GrpcConfig {
                endpoint: if self.signal_url {
                    // A signal's gRPC URL names the collector; the method is fixed.
                    Endpoint {
                        path: String::new(),
                        ..endpoint.clone()
                    }
                } else {
                    endpoint.clone()
                },
                headers,
                compression: self.compression,
                user_agent: user_agent(),
                tls: self.tls_for(endpoint, &[b"h2"])?,
            })?),
            p => Client::Http(HttpClient::new(HttpConfig {
                endpoint: endpoint.clone(),
                headers,
                compression: self.compression,
                user_agent: user_agent(),
                json: p.is_json(),
                tls: self.tls_for(endpoint, self.http_version.alpn())?,
                version: self.http_version,
                signal_url: self.signal_url,
            })?),
        };
        let runtime = crate::runtime::handle()
            .map_err(|e| Error::Transport(format!("cannot start the I/O runtime: {e}")))?;
        Ok((Arc::new(client), runtime))
    }
}

/// Whether `path` is where OTLP/HTTP posts a signal: a gRPC exporter given such an
/// endpoint was almost certainly meant to speak OTLP/HTTP.
fn is_otlp_http_path(path: &str) -> bool {
    Paths::ALL.iter().any(|p| path.ends_with(p.http))
}

/// `user-agent` per the OTLP exporter spec, with this distribution's name first.
pub fn user_agent() -> String {
    format!("otlp/{v} OTel-OTLP-Exporter-Python/{v}", v = crate::VERSION)
}
