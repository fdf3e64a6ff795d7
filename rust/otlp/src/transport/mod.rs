//! Delivery of encoded requests to a collector.

pub mod compression;
pub mod endpoint;
pub mod grpc;

pub use compression::Compression;
pub use endpoint::{Endpoint, Scheme};
