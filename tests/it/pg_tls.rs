//! PostgreSQL over TLS. Built without the `tls` feature, a URL that requires TLS is refused by
//! name. Built with it (`cargo test --features tls --test it pg_tls::`): a server that offers
//! no TLS, or whose handshake breaks off, is a typed error when TLS is required (fake servers
//! on loopback), the test server's certificate is refused until trusted and then carries a
//! verified, encrypted connection, and a URL that does not require TLS still connects in the
//! clear.

use crate::services;

/// `url` with one more query parameter.
fn with_param(url: &str, param: &str) -> String {
    let joint = if url.contains('?') { '&' } else { '?' };
    format!("{url}{joint}{param}")
}

#[cfg(not(feature = "tls"))]
mod without_tls {
    use eventsmith::{PgStore, StoreError};

    #[tokio::test]
    async fn a_url_that_requires_tls_is_refused_naming_the_feature() {
        for mode in ["require", "verify-ca", "verify-full"] {
            let url = super::with_param(&super::services::pg_url(), &format!("sslmode={mode}"));
            match PgStore::connect(&url).await {
                Err(StoreError::Invalid(message)) => {
                    assert!(message.contains("`tls` feature"), "{mode}: {message}");
                }
                other => panic!("sslmode={mode}: expected Invalid, got {other:?}"),
            }
        }
    }
}

#[cfg(feature = "tls")]
mod with_tls {
    use std::sync::Arc;
    use std::time::Duration;

    use eventsmith::event::NewEvent;
    use eventsmith::rustls::client::WebPkiServerVerifier;
    use eventsmith::rustls::client::danger::{
        HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
    };
    use eventsmith::rustls::pki_types::pem::PemObject;
    use eventsmith::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use eventsmith::rustls::{self, CertificateError, DigitallySignedStruct, SignatureScheme};
    use eventsmith::store::{Append, EventLog, ExpectedVersion, PgOptions};
    use eventsmith::{PgStore, StoreError};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::{services, with_param};

    /// Long enough for any connect here; a connect that takes longer hangs.
    const PATIENCE: Duration = Duration::from_secs(20);

    fn options(test: &str) -> PgOptions {
        PgOptions::default()
            .schema(services::unique_schema(test))
            .pool_size(2)
    }

    async fn connect(url: &str, options: PgOptions) -> Result<PgStore, StoreError> {
        tokio::time::timeout(PATIENCE, PgStore::connect_with(url, options))
            .await
            .expect("the connect answers, and does not hang")
    }

