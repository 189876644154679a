//! The HTTP client: TLS settings made once per run ([`Tls`]), and one pooled
//! `reqwest::Client` per worker, shared by its requests.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::dial::OneDial;
use super::stale::Reused;

/// The `User-Agent` gather sends.
pub const USER_AGENT: &str = concat!("gather/", env!("CARGO_PKG_VERSION"));

/// How the client behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Limit on each whole request (connect, headers and body), if any (`--max-time`).
    pub max_time: Option<Duration>,
    /// Longest wait for the next bytes of a response (its headers, each part of its body),
    /// if any (`--read-timeout`): a stalled response fails, a slow but moving one does not.
    pub read_timeout: Option<Duration>,
    /// Connect timeout, if any.
    pub connect_timeout: Option<Duration>,
    /// PEM certificates to trust instead of the system's roots (`--cacert`), if any.
    pub ca_certs_pem: Option<Vec<u8>>,
    /// Connections per host each slot reuses. `fetch` sizes it to the concurrency; the pool
    /// keeps up to twice as many idle, for the ones hyper-util dials while a request waits.
    pub pool_per_host: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            max_time: None,
            read_timeout: Some(Duration::from_secs(30)),
            connect_timeout: Some(Duration::from_secs(10)),
            ca_certs_pem: None,
            pool_per_host: 64,
        }
    }
}

/// Why the TLS settings could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// `--cacert` held a malformed certificate.
    #[error("bad certificate in --cacert: {0}")]
    Pem(#[from] rustls::pki_types::pem::Error),
    /// `--cacert` held no certificate.
    #[error("no certificate in --cacert")]
    NoCerts,
    /// rustls refused a certificate or a setting.
    #[error(transparent)]
    Rustls(#[from] rustls::Error),
}

/// The TLS settings of a run's clients: rustls with ring, the platform's verifier (TLS
/// verified; against `ca_certs_pem` only, when given), HTTP/2 and HTTP/1.1 offered by ALPN.
///
/// Made once and shared by every worker's client. The system's roots are loaded on the run's
/// first TLS handshake (`LazyVerifier`), so plain-HTTP runs never pay for them. A machine
/// with no system roots (a minimal container) gets Mozilla's bundled roots instead, so TLS
/// stays verified and plain-HTTP fetches still work.
#[derive(Debug, Clone)]
pub struct Tls(rustls::ClientConfig);

impl Tls {
    /// The TLS settings for `config`.
    pub fn new(config: &ClientConfig) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()?;
        let builder = match &config.ca_certs_pem {
            Some(pem) => {
                builder.with_root_certificates(roots(CertificateDer::pem_slice_iter(pem))?)
            }
            None => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(LazyVerifier::new(provider))),
        };
        let mut tls = builder.with_no_client_auth();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self(tls))
    }
}

/// The platform's verifier, made on first use: loading the system's roots (callgrind: 17.7
/// million instructions; 292 files read here) was about half of a one-comic plain-HTTP run
/// (8.8 ms -> 4.7 ms without it, hyperfine). Every check is the platform verifier's, or, with
/// no usable system roots, webpki's against Mozilla's bundled roots.
#[derive(Debug)]
struct LazyVerifier {
    provider: Arc<CryptoProvider>,
    verifier: OnceLock<Result<Arc<dyn ServerCertVerifier>, String>>,
}

impl LazyVerifier {
    fn new(provider: Arc<CryptoProvider>) -> Self {
        Self {
            provider,
            verifier: OnceLock::new(),
        }
    }

    /// The verifier, made on the first call.
    fn get(&self) -> Result<&dyn ServerCertVerifier, rustls::Error> {
        let made = self.verifier.get_or_init(|| {
            match rustls_platform_verifier::Verifier::new(Arc::clone(&self.provider)) {
                Ok(verifier) => Ok(Arc::new(verifier) as Arc<dyn ServerCertVerifier>),
                Err(error) => {
                    tracing::info!(
                        "no usable system roots ({error}); using the bundled Mozilla roots"
                    );
                    let bundled = webpki_root_certs::TLS_SERVER_ROOT_CERTS
                        .iter()
                        .cloned()
                        .map(Ok);
                    let roots = roots(bundled).map_err(|error| error.to_string())?;
                    let provider = Arc::clone(&self.provider);
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map(|verifier| verifier as Arc<dyn ServerCertVerifier>)
                        .map_err(|error| error.to_string())
                }
            }
        });
        match made {
            Ok(verifier) => Ok(verifier.as_ref()),
            Err(error) => Err(rustls::Error::General(format!(
                "no root certificates to verify with: {error}"
            ))),
        }
    }
}

