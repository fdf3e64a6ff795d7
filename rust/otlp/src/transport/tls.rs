//! TLS for `https://` endpoints (rustls with the ring provider).
//!
//! Server certificates are verified against the system roots, or against `ca_file`
//! when given; `cert_file` + `key_file` add a client certificate (mutual TLS).
//! `insecure` skips chain and name checks (signatures are still checked): for tests
//! and private networks only.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::error::{Error, Result};

/// TLS settings of an exporter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM file of the CA certificates to trust; `None`: the system's roots.
    pub ca_file: Option<String>,
    /// PEM file of our client certificate chain, for mutual TLS (with `key_file`).
    pub cert_file: Option<String>,
    /// PEM file of the private key of `cert_file`.
    pub key_file: Option<String>,
    /// Skip chain and name checks of the server's certificate (handshake signatures
    /// are still checked): for tests and private networks only.
    pub insecure: bool,
}

fn certs(path: &str, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| Error::Config(format!("`tls.{what}`: cannot read {path:?}: {e}")))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::Config(format!("`tls.{what}`: {path:?} is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(Error::Config(format!(
            "`tls.{what}`: {path:?} holds no PEM certificate"
        )));
    }
    Ok(certs)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// A client configuration for `config`, offering `alpn` (e.g. `h2`).
pub fn client_config(config: &TlsConfig, alpn: &[&[u8]]) -> Result<Arc<ClientConfig>> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("`tls`: {e}")))?;
    let builder = if config.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoChainCheck(provider())))
    } else {
        let mut roots = RootCertStore::empty();
        match &config.ca_file {
            Some(path) => {
                for cert in certs(path, "ca_file")? {
                    roots.add(cert).map_err(|e| {
                        Error::Config(format!(
                            "`tls.ca_file`: {path:?} holds an unusable certificate: {e}"
                        ))
                    })?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                for cert in found.certs {
                    let _ = roots.add(cert);
                }
                if roots.is_empty() {
                    return Err(Error::Config(
                        "`tls`: no system root certificates were found; give `tls.ca_file`".into(),
                    ));
                }
            }
        }
        builder.with_root_certificates(roots)
    };
    let mut tls = match (&config.cert_file, &config.key_file) {
        (Some(cert), Some(key)) => {
            let chain = certs(cert, "cert_file")?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                Error::Config(format!(
                    "`tls.key_file`: cannot read a PEM private key from {key:?}: {e}"
                ))
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                Error::Config(format!(
                    "`tls.cert_file` and `tls.key_file` do not form a usable pair: {e}"
                ))
            })?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(Error::Config(
                "`tls.cert_file` and `tls.key_file` go together (mutual TLS needs both)".into(),
            ))
        }
    };
    tls.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(tls))
}

/// The name to verify the server certificate against.
pub fn server_name(host: &str) -> Result<ServerName<'static>> {
    ServerName::try_from(host.to_owned()).map_err(|_| {
        Error::Config(format!(
            "`endpoint`: {host:?} is not a valid TLS server name"
        ))
    })
}

/// What a refused certificate says, when a failed connection failed for that reason:
/// the server's certificate did not verify (unknown issuer, expired, another name), or
/// the server refused ours. Neither changes by retrying, unlike most connection
/// failures. rustls's error travels inside an `io::Error` (from tokio-rustls, or from
/// the stream under `h2`/`hyper` when the server's alert comes after the handshake).
pub fn certificate_problem(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    use rustls::AlertDescription as A;
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return match tls {
                rustls::Error::InvalidCertificate(_) => Some(format!(
                    "the server's certificate was refused: {}",
                    crate::decode::peer_text(tls.to_string().as_bytes())
                )),
                rustls::Error::AlertReceived(
                    A::BadCertificate
                    | A::UnsupportedCertificate
                    | A::CertificateRevoked
                    | A::CertificateExpired
                    | A::CertificateUnknown
                    | A::UnknownCA
                    | A::CertificateRequired,
                ) => Some(format!("the server refused our certificate: {tls}")),
                _ => None,
            };
        }
        // `io::Error::source` skips the error it wraps: look inside it.
        next = match e.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => match e.downcast_ref::<h2::Error>() {
                Some(h2) => h2
                    .get_io()
                    .map(|io| io as &(dyn std::error::Error + 'static)),
                None => e.source(),
            },
        };
    }
    None
}

/// Accepts any certificate chain and name, but still checks handshake signatures.
#[derive(Debug)]
struct NoChainCheck(Arc<CryptoProvider>);

impl ServerCertVerifier for NoChainCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_and_mismatched_files_are_config_errors() {
        let missing = TlsConfig {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsConfig::default()
        };
        let err = client_config(&missing, &[b"h2"]).unwrap_err().to_string();
        assert!(
            err.contains("tls.ca_file") && err.contains("cannot read"),
            "{err}"
        );
        let half = TlsConfig {
            cert_file: Some("/x".into()),
            insecure: true,
            ..TlsConfig::default()
        };
        let err = client_config(&half, &[b"h2"]).unwrap_err().to_string();
        assert!(err.contains("go together"), "{err}");
        let dir = std::env::temp_dir().join(format!("otlp-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let bad = TlsConfig {
            ca_file: Some(junk.to_string_lossy().into_owned()),
            ..TlsConfig::default()
        };
        let err = client_config(&bad, &[b"h2"]).unwrap_err().to_string();
        assert!(err.contains("no PEM certificate"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn refused_certificates_are_told_apart_from_other_failures() {
        use rustls::{AlertDescription, CertificateError};
        let wrap = |e: rustls::Error| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        let expired = wrap(rustls::Error::InvalidCertificate(CertificateError::Expired));
        let found = certificate_problem(&expired).unwrap();
        assert!(
            found.contains("server's certificate") && found.contains("Expired"),
            "{found}"
        );
        let unknown = wrap(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));
        assert!(certificate_problem(&unknown)
            .unwrap()
            .contains("UnknownIssuer"));
        // The server's alert after the handshake, seen through an HTTP error.
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("connection error")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let refused = Outer(wrap(rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired,
        )));
        let found = certificate_problem(&refused).unwrap();
        assert!(found.contains("refused our certificate"), "{found}");
        // Not about certificates: retried as any connection failure.
        let other = wrap(rustls::Error::AlertReceived(
            AlertDescription::HandshakeFailure,
        ));
        assert_eq!(certificate_problem(&other), None);
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(certificate_problem(&reset), None);
    }

    #[test]
    fn insecure_needs_no_roots() {
        let cfg = TlsConfig {
            insecure: true,
            ..TlsConfig::default()
        };
        let c = client_config(&cfg, &[b"h2"]).unwrap();
        assert_eq!(c.alpn_protocols, vec![b"h2".to_vec()]);
    }
}
