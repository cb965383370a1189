//! Stream connections (TCP and TLS over TCP) with the bookkeeping at-least-once delivery needs:
//! bytes put on the wire, bytes the peer has not acknowledged, and whether the peer has closed.

use std::io;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::egress::EgressPolicy;
use super::outq::unacknowledged_bytes;
use super::tls::TlsClient;
use super::HostPort;

/// A TCP stream that counts the bytes written to the socket, so TLS record overhead is counted
/// the same way the kernel counts it.
#[derive(Debug)]
pub struct CountingTcp {
    inner: TcpStream,
    written: u64,
}

impl AsyncRead for CountingTcp {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountingTcp {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = result {
            self.written += n as u64;
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// An open stream to a receiver.
#[derive(Debug)]
pub enum StreamConnection {
    Tcp(CountingTcp),
    Tls(Box<TlsStream<CountingTcp>>),
}

/// What a receiver has done with its end of the connection, as far as can be seen without
/// waiting.
#[derive(Debug)]
pub enum PeerState {
    Open,
    /// The peer closed cleanly (FIN, or TLS close_notify): it read everything it was sent.
    Closed,
    /// The connection failed (e.g. reset): recently acknowledged data may not have been read.
    Failed(io::Error),
}

/// Why a connection attempt failed, with the stage it failed at.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot resolve {target}: {source}")]
    Resolve { target: String, source: io::Error },
    #[error("connect to {target} timed out after {timeout:?}")]
    ConnectTimeout { target: String, timeout: Duration },
    #[error("connect to {target} failed: {source}")]
    Connect { target: String, source: io::Error },
    #[error("connect to {target} refused by the egress policy: {denied}")]
    Egress { target: String, denied: super::egress::Denied },
    #[error("TLS handshake with {target} timed out after {timeout:?}")]
    HandshakeTimeout { target: String, timeout: Duration },
    #[error("TLS handshake with {target} failed: {source}")]
    Handshake { target: String, source: io::Error },
}

impl StreamConnection {
    /// Connects to `target` (trying each resolved address in turn within `timeout`), then
    /// performs the TLS handshake when `tls` is given.
    pub async fn connect(
        target: &HostPort,
        timeout: Duration,
        tls: Option<&TlsClient>,
        egress: Option<&EgressPolicy>,
    ) -> Result<Self, ConnectError> {
        let tcp = connect_tcp(target, timeout, egress).await?;
        let counting = CountingTcp { inner: tcp, written: 0 };
        let Some(tls) = tls else {
            return Ok(StreamConnection::Tcp(counting));
        };
        let connector = TlsConnector::from(tls.config.clone());
        let handshake = connector.connect(tls.server_name.clone(), counting);
        match tokio::time::timeout(tls.handshake_timeout, handshake).await {
            Err(_) => {
                Err(ConnectError::HandshakeTimeout { target: target.to_string(), timeout: tls.handshake_timeout })
            }
            Ok(Err(source)) => Err(ConnectError::Handshake { target: target.to_string(), source }),
            Ok(Ok(stream)) => Ok(StreamConnection::Tls(Box::new(stream))),
        }
    }

    fn tcp(&self) -> &CountingTcp {
        match self {
            StreamConnection::Tcp(tcp) => tcp,
            StreamConnection::Tls(tls) => tls.get_ref().0,
        }
    }

    /// Bytes written to the socket since the connection opened (TLS records included).
    pub fn wire_bytes(&self) -> u64 {
        self.tcp().written
    }

    /// Wire offset up to which the peer's TCP stack has acknowledged everything.
    pub fn acknowledged_up_to(&self) -> io::Result<u64> {
        let pending = unacknowledged_bytes(self.tcp().inner.as_fd())?;
        Ok(self.wire_bytes().saturating_sub(pending))
    }

    /// Writes and flushes all of `bytes`.
    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            StreamConnection::Tcp(tcp) => {
                tcp.write_all(bytes).await?;
                tcp.flush().await
            }
            StreamConnection::Tls(tls) => {
                tls.write_all(bytes).await?;
                tls.flush().await
            }
        }
    }

    fn poll_read_into(&mut self, context: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<usize>> {
        let mut scratch = [0u8; 4096];
        let mut read = ReadBuf::new(&mut scratch);
        let poll = match self {
            StreamConnection::Tcp(tcp) => Pin::new(tcp).poll_read(context, &mut read),
            StreamConnection::Tls(tls) => Pin::new(tls.as_mut()).poll_read(context, &mut read),
        };
        poll.map_ok(|()| {
            buf.extend_from_slice(read.filled());
            read.filled().len()
        })
    }

    /// Reads what the peer sent (for protocols that answer, such as RELP), waiting for at least
    /// one byte; `Ok(0)` when the peer closed.
    pub async fn read_into(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        std::future::poll_fn(|context| self.poll_read_into(context, buf)).await
    }

    /// Reads what the peer sent without waiting: `None` when nothing has arrived.
    pub fn try_read_into(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<usize>> {
        match self.poll_read_into(&mut Context::from_waker(Waker::noop()), buf) {
            Poll::Pending => Ok(None),
            Poll::Ready(result) => result.map(Some),
        }
    }

    /// Looks, without waiting, whether the peer closed or broke the connection. Anything the
    /// peer sent is read and discarded: syslog receivers have nothing to say on this channel.
    pub fn peer_state(&mut self) -> PeerState {
        let mut context = Context::from_waker(Waker::noop());
        let mut scratch = [0u8; 1024];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            let poll = match self {
                StreamConnection::Tcp(tcp) => Pin::new(tcp).poll_read(&mut context, &mut buf),
                StreamConnection::Tls(tls) => Pin::new(tls.as_mut()).poll_read(&mut context, &mut buf),
            };
            match poll {
                Poll::Pending => return PeerState::Open,
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return PeerState::Closed,
                Poll::Ready(Ok(())) => continue,
                // A TLS peer that vanished without close_notify is still a peer that closed.
                Poll::Ready(Err(error)) if error.kind() == io::ErrorKind::UnexpectedEof => return PeerState::Closed,
                Poll::Ready(Err(error)) => return PeerState::Failed(error),
            }
        }
    }
}

async fn connect_tcp(
    target: &HostPort,
    timeout: Duration,
    egress: Option<&EgressPolicy>,
) -> Result<TcpStream, ConnectError> {
    let name = target.to_string();
    let attempt = async {
        let mut addresses: Vec<std::net::SocketAddr> = tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .map_err(|source| ConnectError::Resolve { target: name.clone(), source })?
            .collect();
        if let Some(policy) = egress {
            // Connect only to checked addresses: the name is not resolved a second time.
            addresses =
                policy.filter(addresses).map_err(|denied| ConnectError::Egress { target: name.clone(), denied })?;
        }
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the name resolved to no address");
        for address in addresses {
            match TcpStream::connect(address).await {
                Ok(stream) => return Ok(stream),
                Err(error) => last = error,
            }
        }
        Err(ConnectError::Connect { target: name.clone(), source: last })
    };
    let stream = tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| ConnectError::ConnectTimeout { target: name.clone(), timeout })??;
    // Batches are already coalesced; waiting for more (Nagle) would only add latency.
    let _ = stream.set_nodelay(true);
    // Keepalive finds a dead peer on an idle connection, so the next batch is not written into a
    // connection that can only fail.
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(60))
        .with_interval(Duration::from_secs(10))
        .with_retries(6);
    let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive);
    Ok(stream)
}
