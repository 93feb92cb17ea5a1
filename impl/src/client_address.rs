//! Which address a request comes from: the connection's peer, or, when the peer is a
//! proxy the operator trusts (`--trusted-proxies`), the address that proxy forwarded in
//! `X-Forwarded-For` or `Forwarded: for=`. That address is what the token endpoint's
//! throttling counts and what the logs name.
//!
//! Forwarded headers are lists that every proxy appends to, so only their right end can
//! be believed: the right-most entry was written by the peer itself, the one before it
//! by the proxy before that, and so on. The client address is therefore the right-most
//! entry that is not itself a trusted proxy; everything to its left may be forged by the
//! client. From a peer that is not trusted, forwarded headers are ignored entirely.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::http::HeaderMap;

/// The proxies whose forwarded headers are believed, as CIDR blocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    blocks: Vec<Cidr>,
}

/// One block of addresses: an address and how many of its leading bits must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    /// Reads `ADDRESS/PREFIX`, or a bare address (one host: /32 or /128).
    fn from_str(text: &str) -> Result<Cidr, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or CIDR block"))?;
        let network = network.to_canonical();
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= bits)
                .ok_or_else(|| format!("{text:?} has a prefix length that is not 0..={bits}"))?,
        };
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}/{}", self.network, self.prefix)
    }
}

impl Cidr {
    /// Whether `address` lies in this block (an IPv4 address mapped into IPv6 counts as IPv4).
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(address)) => leading_bits_match(
                u128::from(u32::from(network)) << 96,
                u128::from(u32::from(address)) << 96,
                self.prefix,
            ),
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                leading_bits_match(u128::from(network), u128::from(address), self.prefix)
            }
            _ => false,
        }
    }
}

/// Whether the first `prefix` bits of `a` and `b` are equal.
fn leading_bits_match(a: u128, b: u128, prefix: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    a & mask == b & mask
}

impl TrustedProxies {
    /// No proxy is trusted: every request's address is its peer's.
    pub fn none() -> Self {
        TrustedProxies::default()
    }

    /// Reads `CIDR[,CIDR…]`; an empty value trusts nothing.
    pub fn parse(value: &str) -> Result<TrustedProxies, String> {
        let blocks = value
            .split(',')
            .filter(|block| !block.trim().is_empty())
            .map(Cidr::from_str)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TrustedProxies { blocks })
    }

    /// Whether `address` is a trusted proxy.
    pub fn trusts(&self, address: IpAddr) -> bool {
        self.blocks.iter().any(|block| block.contains(address))
    }

    /// The blocks, for the startup log line.
    pub fn describe(&self) -> String {
        let blocks: Vec<String> = self.blocks.iter().map(Cidr::to_string).collect();
        blocks.join(",")
    }

    /// The address of the client behind `peer`: `peer` itself unless it is trusted;
    /// otherwise the right-most forwarded address that is not a trusted proxy. An entry
    /// that is not an address (`unknown`, an obfuscated name, garbage) ends the walk:
    /// nothing left of it can be traced, so the last trusted hop is the answer.
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        for entry in forwarded_chain(headers).iter().rev() {
            match parse_forwarded_address(entry) {
                Some(address) => {
                    client = address;
                    if !self.trusts(address) {
                        break;
                    }
                }
                None => break,
            }
        }
        client
    }
}

/// The forwarded addresses, left (the first hop) to right (the last): every
/// `X-Forwarded-For` line in order, or failing those, the `for=` of every `Forwarded`
/// element in order.
fn forwarded_chain(headers: &HeaderMap) -> Vec<String> {
    let lines = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
            .collect()
    };
    let x_forwarded_for = lines("x-forwarded-for");
    if !x_forwarded_for.is_empty() {
        return x_forwarded_for
            .iter()
            .flat_map(|line| line.split(','))
            .map(|entry| entry.trim().to_owned())
            .collect();
    }
    lines("forwarded")
        .iter()
        .flat_map(|line| line.split(','))
        .map(|element| {
            // An element without `for=` still was a hop: it must not be skipped.
            element
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                .map(|(_, value)| value.trim().to_owned())
                .unwrap_or_default()
        })
        .collect()
}

/// One forwarded entry as an address: `192.0.2.1`, `192.0.2.1:8080`, `2001:db8::1`,
/// `[2001:db8::1]:8080`, optionally in double quotes (as `Forwarded` writes IPv6).
fn parse_forwarded_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim().trim_matches('"');
    if let Ok(address) = entry.parse::<IpAddr>() {
        return Some(address.to_canonical());
    }
    if let Ok(socket) = entry.parse::<SocketAddr>() {
        return Some(socket.ip().to_canonical());
    }
    let bracketed = entry.strip_prefix('[').and_then(|rest| rest.split_once(']'))?.0;
    bracketed.parse::<IpAddr>().ok().map(|address| address.to_canonical())
}

