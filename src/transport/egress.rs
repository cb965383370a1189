//! Egress policy: the SSRF guard for outgoing connections.
//!
//! Webhook sinks (and syslog sinks that opt in) connect to hosts named in configuration, and a
//! host name may resolve to anything. Without a guard, a name that resolves (or is rebound) to
//! `127.0.0.1`, to a private network or to a cloud metadata service turns the relay into a way
//! of reaching internal services. [`EgressPolicy`] decides, for every resolved address, whether
//! the relay may connect to it. Check the addresses *after* resolving and connect only to the
//! addresses that [`EgressPolicy::filter`] returns; never resolve the name a second time.
//!
//! # What is refused
//!
//! Unless the `[egress] allow` list admits it (see below), an address is refused when it is:
//!
//! | Reason | IPv4 | IPv6 |
//! |---|---|---|
//! | [`Reason::Unspecified`] | `0.0.0.0/8` (RFC 1122, RFC 6890) | `::/128` (RFC 4291) |
//! | [`Reason::Loopback`] | `127.0.0.0/8` (RFC 1122) | `::1/128` (RFC 4291) |
//! | [`Reason::Private`] | `10/8`, `172.16/12`, `192.168/16` (RFC 1918) | `fc00::/7` (RFC 4193) |
//! | [`Reason::SharedCgnat`] | `100.64.0.0/10` (RFC 6598) | |
//! | [`Reason::LinkLocal`] | `169.254.0.0/16` (RFC 3927) | `fe80::/10` (RFC 4291) |
//! | [`Reason::Multicast`] | `224.0.0.0/4` (RFC 5771) | `ff00::/8` (RFC 4291) |
//! | [`Reason::Broadcast`] | `255.255.255.255` (RFC 919, RFC 8190) | |
//! | [`Reason::Documentation`] | `192.0.2/24`, `198.51.100/24`, `203.0.113/24` (RFC 5737) | `2001:db8::/32` (RFC 3849), `3fff::/20` (RFC 9637) |
//! | [`Reason::Reserved`] | `192.0.0.0/24` (RFC 6890), `192.88.99.0/24` (RFC 7526), `198.18.0.0/15` (RFC 2544), `240.0.0.0/4` (RFC 1112) | `64:ff9b:1::/48` (RFC 8215), `100::/64` (RFC 6666), `2001::/23` except Teredo (RFC 2928, RFC 6890), `fec0::/10` (RFC 3879), everything outside `2000::/3` that is not listed above (IANA IPv6 Address Space registry, RFC 4291 section 2.4) |
//! | [`Reason::CloudMetadata`] | `169.254.169.254`, `169.254.170.2`, `169.254.170.23`, `100.100.100.200`, `192.0.0.192`, `168.63.129.16` | `fd00:ec2::254`, `fd00:ec2::23`, `fe80::a9fe:a9fe` |
//!
//! IPv6 addresses that embed an IPv4 address are judged by the IPv4 address they carry
//! ([`Reason::Embedded`]): IPv4-mapped `::ffff:0:0/96` and the deprecated IPv4-compatible
//! `::/96` (RFC 4291 section 2.5.5), the NAT64 well-known prefix `64:ff9b::/96` (RFC 6052),
//! 6to4 `2002::/16` (RFC 3056, IPv4 in bits 16-47) and Teredo `2001::/32` (RFC 4380: the server
//! in bits 32-63, the client in the last 32 bits inverted; both must pass). Such an address is
//! allowed exactly when its embedded IPv4 address would be, so `::ffff:8.8.8.8` and
//! `64:ff9b::808:808` pass while `::ffff:127.0.0.1` does not.
//!
//! # The allow list
//!
//! `[egress] allow = ["10.0.0.0/8", "::1/128"]` admits addresses that would otherwise be refused.
//! A CIDR admits the addresses it contains, in its own family only (`10.0.0.0/8` does not contain
//! `::ffff:10.0.0.1` as such). Two refinements:
//!
//! - **Cloud metadata addresses need an exact entry.** A metadata address is admitted only by an
//!   entry that names it as a single host (`/32` or `/128`, or a bare address), never by a broader
//!   block, so `allow = ["169.254.0.0/16"]` (or `0.0.0.0/0`) does not open the instance metadata
//!   service by accident.
//! - **Embedded forms are admitted through either address.** An IPv6 address embedding an IPv4
//!   address is admitted when the embedded IPv4 address is admitted (so `10.0.0.0/8` also admits
//!   `::ffff:10.0.0.1` and `2002:a00:1::1`: the same host is reached), or when an IPv6 entry
//!   contains the IPv6 address *and* is at least as specific as the embedding prefix (`/96` for
//!   mapped, compatible and NAT64 addresses, `/16` for 6to4, `/32` for Teredo). The second
//!   condition keeps a catch-all such as `::/0` or `2000::/3` from admitting
//!   `::ffff:127.0.0.1` or `2002:7f00:1::` through the back door. When the embedded address is a
//!   metadata address, only an exact entry for either address admits it.

use std::error::Error;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

// ---------------------------------------------------------------------------------------------
// CIDR blocks
// ---------------------------------------------------------------------------------------------

/// A block of addresses: an IPv4 or IPv6 network address and a prefix length, such as
/// `10.0.0.0/8` or `::1/128`. Host bits (those beyond the prefix) are always zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The block `network/prefix`.
    ///
    /// # Errors
    ///
    /// [`CidrErrorKind::PrefixTooLong`] if `prefix` exceeds 32 (IPv4) or 128 (IPv6), and
    /// [`CidrErrorKind::HostBitsSet`] if `network` has bits set beyond the prefix.
    pub fn new(network: IpAddr, prefix: u8) -> Result<Cidr, CidrError> {
        Cidr::build(&format!("{network}/{prefix}"), network, prefix)
    }

    /// The block holding just `ip` (`/32` for IPv4, `/128` for IPv6).
    pub const fn host(ip: IpAddr) -> Cidr {
        Cidr { network: ip, prefix: max_prefix(ip) }
    }

    /// The network address (the first address of the block).
    pub const fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length: 0 to 32 for IPv4, 0 to 128 for IPv6.
    pub const fn prefix_len(&self) -> u8 {
        self.prefix
    }

    /// Whether the block holds a single address (`/32` or `/128`).
    pub const fn is_host(&self) -> bool {
        self.prefix == max_prefix(self.network)
    }

    /// Whether `ip` lies in this block. An address of the other family is never contained: an
    /// IPv4 block does not contain IPv4-mapped IPv6 addresses (the policy handles those).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => u32::from(ip) & mask_v4(self.prefix) == u32::from(net),
            (IpAddr::V6(net), IpAddr::V6(ip)) => u128::from(ip) & mask_v6(self.prefix) == u128::from(net),
            _ => false,
        }
    }

    /// Validates the prefix length and the host bits; `input` is quoted in errors.
    fn build(input: &str, network: IpAddr, prefix: u8) -> Result<Cidr, CidrError> {
        let error = |kind| CidrError { input: input.to_owned(), kind };
        let max = max_prefix(network);
        if prefix > max {
            return Err(error(CidrErrorKind::PrefixTooLong { max }));
        }
        let canonical = Cidr { network: mask(network, prefix), prefix };
        if canonical.network != network {
            return Err(error(CidrErrorKind::HostBitsSet { suggestion: canonical }));
        }
        Ok(canonical)
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    /// Parses `address/prefix` (`10.0.0.0/8`, `::1/128`) or a bare address, which stands for
    /// the single-host block (`/32` or `/128`).
    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let error = |kind| CidrError { input: s.to_owned(), kind };
        let (address, prefix) = match s.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (s, None),
        };
        let network: IpAddr = address.parse().map_err(|_| error(CidrErrorKind::InvalidAddress))?;
        let max = max_prefix(network);
        let prefix = match prefix {
            None => max,
            Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                // All digits: anything that does not fit is simply too long.
                digits.parse().unwrap_or(u8::MAX)
            }
            Some(_) => return Err(error(CidrErrorKind::InvalidPrefix { max })),
        };
        Cidr::build(s, network, prefix)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Why a CIDR failed to parse; the `Display` form names the input and says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrError {
    input: String,
    kind: CidrErrorKind,
}

