//! Transports: how encoded messages reach a destination. They know nothing of formats.

pub mod egress;
pub mod endpoint;
pub mod framing;
pub mod http;
pub mod outq;
pub mod relp;
pub mod stream;
pub mod tls;
pub mod udp;
pub mod writer;

pub use endpoint::{Endpoint, HostPort, KafkaTarget};
pub use framing::Framing;
