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
            pool_per_host: 64,
        }
    }
}

/// Builds the client: rustls with the platform's verifier (TLS verified), HTTP/2 by ALPN where
/// offered, gzip/brotli/zstd/deflate decoded, proxies from the environment, keep-alive pool.
pub fn build(config: &ClientConfig) -> Result<reqwest::Client, reqwest::Error> {
    // reqwest is built without a bundled crypto provider; ring is ours. A second call, or a
    // provider installed by a host application, keeps the one already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
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
    builder.build()
}