impl CidrError {
    /// The text that failed to parse.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What was wrong with it.
    pub fn kind(&self) -> &CidrErrorKind {
        &self.kind
    }
}

/// The ways a CIDR can be invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CidrErrorKind {
    /// The part before `/` is not an IPv4 or IPv6 address.
    InvalidAddress,
    /// The part after `/` is not a decimal number.
    InvalidPrefix {
        /// The longest valid prefix for the address: 32 or 128.
        max: u8,
    },
    /// The prefix length is longer than the address.
    PrefixTooLong {
        /// The longest valid prefix for the address: 32 or 128.
        max: u8,
    },
    /// Bits beyond the prefix are set.
    HostBitsSet {
        /// The block with the host bits cleared.
        suggestion: Cidr,
    },
}

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let input = &self.input;
        let family = |max: u8| if max == 32 { "IPv4" } else { "IPv6" };
        match &self.kind {
            CidrErrorKind::InvalidAddress if input.is_empty() => {
                f.write_str("empty CIDR; expected a block such as 10.0.0.0/8 or ::1/128, or a bare address")
            }
            CidrErrorKind::InvalidAddress => write!(
                f,
                "{input}: not an IP address; expected a block such as 10.0.0.0/8 or ::1/128, or a bare address"
            ),
            CidrErrorKind::InvalidPrefix { max } => {
                write!(f, "{input}: the prefix length must be a number from 0 to {max}")
            }
            CidrErrorKind::PrefixTooLong { max } => {
                write!(f, "{input}: prefix length too long for an {} address (at most {max})", family(*max))
            }
            CidrErrorKind::HostBitsSet { suggestion } => {
                write!(f, "{input}: host bits set; did you mean {suggestion}?")
            }
        }
    }
}

impl Error for CidrError {}

const fn max_prefix(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn mask_v4(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32u32.saturating_sub(prefix.into())).unwrap_or(0)
}

fn mask_v6(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128u32.saturating_sub(prefix.into())).unwrap_or(0)
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask_v4(prefix))),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask_v6(prefix))),
    }
}

// ---------------------------------------------------------------------------------------------
// Reasons and denials
// ---------------------------------------------------------------------------------------------

/// Names of the IPv6 forms that embed an IPv4 address, as found in [`Reason::Embedded`].
pub mod form {
    /// `::ffff:a.b.c.d`, RFC 4291 section 2.5.5.2.
    pub const IPV4_MAPPED: &str = "IPv4-mapped";
    /// `::a.b.c.d`, deprecated by RFC 4291 section 2.5.5.1.
    pub const IPV4_COMPATIBLE: &str = "IPv4-compatible";
    /// `64:ff9b::a.b.c.d`, the NAT64 well-known prefix of RFC 6052.
    pub const NAT64: &str = "NAT64";
    /// `2002:AABB:CCDD::/48` for `AA.BB.CC.DD`, RFC 3056.
    pub const SIX_TO_FOUR: &str = "6to4";
    /// The Teredo server address, bits 32-63 of a `2001::/32` address (RFC 4380).
    pub const TEREDO_SERVER: &str = "Teredo server";
    /// The Teredo client address, the last 32 bits of a `2001::/32` address inverted (RFC 4380).
    pub const TEREDO_CLIENT: &str = "Teredo client";
}

/// Why an address is refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reason {
    /// `127.0.0.0/8` (RFC 1122 section 3.2.1.3) or `::1` (RFC 4291 section 2.5.3).
    Loopback,
    /// `10/8`, `172.16/12`, `192.168/16` (RFC 1918) or unique local `fc00::/7` (RFC 4193).
    Private,
    /// `169.254.0.0/16` (RFC 3927) or `fe80::/10` (RFC 4291 section 2.5.6).
    LinkLocal,
    /// Shared address space `100.64.0.0/10`, used by carrier-grade NAT (RFC 6598).
    SharedCgnat,
    /// `0.0.0.0/8`, "this network" (RFC 1122, RFC 6890), or `::` (RFC 4291 section 2.5.2).
    Unspecified,
    /// `224.0.0.0/4` (RFC 5771) or `ff00::/8` (RFC 4291 section 2.7).
    Multicast,
    /// The limited broadcast address `255.255.255.255` (RFC 919, RFC 8190).
    Broadcast,
    /// TEST-NET-1/2/3 (RFC 5737), `2001:db8::/32` (RFC 3849) or `3fff::/20` (RFC 9637).
    Documentation,
    /// Another special-purpose or unallocated block (RFC 6890 and the IANA registries).
    Reserved,
    /// A cloud provider's instance metadata or credentials endpoint.
    CloudMetadata,
    /// An IPv6 address embedding the IPv4 address `ipv4`, which is refused for `inner`. `form`
    /// is one of the [`form`] constants, e.g. `"IPv4-mapped"`, `"6to4"`, `"Teredo client"`.
    Embedded {
        /// How the IPv4 address is embedded: one of the [`form`] constants.
        form: &'static str,
        /// Why the embedded IPv4 address is refused.
        inner: Box<Reason>,
        /// The embedded IPv4 address.
        ipv4: Ipv4Addr,
    },
}

impl Reason {
    /// The reason behind any embedding: for `Embedded`, the reason of the embedded address.
    pub fn root(&self) -> &Reason {
        match self {
            Reason::Embedded { inner, .. } => inner.root(),
            other => other,
        }
    }

    /// Whether the address is, or embeds, a cloud metadata address.
    pub fn is_cloud_metadata(&self) -> bool {
        matches!(self.root(), Reason::CloudMetadata)
    }

    /// A description without an address, such as "a private address".
    fn generic(&self) -> &'static str {
        match self {
            Reason::Loopback => "a loopback address",
            Reason::Private => "a private address",
            Reason::LinkLocal => "a link-local address",
            Reason::SharedCgnat => "a shared (carrier-grade NAT) address",
            Reason::Unspecified => "an unspecified address",
            Reason::Multicast => "a multicast address",
            Reason::Broadcast => "a broadcast address",
            Reason::Documentation => "a documentation address",
            Reason::Reserved => "a reserved address",
            Reason::CloudMetadata => "a cloud metadata address",
            Reason::Embedded { .. } => "an address embedding an IPv4 address",
        }
    }
}

