//! How a [`PgStore`](super::PgStore) secures its connections.
//!
//! Without the `tls` feature connections are plain ([`NoTls`](tokio_postgres::NoTls)); a URL
//! that requires TLS (`sslmode=require`) is refused at connect with a
//! [`StoreError::Invalid`] that names the feature, rather than connecting in the clear.
//!
//! With it, TLS is used when it is required, by the URL (`sslmode=require`) or by
//! [`PgOptions::require_tls`](super::PgOptions::require_tls), and then always: the connect
//! fails when the server does not offer it. The server's certificate and host name are
//! verified, against Mozilla's roots (`webpki-roots`) plus any
//! [given](super::PgOptions::tls_root_certificates), or as a [given
//! `ClientConfig`](super::PgOptions::tls_config) says; so libpq's `verify-ca` and
//! `verify-full` are read as `require`, which verifies as much as `verify-full`. Other modes
//! (`prefer`, the URL's default, and `disable`) connect in the clear, as without the
//! feature: TLS that falls back to plain text when it fails, or is not verified, would only
//! look safe.

use std::borrow::Cow;

#[cfg(feature = "tls")]
use rustls::pki_types::CertificateDer;

use super::PgOptions;
use crate::store::StoreError;

/// What the store connects with.
#[cfg(not(feature = "tls"))]
pub(crate) type Connector = tokio_postgres::NoTls;

/// What the store connects with.
#[cfg(feature = "tls")]
pub(crate) type Connector = tokio_postgres_rustls::MakeRustlsConnect;

/// The connector again, for another connection.
#[cfg_attr(
    not(feature = "tls"),
    expect(clippy::clone_on_copy, reason = "only `NoTls` is `Copy`")
)]
pub(crate) fn another(connector: &Connector) -> Connector {
    connector.clone()
}

/// The TLS settings of [`PgOptions`].
#[cfg(feature = "tls")]
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsOptions {
    /// TLS is required, whatever the URL says.
    pub(crate) require: bool,
    /// Trusted beside Mozilla's roots.
    pub(crate) roots: Vec<CertificateDer<'static>>,
    /// Replaces the store's own configuration (and `roots`).
    pub(crate) config: Option<rustls::ClientConfig>,
}

/// `url` with libpq's `sslmode=verify-ca` and `verify-full`, which tokio-postgres does not
/// know, read as `require` (see the module doc), in either form of connection string.
pub(crate) fn read_sslmode(url: &str) -> Cow<'_, str> {
    const VERIFYING: [&str; 2] = ["sslmode=verify-full", "sslmode=verify-ca"];
    if !VERIFYING.iter().any(|mode| url.contains(mode)) {
        return Cow::Borrowed(url);
    }
    // Each setting of a URL's query, or of a key=value string, read as `require`.
    let as_require = |settings: &str, separator: &str| {
        settings
            .split(separator)
            .map(|part| {
                if VERIFYING.contains(&part) {
                    "sslmode=require"
                } else {
                    part
                }
            })
            .collect::<Vec<_>>()
            .join(separator)
    };
    match url.split_once('?') {
        Some((base, query)) => Cow::Owned(format!("{base}?{}", as_require(query, "&"))),
        None => Cow::Owned(as_require(url, " ")),
    }
}

/// The connector for `config`, which the options may change (to require TLS).
#[cfg(not(feature = "tls"))]
pub(crate) fn connector(
    config: &mut tokio_postgres::Config,
    _options: &PgOptions,
) -> Result<Connector, StoreError> {
    if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
        return Err(StoreError::Invalid(
            "the PostgreSQL URL requires TLS (sslmode=require), and this build has none: \
             enable the `tls` feature of eventsmith"
                .to_owned(),
        ));
    }
    Ok(tokio_postgres::NoTls)
}

/// The connector for `config`, which the options may change (to require TLS).
#[cfg(feature = "tls")]
pub(crate) fn connector(
    config: &mut tokio_postgres::Config,
    options: &PgOptions,
) -> Result<Connector, StoreError> {
    use tokio_postgres::config::SslMode;
    let tls = &options.tls;
    if tls.require {
        config.ssl_mode(SslMode::Require);
    }
    if config.get_ssl_mode() != SslMode::Require {
        // `prefer`: plain, see the module doc.
        config.ssl_mode(SslMode::Disable);
    }
    let client = match &tls.config {
        Some(client) => client.clone(),
        None => {
            let mut roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            for (i, root) in tls.roots.iter().enumerate() {
                roots.add(root.clone()).map_err(|e| {
                    StoreError::Invalid(format!(
                        "TLS root certificate {} of {} cannot be used: {e}",
                        i + 1,
                        tls.roots.len()
                    ))
                })?;
            }
            let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| StoreError::Backend(e.into()))?
                .with_root_certificates(roots)
                .with_no_client_auth()
        }
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(client))
}

/// Whether the first connection failed in TLS: the server refused it, its certificate did
/// not verify, or the handshake broke off. tokio-postgres tells it by its message only.
pub(crate) fn is_tls_failure(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_none() && e.to_string().starts_with("error performing TLS handshake")
}

/// The store's first connection failed in TLS: a matter of configuration, not retriable.
pub(crate) fn failed(e: tokio_postgres::Error) -> StoreError {
    StoreError::Backend(
        format!(
            "TLS is required, and TLS with the PostgreSQL server failed: {}",
            super::failure::message(e)
        )
        .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::read_sslmode;

    #[test]
    fn verifying_sslmodes_read_as_require() {
        assert_eq!(
            read_sslmode("postgres://u@h/db?sslmode=verify-full&application_name=x"),
            "postgres://u@h/db?sslmode=require&application_name=x"
        );
        assert_eq!(
            read_sslmode("host=h sslmode=verify-ca user=u"),
            "host=h sslmode=require user=u"
        );
        let plain = "postgres://u@h/db?sslmode=disable";
        assert!(matches!(read_sslmode(plain), std::borrow::Cow::Borrowed(p) if p == plain));
        // A value that only contains the text is left alone.
        assert_eq!(
            read_sslmode("postgres://u@h/db?application_name=sslmode=verify-full-ish"),
            "postgres://u@h/db?application_name=sslmode=verify-full-ish"
        );
    }
}
