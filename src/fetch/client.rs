//! The HTTP client: TLS settings made once per run ([`Tls`]), and one pooled
//! `reqwest::Client` per worker, shared by its requests.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The `User-Agent` gather sends.
pub const USER_AGENT: &str = concat!("gather/", env!("CARGO_PKG_VERSION"));

/// How the client behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Whole-request timeout (connect, headers and body), if any.
    pub timeout: Option<Duration>,
    /// Connect timeout, if any.
    pub connect_timeout: Option<Duration>,
    /// Redirects followed before giving up.
    pub max_redirects: usize,
    /// PEM certificates to trust instead of the system's roots (`--cacert`), if any.
    pub ca_certs_pem: Option<Vec<u8>>,
    /// Idle connections kept per host. `fetch` sizes it to the concurrency, so each slot
    /// reuses one.
    pub pool_per_host: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            timeout: Some(Duration::from_secs(30)),
            connect_timeout: Some(Duration::from_secs(10)),
            max_redirects: 10,
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
/// Made once and shared by every worker's client: loading the system's roots is the costliest
/// part of a client (callgrind: 17.7 million instructions, about half a megabyte). A machine
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
            None => match rustls_platform_verifier::Verifier::new(provider) {
                Ok(verifier) => builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier)),
                Err(error) => {
                    tracing::info!(
                        "no usable system roots ({error}); using the bundled Mozilla roots"
                    );
                    let bundled = webpki_root_certs::TLS_SERVER_ROOT_CERTS
                        .iter()
                        .cloned()
                        .map(Ok);
                    builder.with_root_certificates(roots(bundled)?)
                }
            },
        };
        let mut tls = builder.with_no_client_auth();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self(tls))
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

/// Builds one client with TLS settings of its own; see `build_with` for clients that share
/// them.
pub fn build(config: &ClientConfig) -> Result<reqwest::Client, ClientError> {
    Ok(build_with(config, &Tls::new(config)?)?)
}

/// Builds a client on `tls`: redirects up to the limit, gzip/brotli/zstd/deflate decoded,
/// proxies from the environment, a keep-alive pool.
pub fn build_with(config: &ClientConfig, tls: &Tls) -> Result<reqwest::Client, reqwest::Error> {
    let mut builder = reqwest::Client::builder()
        .use_preconfigured_tls(tls.0.clone())
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::limited(config.max_redirects))
        .pool_max_idle_per_host(config.pool_per_host)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true);
    if let Some(timeout) = config.timeout {
        builder = builder.timeout(timeout);
    }
    if let Some(timeout) = config.connect_timeout {
        builder = builder.connect_timeout(timeout);
    }
    builder.build()
}
