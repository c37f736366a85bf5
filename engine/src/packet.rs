//! Engine.IO v4 packets and long-polling payloads.
//!
//! A packet is a type digit followed by its data: `0` open, `1` close,
//! `2` ping, `3` pong, `4` message, `5` upgrade, `6` noop. Over WebSocket a
//! text frame holds one packet and a binary frame holds one binary message.
//! Over long-polling a payload is packets joined by the record separator
//! `\x1e`, a binary message written as `b` followed by its base64.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use bytes::{BufMut, Bytes, BytesMut};
use engineioxide_core::Str;

use crate::frame::frame_payload;

/// The payload separator of long-polling.
pub(crate) const SEPARATOR: u8 = 0x1e;

/// A packet the server sends or receives. Public for the sessions without a
/// transport that the application's tests read from (`Socket::new_dummy_piped`).
#[derive(Debug, Clone, PartialEq)]
pub enum Packet {
    /// `0` and its JSON: the handshake.
    Open(Str),
    /// `1`.
    Close,
    /// `2`.
    Ping,
    /// `3`.
    Pong,
    /// `2probe`: the first packet of an upgrade.
    PingProbe,
    /// `3probe`: its answer.
    PongProbe,
    /// `4` and its text.
    Message(Str),
    /// A binary message.
    Binary(Bytes),
    /// `5`: the upgrade is complete.
    Upgrade,
    /// `6`.
    Noop,
    /// A message already framed for WebSocket (header and `4` included):
    /// written as is. A broadcast's frame is made once and shared.
    WsFrame(Bytes),
}

/// Input that is not an Engine.IO v4 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PacketError(pub(crate) &'static str);

impl std::fmt::Display for PacketError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for PacketError {}

impl Packet {
    /// Decodes one text packet (a WebSocket text frame or one record of a
    /// polling payload). `b` records are binary only within payloads.
    pub(crate) fn decode_text(text: Str, in_payload: bool) -> Result<Packet, PacketError> {
        let bytes = text.as_bytes();
        let Some(&kind) = bytes.first() else {
            return Err(PacketError("empty packet"));
        };
        let rest = &bytes[1..];
        let packet = match kind {
            b'1' if rest.is_empty() => Packet::Close,
            b'2' if rest.is_empty() => Packet::Ping,
            b'2' if rest == b"probe" => Packet::PingProbe,
            b'3' if rest.is_empty() => Packet::Pong,
            b'3' if rest == b"probe" => Packet::PongProbe,
            b'4' => Packet::Message(text.slice(1..)),
            b'5' if rest.is_empty() => Packet::Upgrade,
            b'6' if rest.is_empty() => Packet::Noop,
            b'b' if in_payload => Packet::Binary(
                STANDARD
                    .decode(rest)
                    .map_err(|_| PacketError("invalid base64 in a binary packet"))?
                    .into(),
            ),
            b'0'..=b'6' => return Err(PacketError("unexpected data after the packet type")),
            _ => return Err(PacketError("unknown packet type")),
        };
        Ok(packet)
    }

    /// Appends the text form of the packet (a binary one as `b` + base64).
    pub(crate) fn encode_text(&self, out: &mut BytesMut) {
        match self {
            Packet::Open(open) => {
                out.put_u8(b'0');
                out.put_slice(open.as_bytes());
            }
            Packet::Close => out.put_u8(b'1'),
            Packet::Ping => out.put_u8(b'2'),
            Packet::Pong => out.put_u8(b'3'),
            Packet::PingProbe => out.put_slice(b"2probe"),
            Packet::PongProbe => out.put_slice(b"3probe"),
            Packet::Message(msg) => {
                out.put_u8(b'4');
                out.put_slice(msg.as_bytes());
            }
            Packet::Binary(data) => {
                out.put_u8(b'b');
                let start = out.len();
                let len = base64::encoded_len(data.len(), true).unwrap_or(0);
                out.resize(start + len, 0);
                let written = STANDARD.encode_slice(data, &mut out[start..]).unwrap_or(0);
                out.truncate(start + written);
            }
            Packet::Upgrade => out.put_u8(b'5'),
            Packet::Noop => out.put_u8(b'6'),
            // Framed for a session that was upgrading; its payload is the
            // packet's text.
            Packet::WsFrame(frame) => out.put_slice(frame_payload(frame)),
        }
    }

