//! Who a request comes from, as the per-client limits count it, and a
//! bounded memory of clients that no request has to scan.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Mutex, PoisonError};

/// A client as the limits count it: an IPv4 address, or an IPv6 /64. A
/// household or a server is given a whole /64, so counting single IPv6
/// addresses would hand one client 2^64 budgets; an IPv4-mapped IPv6
/// address (`::ffff:192.0.2.1`, what a dual-stack socket reports) is the
/// IPv4 address it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    pub fn of(address: IpAddr) -> Self {
        match address.to_canonical() {
            IpAddr::V4(v4) => ClientKey(IpAddr::V4(v4)),
            IpAddr::V6(v6) => ClientKey(IpAddr::V6(Ipv6Addr::from(
                u128::from(v6) & !(u128::MAX >> 64),
            ))),
        }
    }

    /// The address, or the first address of the /64.
    pub fn address(&self) -> IpAddr {
        self.0
    }
}

/// A range of addresses: `10.0.0.0/8`, `fd00::/8`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Reads `ADDRESS` or `ADDRESS/PREFIX`; bits past the prefix are
    /// ignored, and an IPv4-mapped range is read as the IPv4 range.
    pub fn parse(raw: &str) -> Option<Cidr> {
        let raw = raw.trim();
        let (address, prefix) = match raw.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix.parse::<u8>().ok()?)),
            None => (raw, None),
        };
        let address: IpAddr = address.parse().ok()?;
        let (address, prefix) = match (address, address.to_canonical()) {
            (IpAddr::V6(_), IpAddr::V4(v4)) => {
                let prefix = match prefix {
                    Some(prefix) => prefix.checked_sub(96)?,
                    None => 32,
                };
                (IpAddr::V4(v4), prefix)
            }
            (IpAddr::V4(_), _) => (address, prefix.unwrap_or(32)),
            (IpAddr::V6(_), _) => (address, prefix.unwrap_or(128)),
        };
        let bits = if address.is_ipv4() { 32 } else { 128 };
        (prefix <= bits).then(|| Cidr {
            network: masked(address, prefix),
            prefix,
        })
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        address.is_ipv4() == self.network.is_ipv4() && masked(address, self.prefix) == self.network
    }
}

/// `address` with every bit past `prefix` cleared.
fn masked(address: IpAddr, prefix: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
    }
}

