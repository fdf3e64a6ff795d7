//! Message compression.

use std::io::{Read, Write};

use crate::error::{Error, Result};

/// How request bodies are compressed (`grpc-encoding` / `Content-Encoding`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// Sent as is.
    #[default]
    None,
    /// gzip, at level 1.
    Gzip,
    /// zstd, at level 1.
    Zstd,
}

impl Compression {
    /// Every compression, in the order messages list them.
    pub const ALL: [Self; 3] = [Self::None, Self::Gzip, Self::Zstd];

    /// Parse the setting `compression` (any case; `identity` and empty mean none).
    pub fn parse(s: &str) -> Result<Self> {
        let lower = s.to_ascii_lowercase();
        let canonical = match lower.as_str() {
            "" | "identity" => "none",
            other => other,
        };
        // The message quotes what was written, not its canonical form.
        match Self::ALL.iter().copied().find(|c| c.name() == canonical) {
            Some(c) => Ok(c),
            None => crate::one_of("compression", &Self::ALL, Self::name, s),
        }
    }

    /// The setting's name (`none`, `gzip`, `zstd`).
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            other => other.token(),
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
        let (out, more) = self.decompress_prefix(data, limit)?;
        if more {
            return Err(Error::Transport(format!(
                "decompressed message exceeds {limit} bytes"
            )));
        }
        Ok(out)
    }

    /// The first `limit` bytes of `data` decompressed, and whether there was more.
    /// Nothing past `limit` is decompressed (a small bomb cannot make it work hard), and
    /// the output buffer never holds more than `limit + 1` bytes (a receiver's memory
    /// bound rests on it).
    pub fn decompress_prefix(self, data: &[u8], limit: usize) -> Result<(Vec<u8>, bool)> {
        let mut out = Vec::new();
        match self {
            Self::None => out.extend_from_slice(&data[..data.len().min(limit + 1)]),
            Self::Gzip => read_bounded(flate2::read::GzDecoder::new(data), limit + 1, &mut out)
                .map_err(|e| Error::Transport(format!("invalid gzip message: {e}")))?,
            Self::Zstd => zstd::stream::read::Decoder::new(data)
                .and_then(|d| read_bounded(d, limit + 1, &mut out))
                .map_err(|e| Error::Transport(format!("invalid zstd message: {e}")))?,
        }
        let more = out.len() > limit;
        out.truncate(limit);
        Ok((out, more))
    }
}

/// Read `from` to its end or to `bound` bytes into `out`. The buffer doubles as it fills
/// but is capped at `bound` (`read_to_end` would double it past: up to twice the bound).
fn read_bounded(mut from: impl Read, bound: usize, out: &mut Vec<u8>) -> std::io::Result<()> {
    const FIRST: usize = 64 << 10;
    const STEP: usize = 256 << 10;
    while out.len() < bound {
        if out.len() == out.capacity() {
            let grown = (out.len() * 2).max(FIRST).min(bound);
            out.reserve_exact(grown - out.len());
        }
        let start = out.len();
        // Zeroing only a step of the spare room keeps short reads from zeroing it all
        // again and again.
        let end = out.capacity().min(bound).min(start + STEP);
        out.resize(end, 0);
        match from.read(&mut out[start..]) {
            Ok(0) => {
                out.truncate(start);
                return Ok(());
            }
            Ok(n) => out.truncate(start + n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => out.truncate(start),
            Err(e) => {
                out.truncate(start);
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Append the zstd frame of `data` to `out` (level 1: fast, most of the gain).
pub fn zstd_compress(data: &[u8], out: &mut Vec<u8>) {
    // Compressing from memory into a Vec cannot fail.
    if let Ok(z) = zstd::bulk::compress(data, 1) {
        out.extend_from_slice(&z);
    }
}

/// Append the gzip of `data` to `out`.
pub fn gzip(data: &[u8], out: &mut Vec<u8>) {
    // Level 1 (fast): telemetry is repetitive, so most of the size win comes cheaply.
    let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    let _ = enc.finish();
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
        let gz = Compression::Gzip;
        assert_eq!(gz.decompress(&z, data.len()).unwrap(), data);
        assert!(gz.decompress(&z, data.len() - 1).is_err());
        assert!(gz.decompress(b"not gzip", 100).is_err());
    }

    #[test]
    fn zstd_round_trips_and_bounds_output() {
        let data = b"telemetry telemetry telemetry ".repeat(1000);
        let mut z = Vec::new();
        Compression::Zstd.compress(&data, &mut z);
        assert!(z.len() < data.len() / 10);
        assert_eq!(Compression::Zstd.decompress(&z, data.len()).unwrap(), data);
        assert!(Compression::Zstd.decompress(&z, 100).is_err());
        assert!(Compression::Zstd.decompress(b"garbage", 100).is_err());
    }

    #[test]
    fn a_prefix_is_decompressed_without_the_rest() {
        let data = b"0123456789".repeat(1000);
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let mut z = Vec::new();
            c.compress(&data, &mut z);
            assert_eq!(
                c.decompress_prefix(&z, 25).unwrap(),
                (data[..25].to_vec(), true)
            );
            let whole = c.decompress_prefix(&z, data.len()).unwrap();
            assert_eq!(whole, (data.clone(), false), "{c:?}");
        }
        assert!(Compression::Gzip
            .decompress_prefix(b"not gzip", 10)
            .is_err());
    }

    #[test]
    fn a_bomb_is_cut_at_the_limit_without_the_buffer_growing_past_it() {
        // 64 MiB of zeros, 64 KiB or less compressed.
        let zeros = vec![0; 64 << 20];
        let limit = (5 << 20) + 3;
        for c in [Compression::Gzip, Compression::Zstd] {
            let mut bomb = Vec::new();
            c.compress(&zeros, &mut bomb);
            assert!(bomb.len() < 1 << 20, "{c:?}: {}", bomb.len());
            let (out, more) = c.decompress_prefix(&bomb, limit).unwrap();
            assert!(more && out.len() == limit, "{c:?}");
            // `read_to_end` doubled its buffer to 8 MiB here.
            assert!(out.capacity() <= limit + 1, "{c:?}: {}", out.capacity());
        }
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
