//! Which address a request comes from, for per-client limits.
//!
//! `X-Forwarded-For` is anyone's to write, so it is read only when the TCP peer is a trusted
//! proxy (`ODEADEV_TRUSTED_PROXIES`, empty by default). Then the list is walked from the right —
//! the entries our own proxies appended — past every trusted address, and the first untrusted
//! one is the client. Anything unreadable stops the walk at the last address a trusted proxy
//! vouched for.

use std::net::IpAddr;

use ipnet::IpNet;

/// Proxies whose `X-Forwarded-For` entries are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

/// Comma-separated, in the form `parse` reads.
impl std::fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, net) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{net}")?;
        }
        Ok(())
    }
}

impl TrustedProxies {
    /// Parses a comma-separated list of addresses and CIDR ranges; the error names the entry.
    pub fn parse(raw: &str) -> Result<TrustedProxies, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{s:?} is not an IP address or CIDR range"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    /// Whether no proxy is trusted (the default).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is one of ours.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client address of a request from `peer` carrying these `X-Forwarded-For` values
    /// (in header order).
    pub fn client_ip<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return peer;
        }
        let entries: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for entry in entries.iter().rev() {
            let Some(ip) = parse_entry(entry) else {
                return client;
            };
            client = ip;
            if !self.contains(ip) {
                return ip;
            }
        }
        client
    }
}

/// IPv4-mapped IPv6 addresses count as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// A bare address, `v4:port` or `[v6]:port`.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .map(canonical)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peers_are_the_client_whatever_they_claim() {
        let none = TrustedProxies::default();
        assert_eq!(none.client_ip(ip("10.0.0.1"), ["1.2.3.4"]), ip("10.0.0.1"));
        let some = TrustedProxies::parse("10.0.0.0/8").unwrap();
        assert_eq!(some.client_ip(ip("8.8.8.8"), ["1.2.3.4"]), ip("8.8.8.8"));
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_client() {
        let t = TrustedProxies::parse("10.0.0.0/8, 192.168.1.5").unwrap();
        let peer = ip("10.0.0.1");
        // A client forging the left-most entry cannot choose its bucket.
        let got = t.client_ip(peer, ["6.6.6.6, 1.2.3.4", "192.168.1.5"]);
        assert_eq!(got, ip("1.2.3.4"));
        assert_eq!(t.client_ip(peer, ["[2001:db8::1]:443"]), ip("2001:db8::1"));
        assert_eq!(t.client_ip(peer, Vec::<&str>::new()), peer);
        assert_eq!(t.client_ip(peer, ["10.1.1.1"]), ip("10.1.1.1"));
        assert_eq!(t.client_ip(peer, ["junk, 10.1.1.1"]), ip("10.1.1.1"));
        assert_eq!(
            t.client_ip(ip("::ffff:10.0.0.1"), ["1.1.1.1"]),
            ip("1.1.1.1")
        );
    }

    #[test]
    fn bad_entries_are_named() {
        let e = TrustedProxies::parse("10.0.0.0/8,nope").unwrap_err();
        assert!(e.contains("nope"), "{e}");
        assert!(TrustedProxies::parse("").unwrap().is_empty());
    }
}
