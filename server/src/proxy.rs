//! The PROXY protocol (v1 and v2, as nginx's `proxy_protocol on` and HAProxy send
//! it) in front of a connection from a trusted load balancer: the real client's
//! address, so that logs, throttles and per-address limits see the client, not
//! the balancer. Only addresses given to `--trusted-proxy` may speak for others;
//! from anyone else a PROXY header is just bytes that are not a frame.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ppp::{HeaderResult, PartialResult, v1, v2};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Longest a trusted proxy may take to send its header.
pub const HEADER_WAIT: Duration = Duration::from_secs(5);
/// Longest header read: v1 is at most 107 bytes; v2 with the usual TLVs fits.
const MAX_HEADER: usize = 536;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("no complete PROXY header within {}s", HEADER_WAIT.as_secs())]
    Timeout,
    #[error("not a PROXY protocol header: {0}")]
    Invalid(String),
    #[error("the proxy closed the connection before its header")]
    Closed,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// What the first bytes of a proxied connection hold.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Parsed {
    Incomplete,
    /// A header of `len` bytes; the client's address, unless the proxy speaks for
    /// itself (LOCAL, UNKNOWN: its health checks).
    Header {
        len: usize,
        client: Option<SocketAddr>,
    },
    Invalid(String),
}

fn parse(bytes: &[u8]) -> Parsed {
    let result = HeaderResult::parse(bytes);
    if result.is_incomplete() {
        return Parsed::Incomplete;
    }
    match result {
        HeaderResult::V1(Ok(h)) => {
            let client = match h.addresses {
                v1::Addresses::Tcp4(a) => Some(SocketAddr::new(IpAddr::V4(a.source_address), a.source_port)),
                v1::Addresses::Tcp6(a) => Some(SocketAddr::new(IpAddr::V6(a.source_address), a.source_port)),
                v1::Addresses::Unknown => None,
            };
            Parsed::Header { len: h.header.len(), client }
        }
        HeaderResult::V2(Ok(h)) => {
            let client = match (h.command, h.addresses) {
                (v2::Command::Local, _) => None,
                (_, v2::Addresses::IPv4(a)) => {
                    Some(SocketAddr::new(IpAddr::V4(a.source_address), a.source_port))
                }
                (_, v2::Addresses::IPv6(a)) => {
                    Some(SocketAddr::new(IpAddr::V6(a.source_address), a.source_port))
                }
                _ => None,
            };
            Parsed::Header { len: h.len(), client }
        }
        HeaderResult::V1(Err(e)) => Parsed::Invalid(e.to_string()),
        HeaderResult::V2(Err(e)) => Parsed::Invalid(e.to_string()),
    }
}

/// Reads the PROXY header at the start of `stream`, and only it (the client's own
/// bytes stay to be read); returns the client's address, or `None` when the proxy
/// speaks for itself.
pub async fn read_header(stream: &mut TcpStream) -> Result<Option<SocketAddr>, ProxyError> {
    tokio::time::timeout(HEADER_WAIT, read_header_now(stream)).await.map_err(|_| ProxyError::Timeout)?
}

async fn read_header_now(stream: &mut TcpStream) -> Result<Option<SocketAddr>, ProxyError> {
    let mut buf = [0u8; MAX_HEADER];
    loop {
        let n = stream.peek(&mut buf).await?;
        if n == 0 {
            return Err(ProxyError::Closed);
        }
        match parse(&buf[..n]) {
            Parsed::Header { len, client } => {
                stream.read_exact(&mut buf[..len]).await?;
                return Ok(client);
            }
            Parsed::Invalid(why) => return Err(ProxyError::Invalid(why)),
            Parsed::Incomplete if n == MAX_HEADER => {
                return Err(ProxyError::Invalid("header too long".into()));
            }
            // The rest of the header is on its way: peek again shortly.
            Parsed::Incomplete => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

/// Whether `peer` may speak for others (`--trusted-proxy`).
pub fn trusted(peer: IpAddr, proxies: &[IpAddr]) -> bool {
    let peer = match peer {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
        v4 => v4,
    };
    proxies.contains(&peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_versions_give_the_client_and_the_header_length() {
        let v1 = b"PROXY TCP4 203.0.113.7 10.0.0.1 51234 7878\r\n\x00\x00\x00\x02{}";
        assert_eq!(parse(v1), Parsed::Header { len: 44, client: Some("203.0.113.7:51234".parse().unwrap()) });
        assert_eq!(parse(b"PROXY TCP4 203.0.113.7 10.0"), Parsed::Incomplete);
        assert_eq!(parse(b"PROXY UNKNOWN\r\n"), Parsed::Header { len: 15, client: None });
        let mut v2 = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
        v2.extend([0x21, 0x11, 0, 12, 198, 51, 100, 9, 10, 0, 0, 1, 0x1f, 0x90, 0x1e, 0xc6, 42]);
        assert_eq!(
            parse(&v2),
            Parsed::Header { len: 28, client: Some("198.51.100.9:8080".parse().unwrap()) }
        );
        assert!(matches!(parse(b"\x00\x00\x00\x02{}"), Parsed::Invalid(_)), "a frame is no header");
    }

    #[test]
    fn only_listed_proxies_are_trusted() {
        let proxies: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
        assert!(trusted("127.0.0.1".parse().unwrap(), &proxies));
        assert!(trusted("::ffff:127.0.0.1".parse().unwrap(), &proxies));
        assert!(!trusted("127.0.0.2".parse().unwrap(), &proxies));
    }
}