    /// A fake server on loopback that answers every connection's first message (the
    /// client's request for TLS) with `answer`, then closes it. Its URL.
    async fn fake_server(answer: &'static [u8]) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut request = [0u8; 8];
                    if socket.read_exact(&mut request).await.is_ok() {
                        let _ = socket.write_all(answer).await;
                    }
                });
            }
        });
        format!("postgres://postgres@127.0.0.1:{port}/test")
    }

    fn assert_tls_failure(result: Result<PgStore, StoreError>, cause: &str) {
        match result {
            Err(e @ StoreError::Backend(_)) => {
                let message = e.to_string();
                assert!(message.contains("TLS is required"), "{message}");
                assert!(message.contains(cause), "{message}");
                assert!(!e.is_retriable());
            }
            other => panic!("expected a TLS failure ({cause}), got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_server_that_offers_no_tls_is_a_typed_error_when_tls_is_required() {
        let url = fake_server(b"N").await;
        let by_url = connect(&with_param(&url, "sslmode=require"), options("no_tls")).await;
        assert_tls_failure(by_url, "server does not support TLS");
        let by_option = connect(&url, options("no_tls").require_tls()).await;
        assert_tls_failure(by_option, "server does not support TLS");
        let verify_full = with_param(&url, "sslmode=verify-full");
        let by_verify_full = connect(&verify_full, options("no_tls")).await;
        assert_tls_failure(by_verify_full, "server does not support TLS");
    }

    #[tokio::test]
    async fn a_handshake_that_breaks_off_is_a_typed_error() {
        // The server agrees to TLS, then sends no handshake and closes the connection.
        let url = fake_server(b"S").await;
        let result = connect(&url, options("broken_tls").require_tls()).await;
        assert_tls_failure(result, "error performing TLS handshake");
    }

    #[tokio::test]
    async fn a_root_certificate_that_is_not_one_is_invalid() {
        let url = fake_server(b"N").await;
        let garbage = CertificateDer::from(b"not a certificate".to_vec());
        let options = options("bad_root")
            .require_tls()
            .tls_root_certificates([garbage]);
        match connect(&url, options).await {
            Err(StoreError::Invalid(message)) => {
                assert!(message.contains("TLS root certificate 1 of 1"), "{message}");
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    /// The test server's certificate, when it serves TLS and the file can be read.
    async fn server_certificate() -> Option<CertificateDer<'static>> {
        let client = services::raw_client().await;
        let ssl: String = client.query_one("SHOW ssl", &[]).await.unwrap().get(0);
        if ssl != "on" {
            eprintln!("SKIPPED: the test server does not serve TLS (ssl = {ssl})");
            return None;
        }
        let file: String = client
            .query_one("SHOW ssl_cert_file", &[])
            .await
            .unwrap()
            .get(0);
        let data: String = client
            .query_one("SHOW data_directory", &[])
            .await
            .unwrap()
            .get(0);
        let path = std::path::Path::new(&data).join(file);
        match CertificateDer::from_pem_file(&path) {
            Ok(cert) => Some(cert),
            Err(e) => {
                eprintln!("SKIPPED: cannot read the server's certificate {path:?}: {e}");
                None
            }
        }
    }

    /// How many of the server's connections named `application` use TLS, and how many
    /// there are.
    async fn encrypted_connections(application: &str) -> (i64, i64) {
        let client = services::raw_client().await;
        let row = client
            .query_one(
                "SELECT count(*) FILTER (WHERE s.ssl), count(*)
                 FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
                 WHERE a.application_name = $1",
                &[&application],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    }

    /// Appends and reads back one event.
    async fn round_trip(store: &PgStore) {
        let event = NewEvent::new("Pinged", 1, b"{}".to_vec(), Arc::default());
        store
            .append(Append::new(
                "ping-1",
                ExpectedVersion::NoStream,
                vec![event],
            ))
            .await
            .unwrap();
        let read = store.read_stream("ping-1", 1, 10).await.unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(&*read[0].event_type, "Pinged");
    }

    fn application(test: &str) -> String {
        format!("es_{test}_{}", eventsmith::Uuid::now_v7().simple())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_url_that_does_not_require_tls_still_connects_in_the_clear() {
        let Some(probe) = services::pg_store("tls_plain_probe").await else {
            return;
        };
        probe.drop_schema().await.unwrap();
        for mode in [None, Some("sslmode=prefer"), Some("sslmode=disable")] {
            let name = application("plain");
            let mut url = with_param(&services::pg_url(), &format!("application_name={name}"));
            if let Some(mode) = mode {
                url = with_param(&url, mode);
            }
            let store = connect(&url, options("tls_plain")).await.unwrap();
            round_trip(&store).await;
            let (encrypted, all) = encrypted_connections(&name).await;
            assert!(all > 0, "{mode:?}: the store's connections are there");
            assert_eq!(encrypted, 0, "{mode:?}: and in the clear");
            store.drop_schema().await.unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_server_certificate_is_refused_until_trusted() {
        let Some(probe) = services::pg_store("tls_probe").await else {
            return;
        };
        probe.drop_schema().await.unwrap();
        let Some(cert) = server_certificate().await else {
            // No TLS on the test server: requiring it must fail like on the fake server.
            let url = with_param(&services::pg_url(), "sslmode=require");
            assert_tls_failure(
                connect(&url, options("tls_refused")).await,
                "does not support TLS",
            );
            return;
        };
        // Mozilla's roots do not vouch for the test server's certificate.
        let url = with_param(&services::pg_url(), "sslmode=require");
        assert_tls_failure(
            connect(&url, options("tls_untrusted")).await,
            "invalid peer certificate",
        );
        // Trusted as a root, it carries the store's connections, encrypted. The server is
        // reached at 127.0.0.1 under the name `localhost`, the name Debian's certificate has.
        let name = application("trusted");
        let url = format!(
            "postgres://postgres@localhost:5432/test?hostaddr=127.0.0.1&sslmode=require&application_name={name}"
        );
        let trusted = options("tls_trusted").tls_root_certificates([cert.clone()]);
        match connect(&url, trusted).await {
            Ok(store) => {
                round_trip(&store).await;
                let (encrypted, all) = encrypted_connections(&name).await;
                assert!(all > 0);
                assert_eq!(encrypted, all, "every connection of the store uses TLS");
                store.drop_schema().await.unwrap();
            }
            Err(e) if e.to_string().contains("NotValidForName") => {
                eprintln!("SKIPPED trusting the root: the certificate is not for localhost: {e}");
            }
            Err(e) => panic!("with the server's certificate trusted: {e}"),
        }
        // A `ClientConfig` of the user's: here one that checks the chain to the server's
        // certificate but not the name, reaching the server by its address.
        let name = application("config");
        let url = with_param(
            &services::pg_url(),
            &format!("sslmode=require&application_name={name}"),
        );
        let store = connect(&url, options("tls_config").tls_config(pinned(cert)))
            .await
            .unwrap();
        round_trip(&store).await;
        let (encrypted, all) = encrypted_connections(&name).await;
        assert!(all > 0);
        assert_eq!(encrypted, all, "every connection of the store uses TLS");
        store.drop_schema().await.unwrap();
    }

    /// A client configuration that trusts `root` alone and accepts it for any name.
    fn pinned(root: CertificateDer<'static>) -> rustls::ClientConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(root).unwrap();
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                .build()
                .unwrap();
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyName(verifier)))
            .with_no_client_auth()
    }

    /// Verifies as the WebPKI verifier does, except the name.
    #[derive(Debug)]
    struct AnyName(Arc<WebPkiServerVerifier>);

    impl ServerCertVerifier for AnyName {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            intermediates: &[CertificateDer<'_>],
            server_name: &ServerName<'_>,
            ocsp_response: &[u8],
            now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            let verified = self.0.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            );
            match verified {
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                )) => Ok(ServerCertVerified::assertion()),
                other => other,
            }
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.0.verify_tls12_signature(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.0.verify_tls13_signature(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.supported_verify_schemes()
        }
    }
}