/// The reverse proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// From `rate_limit.trusted_proxies`; an entry that is neither an
    /// address nor a range is an error naming it.
    pub fn parse(entries: &[String]) -> anyhow::Result<Self> {
        entries
            .iter()
            .map(|raw| {
                Cidr::parse(raw).ok_or_else(|| {
                    anyhow::anyhow!(
                        "invalid setting rate_limit.trusted_proxies: {raw:?} is neither an IP address nor a CIDR range"
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        self.0.iter().any(|range| range.contains(address))
    }

    /// The address a request comes from: the socket peer, unless the peer
    /// is a trusted proxy; then the right-most address of
    /// `X-Forwarded-For` that is not a trusted proxy itself (what the
    /// outermost trusted proxy saw, not what the client claimed). A
    /// forwarded header from anyone else is ignored.
    pub fn client_of(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        forwarded_for
            .into_iter()
            .flat_map(|header| header.rsplit(','))
            .map_while(|hop| hop.trim().parse::<IpAddr>().ok())
            .map(|hop| hop.to_canonical())
            .find(|hop| !self.contains(*hop))
            .unwrap_or(peer)
    }
}

/// Shards of the table: requests from different clients seldom wait for
/// the same lock.
const SHARDS: usize = 16;

/// A bounded memory of what is known about clients (a rate limit's bucket,
/// a burst's count). Each shard keeps two generations: a client seen again
/// moves into the current one; when the current one is full, the previous
/// one is forgotten whole and the current one becomes the previous. So at
/// most `capacity` clients are remembered, a client in use is never
/// forgotten while those unseen longest go first, and no request scans
/// the table: forgetting a generation is a swap, and its memory is freed
/// after the shard's lock is released.
pub struct ClientTable<K, V> {
    shards: Box<[Mutex<Generations<K, V>>]>,
    hasher: RandomState,
}

struct Generations<K, V> {
    current: HashMap<K, V>,
    previous: HashMap<K, V>,
    per_generation: usize,
}

impl<K: Hash + Eq + Copy, V> Generations<K, V> {
    /// The value of `key`, made current; and the generation forgotten to
    /// make room, if one was.
    fn entry(&mut self, key: K, fresh: impl FnOnce() -> V) -> (&mut V, Option<HashMap<K, V>>) {
        let mut forgotten = None;
        let value = match self.current.remove(&key) {
            Some(value) => value,
            None => {
                let value = self.previous.remove(&key).unwrap_or_else(fresh);
                if self.current.len() >= self.per_generation {
                    let full = std::mem::take(&mut self.current);
                    forgotten = Some(std::mem::replace(&mut self.previous, full));
                }
                value
            }
        };
        (self.current.entry(key).or_insert(value), forgotten)
    }
}

impl<K: Hash + Eq + Copy, V> ClientTable<K, V> {
    /// A table that remembers at most `capacity` clients (at least one per
    /// shard and generation).
    pub fn new(capacity: usize) -> Self {
        let per_generation = (capacity / (2 * SHARDS)).max(1);
        ClientTable {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Generations {
                        current: HashMap::new(),
                        previous: HashMap::new(),
                        per_generation,
                    })
                })
                .collect(),
            hasher: RandomState::new(),
        }
    }

    /// Runs `work` on what is remembered of `key` (`fresh()` when nothing
    /// is), under its shard's lock only.
    pub fn with<T>(&self, key: K, fresh: impl FnOnce() -> V, work: impl FnOnce(&mut V) -> T) -> T {
        let shard = &self.shards[(self.hasher.hash_one(key) % SHARDS as u64) as usize];
        let (answer, forgotten) = {
            let mut generations = shard.lock().unwrap_or_else(PoisonError::into_inner);
            let (value, forgotten) = generations.entry(key, fresh);
            (work(value), forgotten)
        };
        drop(forgotten);
        answer
    }

    /// Clients remembered now.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let generations = shard.lock().unwrap_or_else(PoisonError::into_inner);
                generations.current.len() + generations.previous.len()
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_ipv4_mapped_address_is_the_ipv4_client() {
        assert_eq!(
            ClientKey::of(ip("::ffff:192.0.2.7")),
            ClientKey::of(ip("192.0.2.7"))
        );
        assert_eq!(
            ClientKey::of(ip("::ffff:192.0.2.7")).address(),
            ip("192.0.2.7")
        );
        assert_ne!(
            ClientKey::of(ip("192.0.2.7")),
            ClientKey::of(ip("192.0.2.8"))
        );
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let a = ClientKey::of(ip("2001:db8:1:2:aaaa::1"));
        assert_eq!(a, ClientKey::of(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")));
        assert_eq!(a.address(), ip("2001:db8:1:2::"));
        assert_ne!(a, ClientKey::of(ip("2001:db8:1:3::1")));
    }

    #[test]
    fn ranges_hold_their_addresses_and_no_others() {
        let private = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(private.contains(ip("10.255.3.4")));
        assert!(private.contains(ip("::ffff:10.1.2.3")), "mapped");
        assert!(!private.contains(ip("11.0.0.1")));
        assert!(!private.contains(ip("::a00:1")), "another family");
        let unique_local = Cidr::parse(" fd00::/8 ").unwrap();
        assert!(unique_local.contains(ip("fd12:3456::1")));
        assert!(!unique_local.contains(ip("fe80::1")));
        let one = Cidr::parse("192.0.2.1").unwrap();
        assert!(one.contains(ip("192.0.2.1")) && !one.contains(ip("192.0.2.2")));
        let mapped = Cidr::parse("::ffff:192.0.2.0/120").unwrap();
        assert!(mapped.contains(ip("192.0.2.200")));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains(ip("203.0.113.9")));
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "proxy",
            "10.0.0.0/",
            "10.0.0/8",
            "::ffff:1.2.3.4/90",
        ] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_believed_from_trusted_ranges_only() {
        let proxies =
            TrustedProxies::parse(&["10.0.0.0/8".to_string(), "fd00::/8".to_string()]).unwrap();
        let spoof = Some("203.0.113.9");
        assert_eq!(
            proxies.client_of(ip("198.51.100.7"), spoof),
            ip("198.51.100.7")
        );
        assert_eq!(proxies.client_of(ip("10.1.2.3"), spoof), ip("203.0.113.9"));
        assert_eq!(
            proxies.client_of(ip("::ffff:10.1.2.3"), spoof),
            ip("203.0.113.9")
        );
        assert_eq!(
            proxies.client_of(ip("fd00::5"), Some("1.2.3.4, 203.0.113.9, 10.0.0.2")),
            ip("203.0.113.9"),
            "the right-most hop the proxies saw, not what the client claimed"
        );
        assert_eq!(
            proxies.client_of(ip("10.0.0.1"), Some("::ffff:203.0.113.9")),
            ip("203.0.113.9")
        );
        assert_eq!(proxies.client_of(ip("10.0.0.1"), None), ip("10.0.0.1"));
        assert_eq!(
            proxies.client_of(ip("10.0.0.1"), Some("garbage, 10.0.0.3")),
            ip("10.0.0.1"),
            "an unreadable hop is not believed past"
        );
        assert!(TrustedProxies::parse(&["proxy.local".to_string()]).is_err());
    }

    #[test]
    fn a_flood_of_clients_never_grows_the_table_past_its_capacity() {
        let table: ClientTable<u64, u32> = ClientTable::new(1_000);
        for client in 0..200_000u64 {
            table.with(client, || 0, |count| *count += 1);
        }
        assert!(table.len() <= 1_000, "{} remembered", table.len());
        assert!(table.len() >= 500, "{} remembered", table.len());
    }

    #[test]
    fn a_client_in_use_is_remembered_through_a_flood() {
        let table: ClientTable<u64, u32> = ClientTable::new(1_000);
        let regular = u64::MAX;
        for client in 0..200_000u64 {
            table.with(client, || 0, |count| *count += 1);
            if client % 100 == 0 {
                table.with(regular, || 0, |count| *count += 1);
            }
        }
        let seen = table.with(regular, || 0, |count| *count);
        assert_eq!(seen, 2_000, "its count was never forgotten");
        // One seen once at the start of the flood is long forgotten.
        assert_eq!(table.with(1, || 0, |count| *count), 0);
    }
}
