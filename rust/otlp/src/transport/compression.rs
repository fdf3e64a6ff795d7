//! Message compression.

use std::io::{Read, Write};

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "none" | "" | "identity" => Ok(Self::None),
            "gzip" => Ok(Self::Gzip),
            "zstd" => Ok(Self::Zstd),
            _ => Err(Error::Config(format!(
                "`compression` must be one of 'none', 'gzip', 'zstd'; got {s:?}"
            ))),
        }
    }

    /// The token used in `grpc-encoding` / `Content-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            Self::None => "identity",
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
        }
    }

    /// Append the compressed `data` to `out`.
    pub fn compress(self, data: &[u8], out: &mut Vec<u8>) {
        match self {
            Self::None => out.extend_from_slice(data),
            Self::Gzip => gzip(data, out),
            Self::Zstd => zstd_compress(data, out),
        }
    }

    /// The encoding named by a `grpc-encoding` / `Content-Encoding` token.
    pub fn from_token(token: &str) -> Option<Self> {
        match token.trim().to_ascii_lowercase().as_str() {
            "identity" | "" => Some(Self::None),
            "gzip" => Some(Self::Gzip),
            "zstd" => Some(Self::Zstd),
            _ => None,
        }
    }

    /// Decompress `data`, refusing output above `limit` bytes.
    pub fn decompress(self, data: &[u8], limit: usize) -> Result<Vec<u8>> {
        match self {
            Self::None if data.len() <= limit => Ok(data.to_vec()),
            Self::None => Err(Error::Transport(format!("message exceeds {limit} bytes"))),
            Self::Gzip => gunzip(data, limit),
            Self::Zstd => unzstd(data, limit),
        }
    }
}

/// Append the zstd frame of `data` to `out` (level 1: fast, most of the gain).
pub fn zstd_compress(data: &[u8], out: &mut Vec<u8>) {
    // Compressing from memory into a Vec cannot fail.
    if let Ok(z) = zstd::bulk::compress(data, 1) {
        out.extend_from_slice(&z);
    }
}

/// Decompress a zstd message, refusing output above `limit` bytes.
pub fn unzstd(data: &[u8], limit: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    zstd::stream::read::Decoder::new(data)
        .map_err(|e| Error::Transport(format!("invalid zstd message: {e}")))?
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::Transport(format!("invalid zstd message: {e}")))?;
    if out.len() > limit {
        return Err(Error::Transport(format!(
            "decompressed message exceeds {limit} bytes"
        )));
    }
    Ok(out)
}

/// Append the gzip of `data` to `out`.
pub fn gzip(data: &[u8], out: &mut Vec<u8>) {
    // Level 1 (fast): telemetry is repetitive, so most of the size win comes cheaply.
    let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    let _ = enc.finish();
}

/// Decompress a gzip message, refusing output above `limit` bytes.
pub fn gunzip(data: &[u8], limit: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::Transport(format!("invalid gzip message: {e}")))?;
    if out.len() > limit {
        return Err(Error::Transport(format!(
            "decompressed message exceeds {limit} bytes"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_round_trips() {
        let data: Vec<u8> = (0..10_000u32)
            .flat_map(|i| (i % 97).to_le_bytes())
            .collect();
        let mut z = Vec::new();
        gzip(&data, &mut z);
        assert!(z.len() < data.len() / 4);
        assert_eq!(gunzip(&z, data.len()).unwrap(), data);
        assert!(gunzip(&z, data.len() - 1).is_err());
        assert!(gunzip(b"not gzip", 100).is_err());
    }

    #[test]
    fn zstd_round_trips_and_bounds_output() {
        let data = b"telemetry telemetry telemetry ".repeat(1000);
        let mut z = Vec::new();
        Compression::Zstd.compress(&data, &mut z);
        assert!(z.len() < data.len() / 10);
        assert_eq!(Compression::Zstd.decompress(&z, data.len()).unwrap(), data);
        assert!(Compression::Zstd.decompress(&z, 100).is_err());
        assert!(unzstd(b"garbage", 100).is_err());
    }

    #[test]
    fn parse_lists_the_allowed_values() {
        let err = Compression::parse("br").unwrap_err().to_string();
        assert_eq!(
            err,
            "`compression` must be one of 'none', 'gzip', 'zstd'; got \"br\""
        );
    }
}