/// Says what the reason is, without the RFC of the particular block (see [`Denied`] for that):
/// "a private address", "an IPv4-mapped address (RFC 4291 section 2.5.5.2) embedding 10.0.0.1,
/// which is a private address".
impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Embedded { form, inner, ipv4 } => {
                write_form(f, form)?;
                write!(f, " {ipv4}, which is {inner}")
            }
            other => f.write_str(other.generic()),
        }
    }
}

/// The refusal of one address, e.g. "10.0.0.5 is a private address (RFC 1918); add it to
/// `[egress] allow` to permit it".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// The refused address, as checked.
    pub address: IpAddr,
    /// Why it is refused.
    pub reason: Reason,
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is ", self.address)?;
        describe(f, self.address, &self.reason)?;
        let target = innermost(self.address, &self.reason);
        if self.reason.is_cloud_metadata() {
            write!(
                f,
                "; add {} to [egress] allow to permit it (a broader block never admits a metadata address)",
                Cidr::host(target)
            )
        } else if target == self.address {
            f.write_str("; add it to [egress] allow to permit it")
        } else {
            write!(f, "; add {target} to [egress] allow to permit it")
        }
    }
}

impl Error for Denied {}

/// Writes "a private address (RFC 1918)" and the like, naming the block `address` falls in.
fn describe(f: &mut fmt::Formatter<'_>, address: IpAddr, reason: &Reason) -> fmt::Result {
    match reason {
        Reason::Embedded { form, inner, ipv4 } => {
            write_form(f, form)?;
            write!(f, " {ipv4}, which is ")?;
            describe(f, IpAddr::V4(*ipv4), inner)
        }
        Reason::CloudMetadata => match metadata_service(address) {
            Some(service) => write!(f, "a cloud metadata address ({service})"),
            None => f.write_str(reason.generic()),
        },
        _ => match rule_for(address) {
            Some(rule) if rule.reason == *reason => f.write_str(rule.what),
            _ => f.write_str(reason.generic()),
        },
    }
}

/// Writes the phrase that introduces an embedded IPv4 address, without it.
fn write_form(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    let phrase = match name {
        form::IPV4_MAPPED => "an IPv4-mapped address (RFC 4291 section 2.5.5.2) embedding",
        form::IPV4_COMPATIBLE => "a deprecated IPv4-compatible address (RFC 4291 section 2.5.5.1) embedding",
        form::NAT64 => "a NAT64 address (well-known prefix 64:ff9b::/96, RFC 6052) embedding",
        form::SIX_TO_FOUR => "a 6to4 address (RFC 3056) embedding",
        form::TEREDO_SERVER => "a Teredo address (RFC 4380) whose server is",
        form::TEREDO_CLIENT => "a Teredo address (RFC 4380) whose client is",
        other => return write!(f, "an {other} address embedding"),
    };
    f.write_str(phrase)
}

/// The address that has to be allowed to lift the denial: the innermost embedded one.
fn innermost(address: IpAddr, reason: &Reason) -> IpAddr {
    match reason {
        Reason::Embedded { inner, ipv4, .. } => innermost(IpAddr::V4(*ipv4), inner),
        _ => address,
    }
}

// ---------------------------------------------------------------------------------------------
// The tables
// ---------------------------------------------------------------------------------------------

/// A special-purpose block: why it is refused, and a description citing its RFC.
struct Rule {
    block: Cidr,
    reason: Reason,
    what: &'static str,
}

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Cidr {
    Cidr { network: IpAddr::V4(Ipv4Addr::new(a, b, c, d)), prefix }
}

#[allow(clippy::too_many_arguments)] // The eight segments of an IPv6 address, as in `Ipv6Addr::new`.
const fn v6(a: u16, b: u16, c: u16, d: u16, e: u16, g: u16, h: u16, i: u16, prefix: u8) -> Cidr {
    Cidr { network: IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, g, h, i)), prefix }
}

const fn rule(block: Cidr, reason: Reason, what: &'static str) -> Rule {
    Rule { block, reason, what }
}

const RFC_1918: &str = "a private address (RFC 1918)";
const IETF_RESERVED_V6: &str =
    "an IPv6 address outside 2000::/3, reserved by the IETF (RFC 4291 section 2.4, IANA IPv6 Address Space registry)";

