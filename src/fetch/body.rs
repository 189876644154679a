//! A response body as it is saved: decoded by its `Content-Encoding` here, not by reqwest, so
//! that the bytes received (encoded) and the bytes saved (decoded) are both counted, and a
//! decompression bomb can be told from a large download.
//!
//! gzip, deflate (zlib), brotli and zstd are decoded; zstd with its window capped at 8 MiB, as
//! RFC 9659 sets for HTTP content coding, so a server cannot make one response take the 128
//! MiB (or more) a zstd frame may ask for. An unknown coding is saved as it came.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_compression::tokio::bufread::{BrotliDecoder, GzipDecoder, ZlibDecoder, ZstdDecoder};
use bytes::{Bytes, BytesMut};
use futures::TryStreamExt;
use reqwest::header::{CONTENT_ENCODING, HeaderValue};
use tokio::io::{AsyncBufRead, AsyncRead, AsyncReadExt};
use tokio_util::io::StreamReader;

use super::item::ItemError;

/// The codings gather asks for (`Accept-Encoding`), and decodes.
pub(super) const ACCEPTED: HeaderValue = HeaderValue::from_static("gzip, br, zstd, deflate");

/// The largest zstd window accepted: 2^23 bytes, 8 MiB (RFC 9659, section 3).
const ZSTD_WINDOW_LOG_MAX: u32 = 23;

/// Bytes read from a decoder at a time.
const READ_SIZE: usize = 64 * 1024;

/// A body being read: as it came, or through its decoder.
pub(super) struct Body {
    inner: Inner,
}

enum Inner {
    Plain {
        response: reqwest::Response,
        /// Bytes received so far.
        received: u64,
    },
    Decoded {
        coding: &'static str,
        reader: Pin<Box<dyn AsyncRead + Send>>,
        buffer: BytesMut,
        /// Bytes received so far (encoded), counted as the decoder reads them.
        received: Arc<AtomicU64>,
    },
}

impl Body {
    /// The body of `response`, decoded if its `Content-Encoding` is one gather asked for.
    pub(super) fn new(response: reqwest::Response) -> Self {
        let coding = response
            .headers()
            .get(CONTENT_ENCODING)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.trim().to_ascii_lowercase());
        let coding = match coding.as_deref() {
            Some("gzip" | "x-gzip") => "gzip",
            Some("deflate") => "deflate",
            Some("br") => "br",
            Some("zstd") => "zstd",
            _ => {
                return Self {
                    inner: Inner::Plain {
                        response,
                        received: 0,
                    },
                };
            }
        };
        let received = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&received);
        let stream = response
            .bytes_stream()
            .inspect_ok(move |chunk| {
                counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            })
            .map_err(io::Error::other);
        let input = StreamReader::new(stream);
        Self {
            inner: Inner::Decoded {
                coding,
                reader: decoder(coding, input),
                buffer: BytesMut::new(),
                received,
            },
        }
    }

    /// Whether the body is being decoded.
    pub(super) fn is_encoded(&self) -> bool {
        matches!(self.inner, Inner::Decoded { .. })
    }

    /// The next part of the (decoded) body; `None` at its end.
    pub(super) async fn chunk(&mut self) -> Result<Option<Bytes>, ItemError> {
        match &mut self.inner {
            Inner::Plain { response, received } => {
                let chunk = response.chunk().await?;
                if let Some(chunk) = &chunk {
                    *received += chunk.len() as u64;
                }
                Ok(chunk)
            }
            Inner::Decoded {
                coding,
                reader,
                buffer,
                ..
            } => {
                buffer.reserve(READ_SIZE);
                match reader.read_buf(buffer).await {
                    Ok(0) => Ok(None),
                    Ok(_) => Ok(Some(buffer.split().freeze())),
                    Err(error) => Err(decode_error(coding, error)),
                }
            }
        }
    }

    /// Bytes received from the server so far: the encoded size.
    pub(super) fn received(&self) -> u64 {
        match &self.inner {
            Inner::Plain { received, .. } => *received,
            Inner::Decoded { received, .. } => received.load(Ordering::Relaxed),
        }
    }
}

/// The decoder for `coding`, reading from `input`. gzip and zstd bodies may hold several
/// members (frames), as their formats allow.
fn decoder(
    coding: &str,
    input: impl AsyncBufRead + Send + 'static,
) -> Pin<Box<dyn AsyncRead + Send>> {
    match coding {
        "gzip" => {
            let mut decoder = GzipDecoder::new(input);
            decoder.multiple_members(true);
            Box::pin(decoder)
        }
        "deflate" => Box::pin(ZlibDecoder::new(input)),
        "br" => Box::pin(BrotliDecoder::new(input)),
        _ => {
            let window = async_compression::zstd::DParameter::window_log_max(ZSTD_WINDOW_LOG_MAX);
            let mut decoder = ZstdDecoder::with_params(input, &[window]);
            decoder.multiple_members(true);
            Box::pin(decoder)
        }
    }
}

/// A read error of a decoded body: the connection's own error when that is what failed (a
/// reset, a timeout: transient), else the decoder's (bad data: not).
fn decode_error(coding: &str, error: io::Error) -> ItemError {
    let error = match error.downcast::<reqwest::Error>() {
        Ok(request) => return ItemError::from(request),
        Err(error) => error,
    };
    let reason = error.to_string();
    let hint = if coding == "zstd" && reason.contains("memory") {
        " (zstd windows over 8 MiB are refused, as RFC 9659 says)"
    } else {
        ""
    };
    ItemError::Decode {
        coding: coding.to_owned(),
        reason: format!("{reason}{hint}"),
    }
}