    /// The length of the text form, for sizing buffers.
    pub(crate) fn text_len(&self) -> usize {
        match self {
            Packet::Open(s) => 1 + s.len(),
            Packet::Message(s) => 1 + s.len(),
            Packet::Binary(b) => 1 + base64::encoded_len(b.len(), true).unwrap_or(0),
            Packet::PingProbe | Packet::PongProbe => 6,
            Packet::WsFrame(frame) => frame_payload(frame).len(),
            _ => 1,
        }
    }
}

/// Encodes packets as one long-polling payload.
pub(crate) fn encode_payload<'a>(packets: impl Iterator<Item = &'a Packet> + Clone) -> Bytes {
    let len: usize = packets.clone().map(|p| p.text_len() + 1).sum();
    let mut out = BytesMut::with_capacity(len);
    for (i, packet) in packets.enumerate() {
        if i > 0 {
            out.put_u8(SEPARATOR);
        }
        packet.encode_text(&mut out);
    }
    out.freeze()
}

/// Decodes a long-polling payload. The whole payload is refused if one
/// record is invalid.
pub(crate) fn decode_payload(body: Bytes) -> Result<Vec<Packet>, PacketError> {
    let text = String::from_utf8(body.into()).map_err(|_| PacketError("payload is not UTF-8"))?;
    let text = Str::from(text);
    let mut packets = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    loop {
        let end = bytes[start..]
            .iter()
            .position(|&b| b == SEPARATOR)
            .map_or(bytes.len(), |i| start + i);
        packets.push(Packet::decode_text(text.slice(start..end), true)?);
        if end == bytes.len() {
            return Ok(packets);
        }
        start = end + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_of_text_and_binary_packets_round_trips() {
        let packets = vec![
            Packet::Message("hello".into()),
            Packet::Binary(Bytes::from_static(&[1, 2, 3, 4])),
            Packet::Ping,
        ];
        let payload = encode_payload(packets.iter());
        assert_eq!(&payload[..], b"4hello\x1ebAQIDBA==\x1e2");
        assert_eq!(decode_payload(payload).unwrap(), packets);
    }

    #[test]
    fn a_message_keeps_its_data_without_the_type_prefix() {
        assert_eq!(
            Packet::decode_text("440{}".into(), false).unwrap(),
            Packet::Message("40{}".into())
        );
        assert_eq!(
            Packet::decode_text("4".into(), false).unwrap(),
            Packet::Message("".into())
        );
    }

    #[test]
    fn probes_and_control_packets_decode() {
        assert_eq!(
            Packet::decode_text("2probe".into(), false),
            Ok(Packet::PingProbe)
        );
        assert_eq!(
            Packet::decode_text("3probe".into(), false),
            Ok(Packet::PongProbe)
        );
        assert_eq!(Packet::decode_text("5".into(), false), Ok(Packet::Upgrade));
        assert_eq!(Packet::decode_text("6".into(), false), Ok(Packet::Noop));
        assert_eq!(Packet::decode_text("1".into(), false), Ok(Packet::Close));
    }

    #[test]
    fn invalid_packets_are_refused() {
        for bad in ["", "abc", "7", "1x", "2probex", "bAQID"] {
            assert!(Packet::decode_text(bad.into(), false).is_err(), "{bad:?}");
        }
        assert!(decode_payload(Bytes::from_static(b"4ok\x1eabc")).is_err());
        assert!(decode_payload(Bytes::from_static(b"b!!!")).is_err());
        assert!(decode_payload(Bytes::from_static(b"4ok\x1e")).is_err());
        assert!(decode_payload(Bytes::from_static(&[b'4', 0xff])).is_err());
    }
}