/// The special-purpose blocks, most specific first: the first block containing an address
/// decides its reason. Cloud metadata and embedded IPv4 addresses are handled before these.
static RULES: &[Rule] = &[
    // IPv4 (RFC 6890 and the IANA IPv4 Special-Purpose Address Registry).
    rule(v4(255, 255, 255, 255, 32), Reason::Broadcast, "the limited broadcast address (RFC 919, RFC 8190)"),
    rule(v4(0, 0, 0, 0, 32), Reason::Unspecified, "the unspecified address (RFC 1122 section 3.2.1.3)"),
    rule(v4(0, 0, 0, 0, 8), Reason::Unspecified, "a \"this network\" address (RFC 1122, RFC 6890)"),
    rule(v4(10, 0, 0, 0, 8), Reason::Private, RFC_1918),
    rule(v4(100, 64, 0, 0, 10), Reason::SharedCgnat, "a shared (carrier-grade NAT) address (RFC 6598)"),
    rule(v4(127, 0, 0, 0, 8), Reason::Loopback, "a loopback address (RFC 1122 section 3.2.1.3)"),
    rule(v4(169, 254, 0, 0, 16), Reason::LinkLocal, "a link-local address (RFC 3927)"),
    rule(v4(172, 16, 0, 0, 12), Reason::Private, RFC_1918),
    rule(v4(192, 0, 0, 0, 24), Reason::Reserved, "an IETF protocol assignment (RFC 6890 section 2.1)"),
    rule(v4(192, 0, 2, 0, 24), Reason::Documentation, "a documentation address (TEST-NET-1, RFC 5737)"),
    rule(v4(192, 88, 99, 0, 24), Reason::Reserved, "a deprecated 6to4 relay anycast address (RFC 7526)"),
    rule(v4(192, 168, 0, 0, 16), Reason::Private, RFC_1918),
    rule(v4(198, 18, 0, 0, 15), Reason::Reserved, "a benchmarking address (RFC 2544)"),
    rule(v4(198, 51, 100, 0, 24), Reason::Documentation, "a documentation address (TEST-NET-2, RFC 5737)"),
    rule(v4(203, 0, 113, 0, 24), Reason::Documentation, "a documentation address (TEST-NET-3, RFC 5737)"),
    rule(v4(224, 0, 0, 0, 4), Reason::Multicast, "a multicast address (RFC 5771)"),
    rule(v4(240, 0, 0, 0, 4), Reason::Reserved, "a reserved address (240.0.0.0/4, RFC 1112 section 4)"),
    // IPv6 (RFC 6890, the IANA IPv6 Special-Purpose and Address Space registries). Together
    // with 2000::/3 the blocks from ::/8 to ff00::/8 cover the whole address space.
    rule(v6(0, 0, 0, 0, 0, 0, 0, 0, 128), Reason::Unspecified, "the unspecified address (RFC 4291 section 2.5.2)"),
    rule(v6(0, 0, 0, 0, 0, 0, 0, 1, 128), Reason::Loopback, "the loopback address (RFC 4291 section 2.5.3)"),
    rule(v6(0x64, 0xff9b, 1, 0, 0, 0, 0, 0, 48), Reason::Reserved, "a local-use NAT64 address (RFC 8215)"),
    rule(v6(0, 0, 0, 0, 0, 0, 0, 0, 8), Reason::Reserved, IETF_RESERVED_V6),
    rule(v6(0x100, 0, 0, 0, 0, 0, 0, 0, 64), Reason::Reserved, "a discard-only address (RFC 6666)"),
    rule(v6(0x100, 0, 0, 0, 0, 0, 0, 0, 8), Reason::Reserved, IETF_RESERVED_V6),
    rule(v6(0x200, 0, 0, 0, 0, 0, 0, 0, 7), Reason::Reserved, IETF_RESERVED_V6),
    rule(v6(0x400, 0, 0, 0, 0, 0, 0, 0, 6), Reason::Reserved, IETF_RESERVED_V6),
    rule(v6(0x800, 0, 0, 0, 0, 0, 0, 0, 5), Reason::Reserved, IETF_RESERVED_V6),
    rule(v6(0x1000, 0, 0, 0, 0, 0, 0, 0, 4), Reason::Reserved, IETF_RESERVED_V6),
    rule(v6(0x2001, 0, 0, 0, 0, 0, 0, 0, 23), Reason::Reserved, "an IETF protocol assignment (RFC 2928, RFC 6890)"),
    rule(v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0, 32), Reason::Documentation, "a documentation address (RFC 3849)"),
    rule(v6(0x3fff, 0, 0, 0, 0, 0, 0, 0, 20), Reason::Documentation, "a documentation address (RFC 9637)"),
    rule(v6(0x4000, 0, 0, 0, 0, 0, 0, 0, 3), Reason::Reserved, IETF_RESERVED_V6),
    rule(v6(0x6000, 0, 0, 0, 0, 0, 0, 0, 3), Reason::Reserved, IETF_RESERVED_V6),
    rule(v6(0x8000, 0, 0, 0, 0, 0, 0, 0, 3), Reason::Reserved, IETF_RESERVED_V6),
    rule(v6(0xa000, 0, 0, 0, 0, 0, 0, 0, 3), Reason::Reserved, IETF_RESERVED_V6),
    rule(v6(0xc000, 0, 0, 0, 0, 0, 0, 0, 3), Reason::Reserved, IETF_RESERVED_V6),
    rule(v6(0xe000, 0, 0, 0, 0, 0, 0, 0, 4), Reason::Reserved, IETF_RESERVED_V6),
    rule(v6(0xf000, 0, 0, 0, 0, 0, 0, 0, 5), Reason::Reserved, IETF_RESERVED_V6),
    rule(v6(0xf800, 0, 0, 0, 0, 0, 0, 0, 6), Reason::Reserved, IETF_RESERVED_V6),
    rule(v6(0xfc00, 0, 0, 0, 0, 0, 0, 0, 7), Reason::Private, "a unique local address (RFC 4193)"),
    rule(v6(0xfe00, 0, 0, 0, 0, 0, 0, 0, 9), Reason::Reserved, IETF_RESERVED_V6),
    rule(v6(0xfe80, 0, 0, 0, 0, 0, 0, 0, 10), Reason::LinkLocal, "a link-local address (RFC 4291 section 2.5.6)"),
    rule(v6(0xfec0, 0, 0, 0, 0, 0, 0, 0, 10), Reason::Reserved, "a deprecated site-local address (RFC 3879)"),
    rule(v6(0xff00, 0, 0, 0, 0, 0, 0, 0, 8), Reason::Multicast, "a multicast address (RFC 4291 section 2.7)"),
];

/// Cloud metadata and credentials endpoints: refused even when a broad allow block covers
/// them, unless an allow entry names them exactly.
static METADATA: &[(IpAddr, &str)] = &[
    (
        IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
        "the instance metadata service of AWS, Azure, Google Cloud, Oracle Cloud, OpenStack and others",
    ),
    (IpAddr::V4(Ipv4Addr::new(169, 254, 170, 2)), "the AWS ECS task metadata and credentials endpoint"),
    (IpAddr::V4(Ipv4Addr::new(169, 254, 170, 23)), "the AWS EKS Pod Identity Agent"),
    (IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)), "the Alibaba Cloud metadata service"),
    (IpAddr::V4(Ipv4Addr::new(192, 0, 0, 192)), "the Oracle Cloud metadata service"),
    (IpAddr::V4(Ipv4Addr::new(168, 63, 129, 16)), "the Azure WireServer platform endpoint"),
    (IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)), "the AWS instance metadata service over IPv6"),
    (IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23)), "the AWS EKS Pod Identity Agent over IPv6"),
    (IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0xa9fe, 0xa9fe)), "the OpenStack metadata service over IPv6"),
];

fn rule_for(ip: IpAddr) -> Option<&'static Rule> {
    RULES.iter().find(|rule| rule.block.contains(ip))
}

fn metadata_service(ip: IpAddr) -> Option<&'static str> {
    METADATA.iter().find(|(address, _)| *address == ip).map(|(_, service)| *service)
}

/// The IPv4 address(es) an IPv6 address carries, and the length of the prefix that marks it.
struct Embedding {
    prefix_len: u8,
    first: (&'static str, Ipv4Addr),
    second: Option<(&'static str, Ipv4Addr)>,
}

impl Embedding {
    fn of(v6: Ipv6Addr) -> Option<Embedding> {
        const NAT64_WELL_KNOWN: u128 = 0x0064_ff9b << 96;
        let bits = u128::from(v6);
        let o = v6.octets();
        let last32 = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
        let single = |prefix_len, form, ipv4| Some(Embedding { prefix_len, first: (form, ipv4), second: None });
        match (bits >> 32, v6.segments()) {
            (0xffff, _) => single(96, form::IPV4_MAPPED, last32),
            // `::` and `::1` are the unspecified and loopback addresses, not IPv4-compatible.
            (0, _) if bits > 1 => single(96, form::IPV4_COMPATIBLE, last32),
            (upper, _) if upper == NAT64_WELL_KNOWN >> 32 => single(96, form::NAT64, last32),
            (_, [0x2002, ..]) => single(16, form::SIX_TO_FOUR, Ipv4Addr::new(o[2], o[3], o[4], o[5])),
            (_, [0x2001, 0, ..]) => Some(Embedding {
                prefix_len: 32,
                first: (form::TEREDO_CLIENT, Ipv4Addr::from(!u32::from(last32))),
                second: Some((form::TEREDO_SERVER, Ipv4Addr::new(o[4], o[5], o[6], o[7]))),
            }),
            _ => None,
        }
    }

    fn addresses(&self) -> impl Iterator<Item = (&'static str, Ipv4Addr)> {
        std::iter::once(self.first).chain(self.second)
    }
}

// ---------------------------------------------------------------------------------------------
// The policy
// ---------------------------------------------------------------------------------------------

/// Decides which addresses outgoing connections may reach: special-purpose addresses are
/// refused unless the allow list (`[egress] allow`) admits them. See the module documentation
/// for the ranges and the rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    allow: Vec<Cidr>,
}

impl EgressPolicy {
    /// A policy admitting, besides public addresses, those in the `allow` blocks.
    pub fn new(allow: Vec<Cidr>) -> Self {
        EgressPolicy { allow }
    }

    /// The allow list.
    pub fn allow(&self) -> &[Cidr] {
        &self.allow
    }