/// An address as text, exactly as its `Display` writes it, for the log line and the
/// audit trail (every request writes it, a write twice). IPv4 is spelled digit by
/// digit here: `Ipv4Addr`'s `Display`, which supports padding, cost about 1,300
/// instructions per request.
pub fn address_text(address: IpAddr) -> String {
    let IpAddr::V4(v4) = address else {
        return address.to_string();
    };
    let mut text = String::with_capacity(15);
    for (index, octet) in v4.octets().into_iter().enumerate() {
        if index > 0 {
            text.push('.');
        }
        if octet >= 100 {
            text.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            text.push(char::from(b'0' + octet / 10 % 10));
        }
        text.push(char::from(b'0' + octet % 10));
    }
    text
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn addresses_are_written_as_their_display_writes_them() {
        let mut addresses: Vec<IpAddr> = Vec::new();
        for octet in 0..=255u8 {
            for position in 0..4 {
                let mut octets = [1, 20, 255, 0];
                octets[position] = octet;
                addresses.push(IpAddr::from(octets));
            }
        }
        addresses.extend(
            [
                "::1",
                "::",
                "2001:db8::8a2e:370:7334",
                "::ffff:192.0.2.1",
                "fe80::1:2:3:4",
            ]
            .map(|text| text.parse::<IpAddr>().expect("an address")),
        );
        for address in addresses {
            assert_eq!(address_text(address), address.to_string());
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn blocks_are_read_as_cidr_or_single_addresses() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, 192.0.2.7,2001:db8::/32").unwrap();
        assert!(trusted.trusts(ip("10.1.2.3")));
        assert!(trusted.trusts(ip("::ffff:10.1.2.3")));
        assert!(trusted.trusts(ip("192.0.2.7")));
        assert!(!trusted.trusts(ip("192.0.2.8")));
        assert!(trusted.trusts(ip("2001:db8:ffff::1")));
        assert!(!trusted.trusts(ip("2001:db9::1")));
        assert!(TrustedProxies::parse("0.0.0.0/0").unwrap().trusts(ip("203.0.113.9")));
        assert_eq!(TrustedProxies::parse("").unwrap(), TrustedProxies::none());
        for bad in ["10.0.0.0/33", "not-an-address", "10.0.0.0/", "::/129"] {
            assert!(TrustedProxies::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let spoofed = headers(&[("x-forwarded-for", "198.51.100.1")]);
        assert_eq!(trusted.client_address(ip("203.0.113.9"), &spoofed), ip("203.0.113.9"));
        assert_eq!(
            TrustedProxies::none().client_address(ip("10.0.0.1"), &spoofed),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_client_is_the_right_most_forwarded_address_that_is_not_a_trusted_proxy() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let peer = ip("10.0.0.1");
        let chain = headers(&[("x-forwarded-for", "198.51.100.1, 203.0.113.5, 10.0.0.2")]);
        assert_eq!(trusted.client_address(peer, &chain), ip("203.0.113.5"));
        let two_lines = headers(&[("x-forwarded-for", "198.51.100.1"), ("x-forwarded-for", "203.0.113.5")]);
        assert_eq!(trusted.client_address(peer, &two_lines), ip("203.0.113.5"));
        let all_trusted = headers(&[("x-forwarded-for", "10.0.0.3, 10.0.0.2")]);
        assert_eq!(trusted.client_address(peer, &all_trusted), ip("10.0.0.3"));
        let garbage = headers(&[("x-forwarded-for", "203.0.113.5, unknown, 10.0.0.2")]);
        assert_eq!(trusted.client_address(peer, &garbage), ip("10.0.0.2"));
        assert_eq!(trusted.client_address(peer, &HeaderMap::new()), peer);
    }

    #[test]
    fn forwarded_for_is_read_when_there_is_no_x_forwarded_for() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let peer = ip("10.0.0.1");
        let forwarded = headers(&[(
            "forwarded",
            "for=198.51.100.1, for=\"[2001:db8:cafe::17]:4711\";proto=https, for=10.0.0.2",
        )]);
        assert_eq!(trusted.client_address(peer, &forwarded), ip("2001:db8:cafe::17"));
        let with_port = headers(&[("forwarded", "for=\"203.0.113.5:1234\";by=10.0.0.1")]);
        assert_eq!(trusted.client_address(peer, &with_port), ip("203.0.113.5"));
        let hidden = headers(&[("forwarded", "for=203.0.113.5, for=_hidden")]);
        assert_eq!(trusted.client_address(peer, &hidden), peer);
    }
}
