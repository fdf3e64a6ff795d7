//! An embedded OTLP/gRPC receiver: accepts exports on loopback and counts what
//! arrives. Used by `python -m otlp demo` and `serve`, and by tests.

mod grpc;

pub use grpc::{Receiver, ReceiverCounts};