    /// Decides whether a connection to `ip` is permitted.
    ///
    /// # Errors
    ///
    /// [`Denied`] if `ip` is a special-purpose address that the allow list does not admit.
    pub fn check(&self, ip: IpAddr) -> Result<(), Denied> {
        self.verdict(ip).map_err(|reason| Denied { address: ip, reason })
    }

    /// Keeps the permitted addresses of a resolution, in order. An empty input gives an empty
    /// list: there is nothing to refuse, and reporting that a name resolved to nothing is the
    /// caller's business.
    ///
    /// # Errors
    ///
    /// The [`Denied`] of the first address if addresses were given but none is permitted.
    pub fn filter(&self, addrs: impl IntoIterator<Item = SocketAddr>) -> Result<Vec<SocketAddr>, Denied> {
        let mut first_denial = None;
        let allowed: Vec<SocketAddr> = addrs
            .into_iter()
            .filter(|addr| match self.check(addr.ip()) {
                Ok(()) => true,
                Err(denied) => {
                    first_denial.get_or_insert(denied);
                    false
                }
            })
            .collect();
        match first_denial {
            Some(denied) if allowed.is_empty() => Err(denied),
            _ => Ok(allowed),
        }
    }

    fn verdict(&self, ip: IpAddr) -> Result<(), Reason> {
        if metadata_service(ip).is_some() {
            return if self.names(ip) { Ok(()) } else { Err(Reason::CloudMetadata) };
        }
        if let IpAddr::V6(v6) = ip {
            if let Some(embedding) = Embedding::of(v6) {
                for (form, ipv4) in embedding.addresses() {
                    if let Err(inner) = self.verdict(IpAddr::V4(ipv4)) {
                        if !self.admits_embedding(v6, embedding.prefix_len, &inner) {
                            return Err(Reason::Embedded { form, inner: Box::new(inner), ipv4 });
                        }
                    }
                }
                return Ok(());
            }
        }
        match rule_for(ip) {
            Some(rule) if !self.allow.iter().any(|cidr| cidr.contains(ip)) => Err(rule.reason.clone()),
            _ => Ok(()),
        }
    }

    /// Whether an allow entry names exactly `ip`, as a `/32` or `/128`.
    fn names(&self, ip: IpAddr) -> bool {
        self.allow.iter().any(|cidr| cidr.is_host() && cidr.network == ip)
    }

