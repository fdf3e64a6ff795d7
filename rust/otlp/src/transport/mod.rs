//! Delivery of encoded requests to a collector.

pub mod compression;
pub mod endpoint;
pub mod grpc;
pub mod http;
pub mod tls;

pub use compression::Compression;
pub use endpoint::{Endpoint, Scheme};

use std::time::Duration;

use bytes::Bytes;

use grpc::{GrpcClient, Status};
use http::HttpClient;

/// OTLP's transports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    #[default]
    Grpc,
    HttpProtobuf,
    HttpJson,
}

impl Protocol {
    pub fn parse(s: &str) -> crate::Result<Self> {
        match s {
            "grpc" => Ok(Self::Grpc),
            "http/protobuf" => Ok(Self::HttpProtobuf),
            "http/json" => Ok(Self::HttpJson),
            other => Err(crate::Error::Config(format!(
                "`protocol` must be one of 'grpc', 'http/protobuf', 'http/json'; got {other:?}"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::HttpProtobuf => "http/protobuf",
            Self::HttpJson => "http/json",
        }
    }

    pub fn is_json(self) -> bool {
        self == Self::HttpJson
    }
}

/// A collector connection speaking one of the transports.
pub enum Client {
    Grpc(GrpcClient),
    Http(HttpClient),
}

/// Where a signal goes on each transport.
#[derive(Clone, Copy, Debug)]
pub struct Paths {
    /// `/opentelemetry.proto.collector.trace.v1.TraceService/Export`
    pub grpc: &'static str,
    /// `/v1/traces`
    pub http: &'static str,
}

impl Client {
    pub fn compression(&self) -> Compression {
        match self {
            Client::Grpc(c) => c.compression(),
            Client::Http(c) => c.compression(),
        }
    }

    /// The request body for an encoded message that follows 5 bytes of headroom in
    /// `buf` (room for the gRPC prefix, so the uncompressed gRPC body is not copied).
    pub fn body(&self, mut buf: Vec<u8>) -> Bytes {
        let compression = self.compression();
        match (self, compression) {
            (Client::Grpc(_), Compression::None) => {
                let len = (buf.len() - 5) as u32;
                buf[0] = 0;
                buf[1..5].copy_from_slice(&len.to_be_bytes());
                Bytes::from(buf)
            }
            (Client::Grpc(_), c) => grpc::frame(&buf[5..], c),
            (Client::Http(_), Compression::None) => Bytes::from(buf).slice(5..),
            (Client::Http(_), c) => {
                let mut out = Vec::with_capacity(buf.len() / 4);
                c.compress(&buf[5..], &mut out);
                out.into()
            }
        }
    }

    pub async fn send(
        &self,
        paths: Paths,
        body: Bytes,
        timeout: Duration,
    ) -> (Result<Bytes, Status>, bool) {
        match self {
            Client::Grpc(c) => c.unary(paths.grpc, body, timeout).await,
            Client::Http(c) => c.post(paths.http, body, timeout).await,
        }
    }

    /// The rejected count and message of a successful response's partial success.
    pub fn partial_success(&self, response: &[u8]) -> Option<(u64, String)> {
        match self {
            Client::Http(c) if c.json() => crate::decode::partial_success_json(response),
            _ => crate::decode::partial_success(response).ok().flatten(),
        }
    }
}
