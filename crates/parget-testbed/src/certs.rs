//! Certificates made at test time: a CA, server certificates with chosen
//! names and validity, and client certificates for mutual TLS. Everything
//! comes back as PEM, the form clients, files and [`crate::ServerConfig`]
//! take.
//!
//! ```
//! use parget_testbed::certs::{Ca, Validity};
//! use parget_testbed::ServerConfig;
//!
//! let ca = Ca::new("test CA").unwrap();
//! let server = ca.server_cert(&["127.0.0.1", "localhost"], Validity::current()).unwrap();
//! let client = ca.client_cert("alice", Validity::current()).unwrap();
//! let config = ServerConfig {
//!     tls: true,
//!     tls_identity: Some(server.identity()),
//!     client_ca: Some(ca.cert_pem().to_owned()),
//!     ..ServerConfig::default()
//! };
//! # let _ = (config, client);
//! ```

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::config::TlsIdentity;

/// A certificate could not be made; says which one and why.
#[derive(Debug)]
pub struct CertError {
    what: String,
    source: rcgen::Error,
}

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot make {}: {}", self.what, self.source)
    }
}

impl std::error::Error for CertError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn err(what: impl Into<String>) -> impl FnOnce(rcgen::Error) -> CertError {
    let what = what.into();
    move |source| CertError { what, source }
}

/// When a certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// First moment of validity.
    pub not_before: SystemTime,
    /// Last moment of validity.
    pub not_after: SystemTime,
}

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

impl Validity {
    /// From a day ago to a year ahead: valid now, with room for clock skew.
    pub fn current() -> Validity {
        let now = SystemTime::now();
        Validity {
            not_before: now - DAY,
            not_after: now + 365 * DAY,
        }
    }

    /// From 30 days ago until yesterday: expired now.
    pub fn expired() -> Validity {
        let now = SystemTime::now();
        Validity {
            not_before: now - 30 * DAY,
            not_after: now - DAY,
        }
    }

    /// From tomorrow to a year ahead: not valid yet.
    pub fn not_yet_valid() -> Validity {
        let now = SystemTime::now();
        Validity {
            not_before: now + DAY,
            not_after: now + 365 * DAY,
        }
    }

    fn apply(self, params: &mut CertificateParams) {
        params.not_before = to_offset(self.not_before);
        params.not_after = to_offset(self.not_after);
    }
}

/// Whole seconds since the epoch; certificates carry no finer time.
fn to_offset(t: SystemTime) -> time::OffsetDateTime {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    };
    // Times beyond the years ±9999 that `time` represents are clamped
    // rather than failing: such a certificate is "forever" either way.
    const LATEST: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    const EARLIEST: i64 = -377_705_116_800; // -9999-01-01T00:00:00Z
    time::OffsetDateTime::from_unix_timestamp(secs.clamp(EARLIEST, LATEST))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// A certificate and its key, PEM.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate alone.
    pub cert_pem: String,
    /// Its private key (PKCS#8).
    pub key_pem: String,
    /// The certificate followed by its issuer's: what a server presents.
    pub chain_pem: String,
}

impl Issued {
    /// The chain and key as a server identity for
    /// [`crate::ServerConfig::tls_identity`].
    pub fn identity(&self) -> TlsIdentity {
        TlsIdentity {
            cert_chain_pem: self.chain_pem.clone(),
            key_pem: self.key_pem.clone(),
        }
    }

    /// Certificate then key in one PEM, the form `reqwest::Identity::from_pem`
    /// and `curl --cert` take.
    pub fn cert_and_key_pem(&self) -> String {
        format!("{}{}", self.cert_pem, self.key_pem)
    }
}

impl Issued {
    /// A self-signed certificate for `names` that is also a CA's
    /// (basicConstraints CA:TRUE), presented as the server's own: what
    /// `openssl req -x509` makes by default. Its `chain_pem` is itself.
    pub fn self_signed_ca(names: &[&str]) -> Result<Issued, CertError> {
        let what = format!("self-signed CA certificate for {names:?}");
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let common_name = names.first().cloned().unwrap_or_default();
        let mut params = CertificateParams::new(names).map_err(err(&what))?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        Validity::current().apply(&mut params);
        let key = KeyPair::generate().map_err(err(&what))?;
        let cert = params.self_signed(&key).map_err(err(&what))?;
        let cert_pem = cert.pem();
        Ok(Issued {
            chain_pem: cert_pem.clone(),
            cert_pem,
            key_pem: key.serialize_pem(),
        })
    }
}

/// A certificate authority that signs server and client certificates.
pub struct Ca {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

impl Ca {
    /// A new self-signed CA named `common_name`, valid from a day ago to a
    /// year ahead.
    pub fn new(common_name: &str) -> Result<Ca, CertError> {
        let what = || format!("CA {common_name:?}");
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err(what()))?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        Validity::current().apply(&mut params);
        let key = KeyPair::generate().map_err(err(what()))?;
        let cert = params.self_signed(&key).map_err(err(what()))?;
        Ok(Ca {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate, to trust.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A server certificate for `names` (DNS names or IP addresses, as
    /// subject alternative names), for server authentication only.
    pub fn server_cert(&self, names: &[&str], validity: Validity) -> Result<Issued, CertError> {
        let what = format!("server certificate for {names:?}");
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let common_name = names.first().cloned().unwrap_or_default();
        let mut params = CertificateParams::new(names).map_err(err(&what))?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(params, validity, &what)
    }

    /// A client certificate for `common_name`, for client authentication
    /// only.
    pub fn client_cert(&self, common_name: &str, validity: Validity) -> Result<Issued, CertError> {
        let what = format!("client certificate for {common_name:?}");
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err(&what))?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(params, validity, &what)
    }

    fn issue(
        &self,
        mut params: CertificateParams,
        validity: Validity,
        what: &str,
    ) -> Result<Issued, CertError> {
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        validity.apply(&mut params);
        let key = KeyPair::generate().map_err(err(what))?;
        let cert = params.signed_by(&key, &self.issuer).map_err(err(what))?;
        let cert_pem = cert.pem();
        Ok(Issued {
            chain_pem: format!("{cert_pem}{}", self.cert_pem),
            cert_pem,
            key_pem: key.serialize_pem(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_convert_both_sides_of_the_epoch() {
        let t = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(to_offset(t).unix_timestamp(), 1_000_000_000);
        let t = UNIX_EPOCH - Duration::from_secs(86_400);
        assert_eq!(to_offset(t).unix_timestamp(), -86_400);
        let far = UNIX_EPOCH + Duration::from_secs(1_000_000_000_000);
        assert_eq!(to_offset(far).year(), 9999);
    }

    #[test]
    fn issues_pems() {
        let ca = Ca::new("t").unwrap();
        assert!(ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        let leaf = ca
            .server_cert(&["127.0.0.1", "example.test"], Validity::expired())
            .unwrap();
        assert!(leaf.chain_pem.starts_with(&leaf.cert_pem));
        assert!(leaf.chain_pem.ends_with(ca.cert_pem()));
        assert!(leaf.key_pem.contains("PRIVATE KEY"));
        let both = leaf.cert_and_key_pem();
        assert!(both.contains("CERTIFICATE") && both.contains("PRIVATE KEY"));
        let client = ca.client_cert("alice", Validity::current()).unwrap();
        assert_ne!(client.cert_pem, leaf.cert_pem);
    }
}
