//! `max_message_bytes`: one rule for every format and transport. The limit a sink runs with is
//! the configured value or the default of its wire format (RFC 3164: 1024) or transport (UDP:
//! 2048, RELP: 128 KiB); it must lie between the least the format's header needs and the most the transport
//! can carry, so that every record the encoder fits into it is whole and deliverable.

use super::build::Context;
use super::ConfigError;
use crate::encode::{rfc3164, rfc5424, Encoder};
use crate::transport::{relp, Endpoint};

/// RFC 5426 section 3.2: every receiver SHOULD take 2048-octet datagrams.
pub const UDP_DEFAULT: usize = 2048;
/// The largest UDP payload over IPv4: 65,535 less the 8-byte UDP and 20-byte IPv4 headers.
pub const UDP_MAX_IPV4: usize = 65_507;
/// The largest UDP payload over IPv6 (without jumbograms): 65,535 less the 8-byte UDP header
/// (the IPv6 header is not counted in its payload length).
pub const UDP_MAX_IPV6: usize = 65_527;

/// Formats whose output `max_message_bytes` bounds (Teams checks its own, larger, limit).
const BOUNDED_FORMATS: [&str; 5] = ["rfc5424", "rfc3164", "cef", "leef", "teams"];

/// The limit a sink runs with, before its encoder exists: the configured value checked against
/// the transport, or the default. `rfc3164_header` says whether the record travels behind an
/// RFC 3164 header (`format = "rfc3164"`, or CEF or LEEF with `syslog_header = "rfc3164"`).
pub fn message_limit(
    cx: &Context<'_>,
    sink: &str,
    configured: Option<usize>,
    format: &str,
    rfc3164_header: bool,
    endpoint: &Endpoint,
) -> Result<Option<usize>, ConfigError> {
    let key = format!("sinks.{sink}.max_message_bytes");
    let Some(n) = configured else {
        return Ok(match endpoint {
            _ if rfc3164_header => Some(rfc3164::DEFAULT_MAX_BYTES),
            Endpoint::Udp(_) => Some(UDP_DEFAULT),
            // A larger `syslog` command is not RELP (relp.md: DATA is at most 128 KiB).
            Endpoint::Relp(_) => Some(relp::MAX_DATA),
            _ => None,
        });
    };
    if !BOUNDED_FORMATS.contains(&format) {
        return Err(cx.error(key, format!("applies to format = {} only, not {format:?}", BOUNDED_FORMATS.join(" or "))));
    }
    if n < rfc5424::MIN_MESSAGE_BYTES {
        return Err(cx.error(
            key,
            format!("expected at least {} (RFC 5426 section 3.2), found {n}", rfc5424::MIN_MESSAGE_BYTES),
        ));
    }
    if matches!(endpoint, Endpoint::Relp(_)) && n > relp::MAX_DATA {
        return Err(cx.error(
            key,
            format!("expected at most {} (the largest RELP frame data, relp.md), found {n}", relp::MAX_DATA),
        ));
    }
    if let Endpoint::Udp(target) = endpoint {
        if rfc3164_header && n > rfc3164::DEFAULT_MAX_BYTES {
            return Err(cx.error(
                key,
                format!(
                    "expected at most {} over UDP behind an RFC 3164 header (RFC 3164 section 4.1: the packet MUST \
                     be 1024 bytes or less), found {n}; use rfc5424 or tcp:// for longer messages",
                    rfc3164::DEFAULT_MAX_BYTES
                ),
            ));
        }
        let (most, family) = datagram_max(&target.host);
        if n > most {
            return Err(
                cx.error(key, format!("expected at most {most} (the largest UDP datagram {family}), found {n}"))
            );
        }
    }
    Ok(Some(n))
}

/// The largest datagram to `host`: IPv6 literals may use the IPv6 maximum; a name may resolve
/// to either family, and an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) travels over IPv4, so
/// both get the IPv4 one, which every path can carry.
fn datagram_max(host: &str) -> (usize, &'static str) {
    match host.parse::<std::net::Ipv6Addr>() {
        Ok(address) if address.to_ipv4_mapped().is_some() => (UDP_MAX_IPV4, "over IPv4, which this address maps to"),
        Ok(_) => (UDP_MAX_IPV6, "over IPv6"),
        Err(_) => (UDP_MAX_IPV4, "over IPv4, which a host name may resolve to"),
    }
}

/// Checks that `limit` holds the longest header `encoder` can write, so that fitting a record
/// into it only ever shortens what may be shortened.
pub fn check_holds_header(
    cx: &Context<'_>,
    sink: &str,
    limit: Option<usize>,
    configured: bool,
    encoder: &Encoder,
) -> Result<(), ConfigError> {
    let (Some(limit), Some(least)) = (limit, encoder.min_message_bytes()) else {
        return Ok(());
    };
    if limit >= least {
        return Ok(());
    }
    let what = if configured { "found" } else { "the default is" };
    Err(cx.error(
        format!("sinks.{sink}.max_message_bytes"),
        format!(
            "expected at least {least} for this {} sink: its longest header (HOSTNAME up to 255 bytes, the event \
             type, the configured fields) must fit whole; {what} {limit}",
            encoder.name()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagram_maxima_follow_the_address_family() {
        assert_eq!(datagram_max("::1").0, UDP_MAX_IPV6);
        assert_eq!(datagram_max("127.0.0.1").0, UDP_MAX_IPV4);
        assert_eq!(datagram_max("siem.example.net").0, UDP_MAX_IPV4);
        assert_eq!(datagram_max("::ffff:10.0.0.1").0, UDP_MAX_IPV4);
    }

    /// The exact boundaries, through the whole config: the largest datagram is accepted, one
    /// byte more is refused, for each address family.
    #[test]
    fn udp_limits_are_accepted_up_to_the_datagram_maximum_and_refused_one_above() {
        let parse = |host: &str, limit: usize| {
            let text =
                format!("[sinks.s]\nformat = \"rfc5424\"\nurl = \"udp://{host}:514\"\nmax_message_bytes = {limit}\n");
            crate::config::Config::parse(&text, "t.toml")
        };
        for (host, most) in [("127.0.0.1", UDP_MAX_IPV4), ("[::1]", UDP_MAX_IPV6), ("[::ffff:127.0.0.1]", UDP_MAX_IPV4)]
        {
            assert!(parse(host, most).is_ok(), "{host}: {most} refused");
            let error = parse(host, most + 1).expect_err(host);
            assert_eq!(error.key, "sinks.s.max_message_bytes");
            assert!(error.message.contains(&format!("expected at most {most}")), "{host}: {}", error.message);
        }
    }
}