impl ServerCertVerifier for LazyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.get()?
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.get()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.get()?.verify_tls13_signature(message, cert, dss)
    }

    /// The provider's schemes, which both verifiers offer: asked for every ClientHello, so
    /// answered without loading the roots.
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A root store of `certs`; at least one.
fn roots<'a>(
    certs: impl Iterator<Item = Result<CertificateDer<'a>, rustls::pki_types::pem::Error>>,
) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs {
        roots.add(cert?)?;
    }
    if roots.is_empty() {
        return Err(TlsError::NoCerts);
    }
    Ok(roots)
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Its TLS settings.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// reqwest refused a setting.
    #[error(transparent)]
    Build(#[from] reqwest::Error),
}

/// Builds one client with TLS settings of its own, which follows up to 10 redirects and
/// decodes gzip/brotli/zstd/deflate bodies itself (reqwest's way, without the fetcher's
/// checks).
pub fn build(config: &ClientConfig) -> Result<reqwest::Client, ClientError> {
    let client = builder(config, &Tls::new(config)?)
        .redirect(reqwest::redirect::Policy::limited(10))
        .build()?;
    Ok(client)
}

/// Builds a fetch worker's client on `tls`: gzip/brotli/zstd/deflate asked for (and decoded
/// by the fetcher), redirects left to the fetcher too (`Fetcher` follows them, one exchange
/// each), proxies from the environment (none when `NO_PROXY` has a `*` entry), a keep-alive
/// pool whose reused connections `reused` tells from new ones, dials made only when needed
/// (`dials`, see `dial.rs`); with `time_connects` (for `--har`) it also notes each new
/// connection and times its opening.
pub(super) fn build_with(
    config: &ClientConfig,
    tls: &Tls,
    reused: &Arc<Reused>,
    dials: &OneDial,
    time_connects: bool,
) -> Result<reqwest::Client, reqwest::Error> {
    // Bodies are decoded by `body::Body`, which counts both sides and caps zstd's window.
    let accept = reqwest::header::HeaderMap::from_iter([(
        reqwest::header::ACCEPT_ENCODING,
        super::body::ACCEPTED,
    )]);
    let mut builder = builder(config, tls)
        .no_gzip()
        .no_brotli()
        .no_zstd()
        .no_deflate()
        .default_headers(accept)
        .redirect(reqwest::redirect::Policy::none());
    // One dial at a time per HTTPS origin until it is known not to speak HTTP/2, and no dial
    // a request does not need (dial.rs).
    builder = builder.connector_layer(dials.clone());
    if time_connects {
        builder = builder.connector_layer(reused.layer());
    }
    builder.build()
}

/// The settings both kinds of client share.
fn builder(config: &ClientConfig, tls: &Tls) -> reqwest::ClientBuilder {
    let mut builder = reqwest::Client::builder()
        .use_preconfigured_tls(tls.0.clone())
        .user_agent(USER_AGENT)
        // Twice the share: a connection dialled while a request waited for an idle one (see
        // hyper-util's checkout race) joins the pool instead of being dropped and dialled again.
        .pool_max_idle_per_host(config.pool_per_host.saturating_mul(2))
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true);
    if bypass_every_proxy() {
        builder = builder.no_proxy();
    }
    if let Some(limit) = config.max_time {
        builder = builder.timeout(limit);
    }
    if let Some(timeout) = config.read_timeout {
        builder = builder.read_timeout(timeout);
    }
    if let Some(timeout) = config.connect_timeout {
        builder = builder.connect_timeout(timeout);
    }
    builder
}

/// Whether `NO_PROXY` (or `no_proxy` when it is unset) has a `*` entry, which bypasses every
/// proxy, as with curl. reqwest's matcher (hyper-util's) applies `*` to host names but not to
/// IP addresses, so `NO_PROXY=*` still sent `http://127.0.0.1/` through the proxy.
pub(super) fn bypass_every_proxy() -> bool {
    let no_proxy = std::env::var("NO_PROXY").or_else(|_| std::env::var("no_proxy"));
    no_proxy.is_ok_and(|list| list.split(',').any(|entry| entry.trim() == "*"))
}
