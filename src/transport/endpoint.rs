//! Sink URLs: `udp://`, `tcp://`, `tls://`, `relp://`, `kafka://`, `kafkas://`, webhooks,
//! `file://`, `console` and `store`.

use std::fmt;
use std::path::PathBuf;

use super::http::WebhookUrl;

/// Where a sink sends, as named by its `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Udp(HostPort),
    Tcp(HostPort),
    Tls(HostPort),
    /// RELP (rsyslog's Reliable Event Logging Protocol) over TCP, or TLS with the sink's `tls`.
    Relp(HostPort),
    /// A Kafka topic on a cluster (`kafka://`, or `kafkas://` for TLS with the sink's `tls`).
    Kafka(KafkaTarget),
    /// A webhook (`http://` or `https://`).
    Http(WebhookUrl),
    /// Appends to a local file (for debugging and local archives).
    File(PathBuf),
    /// Writes to standard output.
    Console,
    /// Keeps events in the sink's retained store for consumers to pull (`url = "store"`).
    Store,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Udp(target) => write!(f, "udp://{target}"),
            Endpoint::Tcp(target) => write!(f, "tcp://{target}"),
            Endpoint::Tls(target) => write!(f, "tls://{target}"),
            Endpoint::Relp(target) => write!(f, "relp://{target}"),
            Endpoint::Kafka(target) => write!(f, "{target}"),
            Endpoint::Http(url) => write!(f, "{url}"),
            Endpoint::File(path) => write!(f, "file://{}", path.display()),
            Endpoint::Console => f.write_str("console"),
            Endpoint::Store => f.write_str("store"),
        }
    }
}

/// A host (name or IP literal, without brackets) and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The brokers a Kafka sink bootstraps from, and the topic it produces to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaTarget {
    /// Bootstrap brokers, in the order given: the client asks them for the cluster's metadata
    /// and then talks to whichever brokers lead the topic's partitions.
    pub brokers: Vec<HostPort>,
    pub topic: String,
    /// `kafkas://`: every broker connection uses TLS.
    pub tls: bool,
}

impl fmt::Display for KafkaTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.tls { "kafkas://" } else { "kafka://" })?;
        for (i, broker) in self.brokers.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{broker}")?;
        }
        write!(f, "/{}", self.topic)
    }
}

/// Default Kafka broker port, for `kafka://` and `kafkas://` alike (managed clusters commonly
/// serve TLS on 9092 too).
pub const KAFKA_PORT: u16 = 9092;
/// Longest Kafka topic name (Kafka's `Topic.MAX_NAME_LENGTH`).
pub const KAFKA_TOPIC_MAX: usize = 249;

/// What a valid URL looks like, for error messages.
pub const EXPECTED: &str = "a URL such as udp://host:514, tcp://host:514, tls://host:6514, relp://host:2514, \
     kafka://host:9092/topic, https://host/path, file:///var/log/events.log, console or store";

impl Endpoint {
    /// Parses a sink URL. The port defaults to 514 for udp and tcp (RFC 5426, common practice),
    /// 6514 for tls (RFC 5425 section 4.1) and 2514 for relp (rsyslog's examples; RELP has no
    /// assigned port).
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        match url {
            "console" => return Ok(Endpoint::Console),
            "store" => return Ok(Endpoint::Store),
            _ => {}
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(format!("expected {EXPECTED}, found {url:?}"));
        };
        match scheme {
            "udp" => parse_host_port(rest, 514).map(Endpoint::Udp),
            "tcp" => parse_host_port(rest, 514).map(Endpoint::Tcp),
            "tls" => parse_host_port(rest, 6514).map(Endpoint::Tls),
            "relp" => parse_host_port(rest, 2514).map(Endpoint::Relp),
            "kafka" => parse_kafka(rest, false).map(Endpoint::Kafka),
            "kafkas" => parse_kafka(rest, true).map(Endpoint::Kafka),
            "http" | "https" => WebhookUrl::parse(url).map(Endpoint::Http),
            "file" if rest.starts_with('/') && rest.len() > 1 => Ok(Endpoint::File(PathBuf::from(rest))),
            "file" => Err(format!("expected an absolute path such as file:///var/log/events.log, found {url:?}")),
            other => Err(format!("unsupported scheme {other:?}: expected {EXPECTED}")),
        }
        .map_err(|reason| if reason.contains(url) { reason } else { format!("{reason} in {url:?}") })
    }

    /// Short name of the transport, for messages and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Endpoint::Udp(_) => "udp",
            Endpoint::Tcp(_) => "tcp",
            Endpoint::Tls(_) => "tls",
            Endpoint::Relp(_) => "relp",
            Endpoint::Kafka(target) if target.tls => "kafkas",
            Endpoint::Kafka(_) => "kafka",
            Endpoint::Http(url) if url.is_https() => "https",
            Endpoint::Http(_) => "http",
            Endpoint::File(_) => "file",
            Endpoint::Console => "console",
            Endpoint::Store => "store",
        }
    }
}

