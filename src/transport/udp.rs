//! Syslog over UDP (RFC 5426): one message per datagram, best effort.

use std::io;
use std::net::SocketAddr;

use tokio::net::UdpSocket;

use super::egress::EgressPolicy;
use super::HostPort;

/// A UDP socket connected to one receiver address.
#[derive(Debug)]
pub struct UdpConnection {
    socket: UdpSocket,
}

impl UdpConnection {
    /// Resolves `target` and connects a socket of the matching address family to its first
    /// address. Connecting lets the kernel report ICMP port-unreachable as an error on a later
    /// send, so a receiver that is down is noticed.
    pub async fn connect(target: &HostPort, egress: Option<&EgressPolicy>) -> io::Result<Self> {
        let mut addresses: Vec<SocketAddr> =
            tokio::net::lookup_host((target.host.as_str(), target.port)).await?.collect();
        if let Some(policy) = egress {
            addresses = policy.filter(addresses).map_err(|denied| {
                io::Error::new(io::ErrorKind::PermissionDenied, format!("egress policy: {denied}"))
            })?;
        }
        let address = addresses
            .into_iter()
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{target} resolved to no address")))?;
        let local: SocketAddr = if address.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }
            .parse()
            .map_err(|_| io::Error::other("bad local address"))?;
        let socket = UdpSocket::bind(local).await?;
        socket.connect(address).await?;
        Ok(UdpConnection { socket })
    }

    pub async fn send(&self, datagram: &[u8]) -> io::Result<()> {
        let sent = self.socket.send(datagram).await?;
        if sent != datagram.len() {
            return Err(io::Error::other(format!("sent {sent} of {} bytes", datagram.len())));
        }
        Ok(())
    }
}
