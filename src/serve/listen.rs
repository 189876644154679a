//! Binding the listening socket with an accept queue deep enough for a burst of connections.

use std::io;

use tokio::net::{TcpListener, TcpSocket, lookup_host};

/// Connections the kernel queues before `accept` (capped by `net.core.somaxconn`). tokio's
/// `TcpListener::bind` asks for 128: a client opening 200 connections at once (W1) overflowed
/// it in a third of the runs, and each dropped handshake cost about 100 ms.
const BACKLOG: u32 = 4096;

/// Binds `addr` (`host:port`; port 0 for a free one) to the first address it resolves to.
pub async fn bind(addr: &str) -> io::Result<TcpListener> {
    let mut last_error = None;
    for addr in lookup_host(addr).await? {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        #[cfg(unix)]
        socket.set_reuseaddr(true)?;
        match socket.bind(addr) {
            Ok(()) => return socket.listen(BACKLOG),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            "the address resolves to nothing",
        )
    }))
}

#[cfg(test)]
mod tests {
    use std::net::TcpStream;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_burst_of_connections_waits_in_the_queue_not_in_retries() {
        // The kernel caps the queue at net.core.somaxconn.
        let cap = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok())
            .unwrap_or(BACKLOG);
        let burst = cap.min(BACKLOG).min(1000);
        let listener = bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Nothing accepts: each handshake completes only if the queue has room for it.
        let connected: Vec<TcpStream> = (0..burst)
            .map(|i| {
                TcpStream::connect_timeout(&addr, Duration::from_millis(500))
                    .unwrap_or_else(|e| panic!("connection {i} of {burst} was not queued: {e}"))
            })
            .collect();
        assert_eq!(connected.len(), burst as usize);
    }
}
