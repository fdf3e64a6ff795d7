#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otlp::fuzz::decode_protobuf(data));
