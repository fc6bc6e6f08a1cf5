//! The key per-address limits count under.

use std::net::{IpAddr, Ipv6Addr};

/// A client address as per-address limits see it: IPv4 as is (also when it arrives
/// v4-mapped over IPv6), IPv6 by its /64, the block one subscriber typically gets, so
/// that hopping through the addresses of one's own /64 buys nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddrKey(IpAddr);

impl AddrKey {
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    Self(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
        }
    }
}

impl std::fmt::Display for AddrKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> AddrKey {
        AddrKey::of(s.parse().unwrap())
    }

    #[test]
    fn v4_is_itself_and_v4_mapped_is_v4() {
        assert_eq!(key("10.1.2.3"), key("::ffff:10.1.2.3"));
        assert_ne!(key("10.1.2.3"), key("10.1.2.4"));
        assert_eq!(key("::ffff:10.1.2.3").to_string(), "10.1.2.3");
    }

    #[test]
    fn v6_counts_by_its_64() {
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("2001:db8:1:2:aaaa::1").to_string(), "2001:db8:1:2::/64");
    }
}