    /// Whether the allow list admits the IPv6 form itself although its embedded IPv4 address
    /// was refused for `inner`: by an entry within the embedding prefix, or an exact entry
    /// when a metadata address is embedded.
    fn admits_embedding(&self, v6: Ipv6Addr, prefix_len: u8, inner: &Reason) -> bool {
        let ip = IpAddr::V6(v6);
        if inner.is_cloud_metadata() {
            self.names(ip)
        } else {
            self.allow.iter().any(|cidr| cidr.prefix >= prefix_len && cidr.contains(ip))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Reason::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn policy(allow: &[&str]) -> EgressPolicy {
        EgressPolicy::new(allow.iter().map(|c| c.parse().unwrap_or_else(|e| panic!("{e}"))).collect())
    }

    fn embedded(form: &'static str, inner: Reason, ipv4: &str) -> Reason {
        Embedded { form, inner: Box::new(inner), ipv4: ipv4.parse().unwrap() }
    }

    /// Asserts the reason of each denied address and that each allowed one passes.
    fn assert_decisions(policy: &EgressPolicy, denied: &[(&str, Reason)], allowed: &[&str]) {
        for (addr, reason) in denied {
            match policy.check(ip(addr)) {
                Err(d) => assert_eq!((d.address, &d.reason), (ip(addr), reason), "{addr}"),
                Ok(()) => panic!("{addr} allowed, expected {reason:?}"),
            }
        }
        for addr in allowed {
            if let Err(d) = policy.check(ip(addr)) {
                panic!("{addr} denied: {d}");
            }
        }
    }

    #[test]
    fn ipv4_ranges_are_denied_at_both_edges() {
        let denied = [
            ("0.0.0.0", Unspecified),
            ("0.0.0.1", Unspecified),
            ("0.255.255.255", Unspecified),
            ("10.0.0.0", Private),
            ("10.255.255.255", Private),
            ("100.64.0.0", SharedCgnat),
            ("100.127.255.255", SharedCgnat),
            ("127.0.0.0", Loopback),
            ("127.0.0.1", Loopback),
            ("127.255.255.255", Loopback),
            ("169.254.0.0", LinkLocal),
            ("169.254.255.255", LinkLocal),
            ("172.16.0.0", Private),
            ("172.31.255.255", Private),
            ("192.0.0.0", Reserved),
            ("192.0.0.255", Reserved),
            ("192.0.2.0", Documentation),
            ("192.0.2.255", Documentation),
            ("192.88.99.0", Reserved),
            ("192.88.99.255", Reserved),
            ("192.168.0.0", Private),
            ("192.168.255.255", Private),
            ("198.18.0.0", Reserved),
            ("198.19.255.255", Reserved),
            ("198.51.100.0", Documentation),
            ("198.51.100.255", Documentation),
            ("203.0.113.0", Documentation),
            ("203.0.113.255", Documentation),
            ("224.0.0.0", Multicast),
            ("239.255.255.255", Multicast),
            ("240.0.0.0", Reserved),
            ("255.255.255.254", Reserved),
            ("255.255.255.255", Broadcast),
        ];
        let just_outside = [
            "1.0.0.0",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "191.255.255.255",
            "192.0.1.0",
            "192.0.3.0",
            "192.88.98.255",
            "192.88.100.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "198.51.99.255",
            "198.51.101.0",
            "203.0.112.255",
            "203.0.114.0",
            "223.255.255.255",
        ];
        assert_decisions(&EgressPolicy::default(), &denied, &just_outside);
    }

    #[test]
    fn ipv6_ranges_are_denied_at_both_edges() {
        let denied = [
            ("::", Unspecified),
            ("::1", Loopback),
            ("::1:0:0:0", Reserved),    // ::/8, outside the /96 embedding forms
            ("::ffff:0:0:0", Reserved), // IPv4-translated (RFC 2765), in ::/8
            ("ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Reserved),
            ("64:ff9b:1::", Reserved),
            ("64:ff9b:1:ffff:ffff:ffff:ffff:ffff", Reserved),
            ("64:ff9b:0:0:1::", Reserved), // 64:ff9b::/32 beyond the well-known /96
            ("100::", Reserved),
            ("100::ffff:ffff:ffff:ffff", Reserved),
            ("100:0:0:1::", Reserved),
            ("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Reserved),
            ("2001:1::1", Reserved),
            ("2001:2::", Reserved), // benchmarking (RFC 5180), inside 2001::/23
            ("2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", Reserved),
            ("2001:db8::", Documentation),
            ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", Documentation),
            ("3fff::", Documentation),
            ("3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", Documentation),
            ("4000::", Reserved),
            ("5f00::1", Reserved),
            ("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Reserved),
            ("fc00::", Private),
            ("fd12:3456:789a::1", Private),
            ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Private),
            ("fe00::", Reserved),
            ("fe80::", LinkLocal),
            ("fe80::1", LinkLocal),
            ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", LinkLocal),
            ("fec0::", Reserved),
            ("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Reserved),
            ("ff00::", Multicast),
            ("ff02::1", Multicast),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Multicast),
        ];
        let allowed = [
            "2000::",
            "2001:200::",
            "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff",
            "2001:db9::",
            "2003::1",
            "3fff:1000::",
            "3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ];
        assert_decisions(&EgressPolicy::default(), &denied, &allowed);
    }

    #[test]
    fn public_addresses_are_allowed() {
        let public = ["8.8.8.8", "1.1.1.1", "9.9.9.9", "2606:4700:4700::1111", "2001:4860:4860::8888", "2a00:1450::1"];
        assert_decisions(&EgressPolicy::default(), &[], &public);
    }

    #[test]
    fn embedded_ipv4_is_extracted_and_judged() {
        let denied = [
            ("::ffff:10.0.0.1", embedded(form::IPV4_MAPPED, Private, "10.0.0.1")),
            ("::ffff:127.0.0.1", embedded(form::IPV4_MAPPED, Loopback, "127.0.0.1")),
            ("::ffff:0.0.0.0", embedded(form::IPV4_MAPPED, Unspecified, "0.0.0.0")),
            ("::ffff:255.255.255.255", embedded(form::IPV4_MAPPED, Broadcast, "255.255.255.255")),
            ("::10.0.0.1", embedded(form::IPV4_COMPATIBLE, Private, "10.0.0.1")),
            ("::2", embedded(form::IPV4_COMPATIBLE, Unspecified, "0.0.0.2")),
            ("::ffff:ffff", embedded(form::IPV4_COMPATIBLE, Broadcast, "255.255.255.255")),
            ("2002:0a00:0001::1", embedded(form::SIX_TO_FOUR, Private, "10.0.0.1")),
            ("2002:7f00:1::", embedded(form::SIX_TO_FOUR, Loopback, "127.0.0.1")),
            ("2002:c0a8:101:ffff:ffff:ffff:ffff:ffff", embedded(form::SIX_TO_FOUR, Private, "192.168.1.1")),
            ("64:ff9b::a00:1", embedded(form::NAT64, Private, "10.0.0.1")),
            ("64:ff9b::", embedded(form::NAT64, Unspecified, "0.0.0.0")),
            ("64:ff9b::ffff:ffff", embedded(form::NAT64, Broadcast, "255.255.255.255")),
            // Teredo: server 10.0.0.1 (bits 32-63), client 8.8.8.8 (last 32 bits inverted).
            ("2001:0:a00:1::f7f7:f7f7", embedded(form::TEREDO_SERVER, Private, "10.0.0.1")),
            // Server 8.8.8.8, client 192.168.1.1 (!0xc0a80101 = 0x3f57fefe).
            ("2001:0:808:808::3f57:fefe", embedded(form::TEREDO_CLIENT, Private, "192.168.1.1")),
            // The example of RFC 4380 section 4: server 65.54.227.120, client 192.0.2.45.
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", embedded(form::TEREDO_CLIENT, Documentation, "192.0.2.45")),
            // Both private: the client is reported first.
            ("2001:0:a00:1::3f57:fefe", embedded(form::TEREDO_CLIENT, Private, "192.168.1.1")),
            ("::ffff:169.254.169.254", embedded(form::IPV4_MAPPED, CloudMetadata, "169.254.169.254")),
            ("64:ff9b::a9fe:a9fe", embedded(form::NAT64, CloudMetadata, "169.254.169.254")),
            ("2002:a9fe:a9fe::", embedded(form::SIX_TO_FOUR, CloudMetadata, "169.254.169.254")),
        ];
        let allowed = [
            "::ffff:8.8.8.8",
            "::8.8.8.8",
            "2002:0808:0808::1",
            "64:ff9b::808:808",
            "64:ff9b::1.1.1.1",
            "2001:0:808:808::f7f7:f7f7",
            "2001:0:4136:e378:8000:63bf:f7f7:f7f7", // RFC 4380 server, client 8.8.8.8
        ];
        assert_decisions(&EgressPolicy::default(), &denied, &allowed);
    }

    #[test]
    fn cloud_metadata_is_denied_before_its_range() {
        let denied: Vec<(&str, Reason)> = [
            "169.254.169.254",
            "169.254.170.2",
            "169.254.170.23",
            "100.100.100.200",
            "192.0.0.192",
            "168.63.129.16",
            "fd00:ec2::254",
            "fd00:ec2::23",
            "fe80::a9fe:a9fe",
        ]
        .into_iter()
        .map(|addr| (addr, CloudMetadata))
        .collect();
        // Neighbours of the public Azure WireServer address stay public.
        assert_decisions(&EgressPolicy::default(), &denied, &["168.63.129.15", "168.63.129.17"]);
    }

    #[test]
    fn broad_allow_blocks_never_admit_cloud_metadata() {
        let broad = policy(&[
            "169.254.0.0/16",
            "169.254.169.254/31",
            "0.0.0.0/0",
            "100.64.0.0/10",
            "192.0.0.0/24",
            "168.63.129.0/24",
            "fd00::/8",
            "fd00:ec2::/32",
            "fe80::/10",
            "::/0",
        ]);
        let denied = [
            ("169.254.169.254", CloudMetadata),
            ("169.254.170.2", CloudMetadata),
            ("169.254.170.23", CloudMetadata),
            ("100.100.100.200", CloudMetadata),
            ("192.0.0.192", CloudMetadata),
            ("168.63.129.16", CloudMetadata),
            ("fd00:ec2::254", CloudMetadata),
            ("fd00:ec2::23", CloudMetadata),
            ("fe80::a9fe:a9fe", CloudMetadata),
            ("::ffff:169.254.169.254", embedded(form::IPV4_MAPPED, CloudMetadata, "169.254.169.254")),
        ];
        // The blocks do admit their other addresses.
        let allowed = ["169.254.1.1", "169.254.169.253", "10.1.2.3", "100.100.100.201", "fd00:ec2::1", "fe80::1"];
        assert_decisions(&broad, &denied, &allowed);
    }

    #[test]
    fn exact_allow_entries_admit_cloud_metadata() {
        let exact = policy(&["169.254.169.254/32", "fd00:ec2::254/128", "100.100.100.200"]);
        let denied = [
            ("169.254.170.2", CloudMetadata),
            ("fd00:ec2::23", CloudMetadata),
            ("169.254.169.253", LinkLocal),
            ("2002:a9fe:aa02::", embedded(form::SIX_TO_FOUR, CloudMetadata, "169.254.170.2")),
        ];
        let allowed = [
            "169.254.169.254",
            "fd00:ec2::254",
            "100.100.100.200",
            "::ffff:169.254.169.254", // through its embedded address
            "64:ff9b::a9fe:a9fe",
        ];
        assert_decisions(&exact, &denied, &allowed);

        // The IPv6 form admitted by its own exact entry, but not by the mapped block.
        let mapped_exact = policy(&["::ffff:169.254.169.254/128"]);
        assert_decisions(&mapped_exact, &[("169.254.169.254", CloudMetadata)], &["::ffff:169.254.169.254"]);
        let mapped_block = policy(&["::ffff:0:0/96"]);
        assert_decisions(
            &mapped_block,
            &[("::ffff:169.254.169.254", embedded(form::IPV4_MAPPED, CloudMetadata, "169.254.169.254"))],
            &["::ffff:127.0.0.1", "::ffff:10.0.0.1"],
        );
    }

    #[test]
    fn allow_list_admits_loopback_and_private_blocks() {
        let v4 = policy(&["127.0.0.0/8"]);
        assert_decisions(&v4, &[("::1", Loopback), ("10.0.0.1", Private)], &["127.0.0.1", "127.255.255.255"]);
        let v6 = policy(&["::1/128"]);
        assert_decisions(
            &v6,
            &[("127.0.0.1", Loopback), ("::2", embedded(form::IPV4_COMPATIBLE, Unspecified, "0.0.0.2"))],
            &["::1"],
        );
        let mixed = policy(&["10.0.0.0/8", "::1/128", "fd12::/16"]);
        assert_decisions(
            &mixed,
            &[("192.168.1.1", Private), ("172.16.0.1", Private), ("fd13::1", Private)],
            &["10.0.0.0", "10.255.255.255", "::1", "fd12::1", "8.8.8.8"],
        );
    }

    #[test]
    fn allow_list_admits_embedded_forms_through_either_address() {
        // Through the embedded IPv4 address.
        let v4 = policy(&["10.0.0.0/8"]);
        assert_decisions(
            &v4,
            &[("::ffff:192.168.0.1", embedded(form::IPV4_MAPPED, Private, "192.168.0.1"))],
            &["::ffff:10.0.0.1", "::10.0.0.1", "2002:a00:1::1", "64:ff9b::a00:1", "2001:0:a00:1::f7f7:f7f7"],
        );
        // Through the IPv6 address, by blocks at least as specific as the embedding prefix.
        let v6 = policy(&["::ffff:10.0.0.0/104", "2002::/16", "2001:0:a00:1::/64"]);
        assert_decisions(
            &v6,
            &[("10.0.0.1", Private), ("::ffff:192.168.0.1", embedded(form::IPV4_MAPPED, Private, "192.168.0.1"))],
            &["::ffff:10.0.0.1", "2002:7f00:1::", "2001:0:a00:1::f7f7:f7f7"],
        );
        // Catch-all IPv6 blocks do not open IPv4 special addresses.
        let broad = policy(&["::/0", "2000::/3"]);
        assert_decisions(
            &broad,
            &[
                ("::ffff:127.0.0.1", embedded(form::IPV4_MAPPED, Loopback, "127.0.0.1")),
                ("2002:7f00:1::", embedded(form::SIX_TO_FOUR, Loopback, "127.0.0.1")),
                ("64:ff9b::a00:1", embedded(form::NAT64, Private, "10.0.0.1")),
                ("2001:0:a00:1::f7f7:f7f7", embedded(form::TEREDO_SERVER, Private, "10.0.0.1")),
                ("127.0.0.1", Loopback),
            ],
            &["::1", "fd00::1", "2001:db8::1"],
        );
        // Teredo: each embedded address must be admitted.
        let server_only = policy(&["10.0.0.0/8"]);
        assert_decisions(
            &server_only,
            &[("2001:0:a00:1::3f57:fefe", embedded(form::TEREDO_CLIENT, Private, "192.168.1.1"))],
            &[],
        );
    }

    #[test]
    fn cidrs_parse_and_display() {
        for (text, network, prefix, shown) in [
            ("10.0.0.0/8", "10.0.0.0", 8, "10.0.0.0/8"),
            ("::1/128", "::1", 128, "::1/128"),
            ("192.168.1.1", "192.168.1.1", 32, "192.168.1.1/32"),
            ("::1", "::1", 128, "::1/128"),
            ("0.0.0.0/0", "0.0.0.0", 0, "0.0.0.0/0"),
            ("::/0", "::", 0, "::/0"),
            ("fe80::/10", "fe80::", 10, "fe80::/10"),
            ("::ffff:10.0.0.0/104", "::ffff:10.0.0.0", 104, "::ffff:10.0.0.0/104"),
            ("172.16.0.0/012", "172.16.0.0", 12, "172.16.0.0/12"),
        ] {
            let cidr: Cidr = text.parse().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((cidr.network(), cidr.prefix_len()), (ip(network), prefix), "{text}");
            assert_eq!(cidr.to_string(), shown);
            assert_eq!(shown.parse::<Cidr>(), Ok(cidr));
            assert_eq!(cidr.is_host(), prefix == 32 || prefix == 128, "{text}");
        }
        assert_eq!(Cidr::new(ip("10.0.0.0"), 8), "10.0.0.0/8".parse());
        assert_eq!(Cidr::host(ip("::1")), "::1/128".parse().unwrap());
        assert_eq!(
            Cidr::new(ip("10.0.0.0"), 33).unwrap_err().to_string(),
            "10.0.0.0/33: prefix length too long for an IPv4 address (at most 32)"
        );
    }

    #[test]
    fn cidr_errors_are_clear() {
        const NOT_IP: &str = "not an IP address; expected a block such as 10.0.0.0/8 or ::1/128, or a bare address";
        const V4_PREFIX: &str = "the prefix length must be a number from 0 to 32";
        const V4_TOO_LONG: &str = "prefix length too long for an IPv4 address (at most 32)";
        let invalid_v4 = CidrErrorKind::InvalidPrefix { max: 32 };
        let too_long_v4 = CidrErrorKind::PrefixTooLong { max: 32 };
        let suggestion = |s: &str| CidrErrorKind::HostBitsSet { suggestion: s.parse().unwrap() };
        for (text, kind, tail) in [
            ("garbage", CidrErrorKind::InvalidAddress, NOT_IP),
            ("10.0.0/8", CidrErrorKind::InvalidAddress, NOT_IP),
            ("010.0.0.0/8", CidrErrorKind::InvalidAddress, NOT_IP),
            ("[::1]/128", CidrErrorKind::InvalidAddress, NOT_IP),
            ("fe80::1%eth0", CidrErrorKind::InvalidAddress, NOT_IP),
            (" 10.0.0.0/8", CidrErrorKind::InvalidAddress, NOT_IP),
            ("/8", CidrErrorKind::InvalidAddress, NOT_IP),
            ("10.0.0.0/", invalid_v4.clone(), V4_PREFIX),
            ("10.0.0.0/abc", invalid_v4.clone(), V4_PREFIX),
            ("10.0.0.0/+8", invalid_v4.clone(), V4_PREFIX),
            ("10.0.0.0/-1", invalid_v4.clone(), V4_PREFIX),
            ("10.0.0.0/8 ", invalid_v4.clone(), V4_PREFIX),
            ("10.0.0.0/8/8", invalid_v4.clone(), V4_PREFIX),
            ("::/x", CidrErrorKind::InvalidPrefix { max: 128 }, "the prefix length must be a number from 0 to 128"),
            ("10.0.0.0/33", too_long_v4.clone(), V4_TOO_LONG),
            ("10.0.0.0/99999999999", too_long_v4.clone(), V4_TOO_LONG),
            (
                "::/129",
                CidrErrorKind::PrefixTooLong { max: 128 },
                "prefix length too long for an IPv6 address (at most 128)",
            ),
            ("10.0.0.1/8", suggestion("10.0.0.0/8"), "host bits set; did you mean 10.0.0.0/8?"),
            ("172.31.0.0/11", suggestion("172.0.0.0/11"), "host bits set; did you mean 172.0.0.0/11?"),
            ("1.2.3.4/0", suggestion("0.0.0.0/0"), "host bits set; did you mean 0.0.0.0/0?"),
            ("fe80::1/10", suggestion("fe80::/10"), "host bits set; did you mean fe80::/10?"),
        ] {
            let error = text.parse::<Cidr>().expect_err(text);
            assert_eq!((error.input(), error.kind()), (text, &kind), "{text}");
            assert_eq!(error.to_string(), format!("{text}: {tail}"));
        }
        let empty = "".parse::<Cidr>().unwrap_err();
        assert_eq!(empty.kind(), &CidrErrorKind::InvalidAddress);
        assert_eq!(empty.to_string(), "empty CIDR; expected a block such as 10.0.0.0/8 or ::1/128, or a bare address");
    }

    #[test]
    fn cidr_contains_its_range_only() {
        let cidr: Cidr = "172.16.0.0/12".parse().unwrap();
        assert!(cidr.contains(ip("172.16.0.0")) && cidr.contains(ip("172.31.255.255")));
        assert!(!cidr.contains(ip("172.15.255.255")) && !cidr.contains(ip("172.32.0.0")));
        assert!(!cidr.contains(ip("::ffff:172.16.0.1")), "no cross-family containment");
        let all4: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all4.contains(ip("0.0.0.0")) && all4.contains(ip("255.255.255.255")) && !all4.contains(ip("::")));
        let all6: Cidr = "::/0".parse().unwrap();
        assert!(all6.contains(ip("::")) && all6.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
        let host: Cidr = "2001:db8::1".parse().unwrap();
        assert!(host.contains(ip("2001:db8::1")) && !host.contains(ip("2001:db8::2")));
        let ula: Cidr = "fc00::/7".parse().unwrap();
        assert!(ula.contains(ip("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")) && !ula.contains(ip("fe00::")));
    }

    #[test]
    fn filter_keeps_allowed_addresses_in_order() {
        let addrs: Vec<SocketAddr> =
            ["10.0.0.1:443", "8.8.8.8:443", "[::1]:443", "[2606:4700:4700::1111]:443", "1.1.1.1:8443"]
                .iter()
                .map(|a| a.parse().unwrap())
                .collect();
        let kept = EgressPolicy::default().filter(addrs.clone()).unwrap();
        assert_eq!(kept, [addrs[1], addrs[3], addrs[4]]);
        let kept = policy(&["10.0.0.0/8"]).filter(addrs.clone()).unwrap();
        assert_eq!(kept, [addrs[0], addrs[1], addrs[3], addrs[4]]);
        assert_eq!(EgressPolicy::default().filter([]), Ok(vec![]));
    }

    #[test]
    fn filter_returns_the_first_denial_when_none_remain() {
        let addrs: Vec<SocketAddr> =
            ["192.168.1.10:443", "[::1]:443", "169.254.169.254:80"].iter().map(|a| a.parse().unwrap()).collect();
        let denied = EgressPolicy::default().filter(addrs.clone()).unwrap_err();
        assert_eq!(denied, Denied { address: ip("192.168.1.10"), reason: Private });
        let denied = policy(&["192.168.0.0/16"]).filter(addrs[1..].to_vec()).unwrap_err();
        assert_eq!(denied, Denied { address: ip("::1"), reason: Loopback });
    }

    #[test]
    fn denials_explain_themselves() {
        let p = EgressPolicy::default();
        for (addr, message) in [
            ("10.0.0.5", "10.0.0.5 is a private address (RFC 1918); add it to [egress] allow to permit it"),
            ("fd00::1", "fd00::1 is a unique local address (RFC 4193); add it to [egress] allow to permit it"),
            ("::1", "::1 is the loopback address (RFC 4291 section 2.5.3); add it to [egress] allow to permit it"),
            ("100.64.0.1", "100.64.0.1 is a shared (carrier-grade NAT) address (RFC 6598); add it to [egress] allow to permit it"),
            ("203.0.113.7", "203.0.113.7 is a documentation address (TEST-NET-3, RFC 5737); add it to [egress] allow to permit it"),
            ("4000::1", "4000::1 is an IPv6 address outside 2000::/3, reserved by the IETF (RFC 4291 section 2.4, IANA IPv6 Address Space registry); add it to [egress] allow to permit it"),
            (
                "169.254.169.254",
                "169.254.169.254 is a cloud metadata address (the instance metadata service of AWS, Azure, Google Cloud, \
                 Oracle Cloud, OpenStack and others); add 169.254.169.254/32 to [egress] allow to permit it \
                 (a broader block never admits a metadata address)",
            ),
            (
                "::ffff:10.0.0.5",
                "::ffff:10.0.0.5 is an IPv4-mapped address (RFC 4291 section 2.5.5.2) embedding 10.0.0.5, which is a \
                 private address (RFC 1918); add 10.0.0.5 to [egress] allow to permit it",
            ),
            (
                "2001:0:4136:e378:8000:63bf:3fff:fdd2",
                "2001:0:4136:e378:8000:63bf:3fff:fdd2 is a Teredo address (RFC 4380) whose client is 192.0.2.45, which \
                 is a documentation address (TEST-NET-1, RFC 5737); add 192.0.2.45 to [egress] allow to permit it",
            ),
            (
                "64:ff9b::a9fe:a9fe",
                "64:ff9b::a9fe:a9fe is a NAT64 address (well-known prefix 64:ff9b::/96, RFC 6052) embedding \
                 169.254.169.254, which is a cloud metadata address (the instance metadata service of AWS, Azure, \
                 Google Cloud, Oracle Cloud, OpenStack and others); add 169.254.169.254/32 to [egress] allow to \
                 permit it (a broader block never admits a metadata address)",
            ),
        ] {
            assert_eq!(p.check(ip(addr)).unwrap_err().to_string(), message);
        }
        // Reasons alone, and a denial built by hand whose reason does not match its block.
        assert_eq!(
            embedded(form::SIX_TO_FOUR, Private, "10.0.0.1").to_string(),
            "a 6to4 address (RFC 3056) embedding 10.0.0.1, which is a private address"
        );
        let odd = Denied { address: ip("8.8.8.8"), reason: Multicast };
        assert_eq!(odd.to_string(), "8.8.8.8 is a multicast address; add it to [egress] allow to permit it");
        assert!(embedded(form::NAT64, CloudMetadata, "169.254.169.254").is_cloud_metadata());
        assert_eq!(embedded(form::NAT64, Loopback, "127.0.0.1").root(), &Loopback);
    }

    #[test]
    fn tables_are_well_formed() {
        for rule in RULES {
            let block = rule.block;
            assert_eq!(Cidr::new(block.network(), block.prefix_len()), Ok(block), "{block} has host bits set");
            assert!(rule.what.starts_with("a ") || rule.what.starts_with("an ") || rule.what.starts_with("the "));
        }
        for (address, _) in METADATA {
            assert_eq!(EgressPolicy::default().check(*address).unwrap_err().reason, CloudMetadata, "{address}");
        }
        // Outside 2000::/3 every IPv6 address falls into some block: walk the top 8 bits.
        let global_unicast: Cidr = "2000::/3".parse().unwrap();
        for top in 0..=255u16 {
            let probe = IpAddr::V6(Ipv6Addr::new(top << 8 | 0x12, 0x3456, 0, 0, 0, 0, 0, 0x89));
            assert_eq!(rule_for(probe).is_some(), !global_unicast.contains(probe), "{probe}");
        }
    }
}
