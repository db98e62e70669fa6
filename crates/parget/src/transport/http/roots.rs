//! The root certificates https connections trust: the system's, plus
//! those of `SSL_CERT_FILE` and `SSL_CERT_DIR`, plus the caller's.
//!
//! rustls-native-certs reads the system's store, but when `SSL_CERT_FILE`
//! or `SSL_CERT_DIR` is set it reads those *instead* (OpenSSL's rule).
//! parget adds them to the system's roots rather than replacing them, so
//! pointing `SSL_CERT_FILE` at a company CA does not break every public
//! site: with either variable set, the system's bundle is read from the
//! usual place as well (the paths Go's crypto/x509 searches on Linux).

use std::path::Path;

use crate::error::{Error, ErrorKind};

/// Where Linux distributions keep their CA bundle, as Go's crypto/x509
/// searches them: the first that exists is the system's store.
const SYSTEM_BUNDLES: [&str; 6] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The system's roots and the environment's, each one a certificate
/// rustls accepts as a trust anchor (a store may hold some it cannot
/// read; those are skipped, as reqwest skips them).
pub(crate) fn system_roots() -> Result<Vec<reqwest::Certificate>, Error> {
    let loaded = rustls_native_certs::load_native_certs();
    let from_env = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()));
    if loaded.certs.is_empty() && !loaded.errors.is_empty() {
        let why: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
        let origin = if from_env {
            "SSL_CERT_FILE/SSL_CERT_DIR"
        } else {
            "the system's store"
        };
        return Err(Error::new(
            ErrorKind::InvalidRequest(format!(
                "no root certificate could be read from {origin}: {}",
                why.join("; ")
            )),
            None,
        ));
    }
    let ders: Vec<Vec<u8>> = loaded.certs.iter().map(|c| c.as_ref().to_vec()).collect();
    let bundles: &[&str] = if from_env { &SYSTEM_BUNDLES } else { &[] };
    Ok(trusted(ders, bundles))
}

/// `ders` and the certificates of the first of `bundles` that exists, each
/// one rustls accepts as a trust anchor.
fn trusted(mut ders: Vec<Vec<u8>>, bundles: &[impl AsRef<Path>]) -> Vec<reqwest::Certificate> {
    if let Some(bundle) = bundles.iter().map(AsRef::as_ref).find(|p| p.is_file()) {
        if let Ok(pem) = std::fs::read(bundle) {
            ders.extend(pem_certificates(&pem));
        }
    }
    let mut check = rustls::RootCertStore::empty();
    ders.into_iter()
        .filter(|der| {
            check
                .add(rustls::pki_types::CertificateDer::from(der.as_slice()))
                .is_ok()
        })
        .filter_map(|der| reqwest::Certificate::from_der(&der).ok())
        .collect()
}

/// The DER of each certificate in a PEM bundle; other blocks are skipped.
fn pem_certificates(pem: &[u8]) -> Vec<Vec<u8>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .map(|cert| cert.as_ref().to_vec())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles_are_split_into_certificates() {
        let ca = parget_testbed::certs::Ca::new("a").unwrap();
        let other = parget_testbed::certs::Ca::new("b").unwrap();
        let bundle = format!(
            "junk before\n{}{}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            ca.cert_pem(),
            other.cert_pem()
        );
        let ders = pem_certificates(bundle.as_bytes());
        assert_eq!(ders.len(), 2);
        assert!(pem_certificates(b"nothing here").is_empty());
    }

    #[test]
    fn the_environments_roots_are_added_to_the_systems_bundle() {
        let from_env = parget_testbed::certs::Ca::new("env").unwrap();
        let system = parget_testbed::certs::Ca::new("system").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("ca-certificates.crt");
        std::fs::write(&bundle, system.cert_pem()).unwrap();
        let env_ders = pem_certificates(from_env.cert_pem().as_bytes());
        let missing = dir.path().join("missing.crt");
        // The first bundle that exists is the system's.
        let roots = trusted(env_ders.clone(), &[missing.clone(), bundle.clone()]);
        assert_eq!(roots.len(), 2);
        assert_eq!(trusted(env_ders.clone(), &[missing]).len(), 1);
        // What rustls cannot use as a trust anchor is left out.
        let roots = trusted(vec![b"not a certificate".to_vec()], &[bundle]);
        assert_eq!(roots.len(), 1);
        // This machine's store, as the system's roots are read.
        let ours = SYSTEM_BUNDLES.iter().map(Path::new).find(|p| p.is_file());
        if let Some(path) = ours {
            assert!(
                !trusted(Vec::new(), &[path]).is_empty(),
                "{}",
                path.display()
            );
        }
    }
}
