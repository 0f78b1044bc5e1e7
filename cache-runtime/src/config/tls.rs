//! `CACHE_TLS_CA_FILE`, `CACHE_TLS_CERT_FILE`, `CACHE_TLS_KEY_FILE`: the CA that signed the
//! server's certificate (instead of the system's roots), and a client certificate for servers
//! that ask for one (`tls-auth-clients yes`). Read and checked at start-up, so that a path that
//! is wrong, or a file that holds no certificate or key, is an error naming its variable; a CA
//! that simply did not sign the server's certificate fails the handshake at run time, like any
//! connection failure (calls run uncached).

use std::path::PathBuf;

#[cfg(feature = "tls")]
use super::error::ConfigError;
use super::error::Setting;

/// The TLS files of the configuration, each unset by default.
#[derive(Debug, Clone, Default)]
pub(super) struct TlsFiles {
    pub(super) ca: Option<Setting<PathBuf>>,
    pub(super) cert: Option<Setting<PathBuf>>,
    pub(super) key: Option<Setting<PathBuf>>,
}

impl TlsFiles {
    /// The first file that is set, for messages.
    pub(super) fn first_set(&self) -> Option<&'static str> {
        [&self.ca, &self.cert, &self.key]
            .into_iter()
            .flatten()
            .map(|setting| setting.origin)
            .next()
    }

    /// The files, read and checked, as the `redis` crate takes them.
    #[cfg(feature = "tls")]
    pub(super) fn certificates(&self) -> Result<redis::TlsCertificates, ConfigError> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};

        let root_cert = match &self.ca {
            Some(ca) => {
                let pem = read(ca)?;
                let mut roots = rustls::RootCertStore::empty();
                for cert in certificates(ca, &pem)? {
                    roots.add(cert).map_err(|error| {
                        ConfigError::new(
                            ca.origin,
                            format!(
                                "`{}` holds a certificate that cannot be a trust anchor: {error}",
                                ca.value.display()
                            ),
                        )
                    })?;
                }
                Some(pem)
            }
            None => None,
        };
        let client_tls = match (&self.cert, &self.key) {
            (None, None) => None,
            (Some(cert), None) => return Err(missing(cert, "CACHE_TLS_KEY_FILE")),
            (None, Some(key)) => return Err(missing(key, "CACHE_TLS_CERT_FILE")),
            (Some(cert), Some(key)) => {
                let client_cert = read(cert)?;
                let chain = certificates(cert, &client_cert)?;
                let client_key = read(key)?;
                let parsed = PrivateKeyDer::from_pem_slice(&client_key).map_err(|error| {
                    ConfigError::new(
                        key.origin,
                        format!(
                            "`{}` holds no PEM private key (-----BEGIN PRIVATE KEY-----): {error}",
                            key.value.display()
                        ),
                    )
                })?;
                // What the connection will do with them, now: a certificate rustls cannot use
                // (an X.509 v1 certificate) or a key that is not the certificate's would
                // otherwise fail every handshake at run time, silently.
                let provider = rustls::crypto::ring::default_provider();
                rustls::sign::CertifiedKey::from_der(chain, parsed, &provider).map_err(
                    |error| {
                        ConfigError::new(
                            cert.origin,
                            format!(
                                "`{}` with the key `{}` cannot be used as a client certificate: {error}",
                                cert.value.display(),
                                key.value.display()
                            ),
                        )
                    },
                )?;
                Some(redis::ClientTlsConfig {
                    client_cert,
                    client_key,
                })
            }
        };

        /// Every certificate in `pem`; at least one.
        fn certificates(
            file: &Setting<PathBuf>,
            pem: &[u8],
        ) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
            let not_a_certificate = |detail: String| {
                ConfigError::new(
                    file.origin,
                    format!(
                        "`{}` holds no PEM certificate (-----BEGIN CERTIFICATE-----){detail}",
                        file.value.display()
                    ),
                )
            };
            let certs = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| not_a_certificate(format!(": {error}")))?;
            if certs.is_empty() {
                return Err(not_a_certificate(String::new()));
            }
            Ok(certs)
        }

        Ok(redis::TlsCertificates {
            client_tls,
            root_cert,
        })
    }
}

#[cfg(feature = "tls")]
fn read(file: &Setting<PathBuf>) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(&file.value).map_err(|error| {
        ConfigError::new(
            file.origin,
            format!("cannot read `{}`: {error}", file.value.display()),
        )
    })
}

#[cfg(feature = "tls")]
fn missing(set: &Setting<PathBuf>, other: &str) -> ConfigError {
    ConfigError::new(
        set.origin,
        format!("a client certificate needs both CACHE_TLS_CERT_FILE and CACHE_TLS_KEY_FILE: set {other} too"),
    )
}
