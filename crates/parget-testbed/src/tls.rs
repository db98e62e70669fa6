//! The TLS acceptor: the generated loopback certificate or one the caller
//! gives, and optionally a required client certificate.

use std::io;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio_rustls::TlsAcceptor;

use crate::certs::{Ca, Validity};
use crate::config::{ServerConfig, TlsIdentity};

fn invalid(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {e}"))
}

/// Makes a CA and a certificate it signs for the loopback names; returns
/// the identity and the CA certificate PEM.
///
/// A separate CA (rather than one self-signed leaf) is what clients expect
/// of real servers, and webpki refuses CA certificates used as end entities.
fn loopback_identity() -> io::Result<(TlsIdentity, String)> {
    let ca = Ca::new("parget-testbed CA").map_err(io::Error::other)?;
    let leaf = ca
        .server_cert(&["127.0.0.1", "localhost"], Validity::current())
        .map_err(io::Error::other)?;
    Ok((leaf.identity(), ca.cert_pem().to_owned()))
}

fn certificates(pem: &str, what: &str) -> io::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(what, e))?;
    if certs.is_empty() {
        return Err(invalid(what, "no CERTIFICATE in the PEM"));
    }
    Ok(certs)
}

/// The acceptor for `config`, and the PEM of the CA to trust when the
/// certificate was generated here.
pub(crate) fn acceptor(config: &ServerConfig) -> io::Result<(TlsAcceptor, Option<String>)> {
    let (identity, ca_pem) = match &config.tls_identity {
        Some(identity) => (identity.clone(), None),
        None => {
            let (identity, ca) = loopback_identity()?;
            (identity, Some(ca))
        }
    };
    let chain = certificates(&identity.cert_chain_pem, "tls_identity.cert_chain_pem")?;
    let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes())
        .map_err(|e| invalid("tls_identity.key_pem", e))?;

    // An explicit provider: other crates of the workspace may enable a second
    // rustls backend, and then the implicit default is ambiguous.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?;
    let builder = match &config.client_ca {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certificates(pem, "client_ca")? {
                roots.add(cert).map_err(|e| invalid("client_ca", e))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| invalid("client_ca", e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut tls = builder
        .with_single_cert(chain, key)
        .map_err(|e| invalid("tls_identity", e))?;
    tls.alpn_protocols = if config.http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok((TlsAcceptor::from(Arc::new(tls)), ca_pem))
}