/// `broker[,broker...]/topic`; a topic name is 1-249 of `[A-Za-z0-9._-]` and not `.` or `..`,
/// as Kafka itself requires.
fn parse_kafka(rest: &str, tls: bool) -> Result<KafkaTarget, String> {
    let Some((brokers, topic)) = rest.split_once('/') else {
        return Err("expected the topic after the brokers, as in kafka://host:9092/topic".to_owned());
    };
    let valid_topic = !topic.is_empty()
        && topic.len() <= KAFKA_TOPIC_MAX
        && topic != "."
        && topic != ".."
        && topic.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !valid_topic {
        return Err(format!(
            "expected a topic name of 1-{KAFKA_TOPIC_MAX} letters, digits, '.', '_' or '-' (not \".\" or \"..\"), found {topic:?}"
        ));
    }
    let brokers = brokers
        .split(',')
        .map(|broker| {
            if broker.is_empty() {
                return Err("expected a comma-separated list of brokers, found an empty one".to_owned());
            }
            parse_host_port(broker, KAFKA_PORT)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(KafkaTarget { brokers, topic: topic.to_owned(), tls })
}

fn parse_host_port(rest: &str, default_port: u16) -> Result<HostPort, String> {
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#', '@']) {
        return Err("expected only host and port (no path, query, fragment or user)".to_owned());
    }
    let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or("unclosed '[' in IPv6 address")?;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("{host:?} is not an IPv6 address"));
        }
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':').ok_or("expected ':' and a port after ']'")?)),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => {
                return Err("IPv6 addresses must be in brackets, e.g. tcp://[::1]:514".to_owned())
            }
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err("missing host".to_owned());
    }
    let port = match port {
        None => default_port,
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port != 0 => port,
            _ => return Err(format!("port must be 1-65535, found {text:?}")),
        },
    };
    Ok(HostPort { host: host.to_owned(), port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(host: &str, port: u16) -> HostPort {
        HostPort { host: host.to_owned(), port }
    }

    #[test]
    fn parses_every_scheme_with_default_ports() {
        assert_eq!(Endpoint::parse("udp://10.0.0.1"), Ok(Endpoint::Udp(hp("10.0.0.1", 514))));
        assert_eq!(Endpoint::parse("tcp://siem.example:1514"), Ok(Endpoint::Tcp(hp("siem.example", 1514))));
        assert_eq!(Endpoint::parse("tls://siem.example"), Ok(Endpoint::Tls(hp("siem.example", 6514))));
        assert_eq!(Endpoint::parse("relp://siem.example"), Ok(Endpoint::Relp(hp("siem.example", 2514))));
        assert_eq!(Endpoint::parse("relp://[::1]:20514"), Ok(Endpoint::Relp(hp("::1", 20514))));
        assert_eq!(Endpoint::parse("tls://[::1]:6514/"), Ok(Endpoint::Tls(hp("::1", 6514))));
        assert_eq!(Endpoint::parse("tcp://[fe80::1]"), Ok(Endpoint::Tcp(hp("fe80::1", 514))));
        assert_eq!(Endpoint::parse("file:///var/log/x.log"), Ok(Endpoint::File("/var/log/x.log".into())));
        assert_eq!(Endpoint::parse("console"), Ok(Endpoint::Console));
        assert_eq!(hp("::1", 1).to_string(), "[::1]:1");
    }

    #[test]
    fn parses_kafka_brokers_and_topic() {
        let parsed = Endpoint::parse("kafkas://k1:9093,[::1],k3/security.events-v1_x").expect("valid");
        let expected = KafkaTarget {
            brokers: vec![hp("k1", 9093), hp("::1", KAFKA_PORT), hp("k3", KAFKA_PORT)],
            topic: "security.events-v1_x".to_owned(),
            tls: true,
        };
        assert_eq!(parsed, Endpoint::Kafka(expected));
        assert_eq!(parsed.kind(), "kafkas");
        assert_eq!(parsed.to_string(), "kafkas://k1:9093,[::1]:9092,k3:9092/security.events-v1_x");
        assert!(Endpoint::parse(&format!("kafka://h/{}", "t".repeat(KAFKA_TOPIC_MAX))).is_ok());
        assert!(Endpoint::parse(&format!("kafka://h/{}", "t".repeat(KAFKA_TOPIC_MAX + 1))).is_err());
    }

    #[test]
    fn rejects_malformed_urls_with_a_reason() {
        for (url, reason) in [
            ("siem:514", "expected a URL"),
            ("ftp://x", "unsupported scheme \"ftp\""),
            ("tcp://", "missing host"),
            ("tcp://:514", "missing host"),
            ("tcp://host:0", "port must be 1-65535"),
            ("tcp://host:99999", "port must be 1-65535"),
            ("tcp://host:abc", "port must be 1-65535"),
            ("tcp://::1:514", "IPv6 addresses must be in brackets"),
            ("tcp://[::1", "unclosed"),
            ("tcp://[nope]:1", "not an IPv6 address"),
            ("tcp://host:1/path", "no path"),
            ("file://relative.log", "absolute path"),
            ("kafka://host:9092", "expected the topic"),
            ("kafka://host:9092/", "expected a topic name"),
            ("kafka://host/a b", "expected a topic name"),
            ("kafka://host/..", "expected a topic name"),
            ("kafka://a:1,,b:2/t", "empty one"),
            ("kafka://a:1,b:x/t", "port must be 1-65535"),
        ] {
            let error = Endpoint::parse(url).expect_err(url);
            assert!(error.contains(reason), "{url}: {error}");
        }
    }
}
