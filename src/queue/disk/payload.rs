//! What a record's payload holds: the event as one compact JSON object (its [`Event::json`]).
//!
//! The fields already carry the `id` and `timestamp` filled in on receipt, so an event read
//! back after a restart keeps both; decoding it again is the same [`Event::decode`] the input
//! uses, so a replayed event is indistinguishable from the original.

use crate::event::{DecodeError, Event};
use crate::timestamp::Timestamp;

/// Appends the payload for `event` to `out`.
pub fn encode_into(event: &Event, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    out.extend_from_slice(event.json().as_bytes());
    Ok(())
}

/// The payload for `event`.
#[cfg(test)]
pub fn encode(event: &Event) -> Result<Vec<u8>, serde_json::Error> {
    let mut payload = Vec::new();
    encode_into(event, &mut payload)?;
    Ok(payload)
}

/// The event a payload holds. The receive time only matters for events without a timestamp,
/// and stored events always have one.
pub fn decode(payload: &[u8]) -> Result<Event, DecodeError> {
    Event::decode(payload, Timestamp::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_generated_id_and_timestamp() {
        let event =
            Event::decode(br#"{"event":"x","severity":"high","data":{"a":[1,2]}}"#, Timestamp::now()).expect("valid");
        let again = decode(&encode(&event).expect("serializes")).expect("decodes");
        assert_eq!(again.id(), event.id());
        // The filled-in timestamp has microseconds, as every output shows it.
        assert_eq!(again.timestamp().to_string(), event.timestamp().to_string());
        assert_eq!(again.json(), event.json());
        assert_eq!(again.severity(), event.severity());
    }
}
