//! The HTTP client: one pooled `reqwest::Client` per run, shared by every request.

use std::time::Duration;

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

/// Builds the client: rustls with the platform's verifier (TLS verified; against
/// `ca_certs_pem` only, when given), HTTP/2 by ALPN where offered, gzip/brotli/zstd/deflate
/// decoded, proxies from the environment, keep-alive pool.
///
/// A machine with no system roots (a minimal container) gets Mozilla's bundled roots instead,
/// so TLS stays verified and plain-HTTP fetches still work.
pub fn build(config: &ClientConfig) -> Result<reqwest::Client, reqwest::Error> {
    // reqwest is built without a bundled crypto provider; ring is ours. A second call, or a
    // provider installed by a host application, keeps the one already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    if let Some(pem) = &config.ca_certs_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem)?;
        return builder(config).tls_certs_only(certs).build();
    }
    builder(config).build().or_else(|error| {
        tracing::info!("no usable system roots ({error}); using the bundled Mozilla roots");
        let bundled = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|der| reqwest::Certificate::from_der(der))
            .collect::<Result<Vec<_>, _>>()?;
        builder(config).tls_certs_only(bundled).build()
    })
}

/// Every setting but the roots.
fn builder(config: &ClientConfig) -> reqwest::ClientBuilder {
    let mut builder = reqwest::Client::builder()
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
    builder
}
