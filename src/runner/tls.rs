//! TLS for `wss://` targets: rustls (no OpenSSL to link or ship), trusting the Mozilla
//! roots bundled with the binary (so a container image needs no CA store) plus the
//! private CA given with `--ca-cert`.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_rustls::TlsConnector;

/// What a `wss://` connection trusts (and, later, presents).
#[derive(Clone, Debug, Default)]
pub struct TlsSettings {
    /// PEM certificates trusted in addition to the bundled roots (`--ca-cert`).
    pub ca_cert: Option<Vec<u8>>,
}

impl TlsSettings {
    /// The connector every `wss://` connection of a run shares.
    pub fn connector(&self) -> Result<TlsConnector, String> {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(pem) = &self.ca_cert {
            let mut added = 0;
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| format!("--ca-cert is not a PEM certificate: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("--ca-cert holds an unusable certificate: {e}"))?;
                added += 1;
            }
            if added == 0 {
                return Err("--ca-cert holds no PEM certificate (no BEGIN CERTIFICATE)".into());
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsConnector::from(Arc::new(config)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_a_certificate_is_refused_with_the_flag_named() {
        let settings = TlsSettings {
            ca_cert: Some(b"not a certificate".to_vec()),
        };
        let e = settings.connector().err().expect("refused");
        assert!(e.contains("--ca-cert"), "{e}");
    }

    #[test]
    fn without_a_ca_cert_the_bundled_roots_are_used() {
        assert!(TlsSettings::default().connector().is_ok());
    }
}
