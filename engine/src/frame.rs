//! WebSocket framing (RFC 6455), the server's side of it, written here: a
//! server connection needs a small part of the RFC and no buffers of its own.
//!
//! This is the layer below the packets and the transports. It knows bytes,
//! frames and a connection's stream, nothing of sessions: the packet codec
//! reads the payload of a frame made here (`Packet::WsFrame`), a socket frames
//! its messages here when they are emitted, and the WebSocket transport
//! (`ws`) reads and writes its connection through [`Conn`].
//!
//! While a connection is idle it holds no read or write buffer: reads go to a
//! stack buffer first and are copied to the heap only while a frame is
//! incomplete, and frames are written from the queued bytes themselves.
//!
//! Messages queued for a WebSocket session are framed when they are emitted.
//! A broadcast emits the same `Str` to every recipient in turn on one
//! thread, so the frame made for the first is reused for the others
//! ([`frame_message`]): one encoding, the same bytes written to all.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Poll, ready};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use engineioxide_core::Str;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::config::EngineIoConfig;

const OP_CONTINUATION: u8 = 0x0;
pub(crate) const OP_TEXT: u8 = 0x1;
pub(crate) const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
pub(crate) const OP_PONG: u8 = 0xa;

/// Bytes read at once into the stack buffer.
const READ_CHUNK: usize = 4096;

/// A server frame (never masked) holding `parts` back to back.
pub(crate) fn frame(opcode: u8, parts: &[&[u8]]) -> Bytes {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = BytesMut::with_capacity(10 + len);
    out.put_u8(0x80 | opcode);
    if len < 126 {
        out.put_u8(len as u8);
    } else if len <= 0xffff {
        out.put_u8(126);
        out.put_u16(len as u16);
    } else {
        out.put_u8(127);
        out.put_u64(len as u64);
    }
    for part in parts {
        out.put_slice(part);
    }
    out.freeze()
}

/// The payload of a frame made by [`frame`].
pub(crate) fn frame_payload(frame: &[u8]) -> &[u8] {
    let header = match frame.get(1) {
        Some(126) => 4,
        Some(127) => 10,
        Some(_) => 2,
        None => return &[],
    };
    frame.get(header..).unwrap_or(&[])
}

thread_local! {
    /// The last message framed on this thread, with its frame. It keeps the
    /// message's bytes alive, so the same address and length mean the same
    /// message.
    static LAST_FRAME: RefCell<Option<(Str, Bytes)>> = const { RefCell::new(None) };
}

/// The text frame of a message packet (`4` + `msg`), made once for all the
/// recipients a broadcast hands the same message to.
pub(crate) fn frame_message(msg: &Str) -> Bytes {
    LAST_FRAME.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((cached, frame)) = &*last
            && cached.as_ptr() == msg.as_ptr()
            && cached.len() == msg.len()
        {
            return frame.clone();
        }
        let made = frame(OP_TEXT, &[b"4", msg.as_bytes()]);
        *last = Some((msg.clone(), made.clone()));
        made
    })
}

/// Why a connection failed.
#[derive(Debug)]
pub(crate) enum WsError {
    /// The stream failed or ended.
    Io,
    /// The client broke the RFC (unmasked, bad opcode, bad UTF-8, ...).
    Protocol,
    /// A frame or a message over its bound.
    TooLarge,
}

impl WsError {
    /// The close code the server answers the failure with.
    pub(crate) fn close_code(&self) -> u16 {
        match self {
            WsError::Io => 1006,
            WsError::Protocol => 1002,
            WsError::TooLarge => 1009,
        }
    }
}

impl From<io::Error> for WsError {
    fn from(_: io::Error) -> Self {
        WsError::Io
    }
}

/// What a read brings: a message or a control frame to answer.
pub(crate) enum Incoming {
    Text(Str),
    Binary(Bytes),
    Ping(Bytes),
    Close,
}

/// A server-side WebSocket connection.
pub(crate) struct Conn<S> {
    io: S,
    /// Bytes of an incomplete frame; empty (and unallocated) between frames.
    rbuf: BytesMut,
    /// A fragmented message being assembled: its opcode and data.
    fragments: Option<(u8, BytesMut)>,
    max_frame: usize,
    max_message: usize,
    read_chunk: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub(crate) fn new(io: S, config: &EngineIoConfig) -> Self {
        Self {
            io,
            rbuf: BytesMut::new(),
            fragments: None,
            max_frame: config.ws_max_frame_size,
            max_message: config.ws_max_message_size,
            read_chunk: config.ws_read_buffer_size.clamp(64, READ_CHUNK),
        }
    }

    /// The next message or control frame; `None` at the end of the stream.
    /// Cancel-safe: bytes read are kept in `rbuf` at once.
    pub(crate) async fn next(&mut self) -> Result<Option<Incoming>, WsError> {
        loop {
            if let Some(incoming) = self.parse()? {
                return Ok(Some(incoming));
            }
            if self.fill().await? == 0 {
                return Ok(None);
            }
        }
    }

    /// Reads what is available. With nothing pending it reads into the stack
    /// and copies out what came, so an idle connection owns no read buffer.
    async fn fill(&mut self) -> io::Result<usize> {
        poll_fn(|cx| {
            if !self.rbuf.is_empty() {
                return tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.rbuf);
            }
            let mut chunk = [0u8; READ_CHUNK];
            let mut buf = ReadBuf::new(&mut chunk[..self.read_chunk]);
            ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf))?;
            self.rbuf.extend_from_slice(buf.filled());
            Poll::Ready(Ok(buf.filled().len()))
        })
        .await
    }

    /// Takes one complete frame out of `rbuf`, if there is one.
    fn parse(&mut self) -> Result<Option<Incoming>, WsError> {
        loop {
            let Some((header_len, opcode, fin, len, mask)) = self.header()? else {
                return Ok(None);
            };
            let total = header_len + len;
            if self.rbuf.len() < total {
                self.rbuf.reserve(total - self.rbuf.len());
                return Ok(None);
            }
            let mut payload = self.rbuf.split_to(total);
            if self.rbuf.is_empty() {
                // Drop the handle sharing the frame's allocation.
                self.rbuf = BytesMut::new();
            }
            payload.advance(header_len);
            for (i, byte) in payload.iter_mut().enumerate() {
                *byte ^= mask[i % 4];
            }
            match opcode {
                OP_TEXT | OP_BINARY if self.fragments.is_some() => return Err(WsError::Protocol),
                OP_TEXT | OP_BINARY if !fin => self.fragments = Some((opcode, payload)),
                OP_TEXT | OP_BINARY => return message(opcode, payload).map(Some),
                OP_CONTINUATION => {
                    let (kind, mut data) = self.fragments.take().ok_or(WsError::Protocol)?;
                    if data.len() + payload.len() > self.max_message {
                        return Err(WsError::TooLarge);
                    }
                    data.extend_from_slice(&payload);
                    if fin {
                        return message(kind, data).map(Some);
                    }
                    self.fragments = Some((kind, data));
                }
                OP_CLOSE => return Ok(Some(Incoming::Close)),
                OP_PING => return Ok(Some(Incoming::Ping(payload.freeze()))),
                OP_PONG => {}
                _ => return Err(WsError::Protocol),
            }
        }
    }

    /// The header at the start of `rbuf`: its length, opcode, fin bit,
    /// payload length and mask key.
    #[allow(clippy::type_complexity)]
    fn header(&self) -> Result<Option<(usize, u8, bool, usize, [u8; 4])>, WsError> {
        let buf = &self.rbuf[..];
        let [b0, b1, ..] = *buf else {
            return Ok(None);
        };
        let (fin, rsv, opcode) = (b0 & 0x80 != 0, b0 & 0x70, b0 & 0x0f);
        // Clients must mask; no extension is negotiated.
        if rsv != 0 || b1 & 0x80 == 0 {
            return Err(WsError::Protocol);
        }
        let (ext, len7) = match b1 & 0x7f {
            126 => (2, None),
            127 => (8, None),
            n => (0, Some(n as u64)),
        };
        let header_len = 2 + ext + 4;
        if buf.len() < header_len {
            return Ok(None);
        }
        let len = match len7 {
            Some(n) => n,
            None if ext == 2 => u16::from_be_bytes([buf[2], buf[3]]) as u64,
            None => u64::from_be_bytes(buf[2..10].try_into().map_err(|_| WsError::Protocol)?),
        };
        if opcode >= OP_CLOSE && (!fin || len > 125) {
            return Err(WsError::Protocol);
        }
        if len > self.max_frame as u64 || len > self.max_message as u64 {
            return Err(WsError::TooLarge);
        }
        let mask = [
            buf[header_len - 4],
            buf[header_len - 3],
            buf[header_len - 2],
            buf[header_len - 1],
        ];
        Ok(Some((header_len, opcode, fin, len as usize, mask)))
    }

    pub(crate) async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.io.write_all(bytes).await?;
        self.io.flush().await
    }

    /// Writes frames, in one write call when there are several.
    pub(crate) async fn write_frames(&mut self, frames: &[Bytes]) -> io::Result<()> {
        match frames {
            [] => Ok(()),
            [one] => self.write(one).await,
            many => {
                let mut all = BytesMut::with_capacity(many.iter().map(|f| f.len()).sum());
                for frame in many {
                    all.extend_from_slice(frame);
                }
                self.write(&all).await
            }
        }
    }

    /// Sends a close frame and ends the stream.
    pub(crate) async fn close(&mut self, code: u16) {
        let _ = self.write(&frame(OP_CLOSE, &[&code.to_be_bytes()])).await;
        let _ = self.io.shutdown().await;
    }
}

fn message(opcode: u8, data: BytesMut) -> Result<Incoming, WsError> {
    if opcode == OP_BINARY {
        return Ok(Incoming::Binary(data.freeze()));
    }
    let text = String::from_utf8(data.into()).map_err(|_| WsError::Protocol)?;
    Ok(Incoming::Text(Str::from(text)))
}

/// Drains a stream until its end, for tests that must see the close.
#[cfg(test)]
async fn read_to_end<S: AsyncRead + Unpin>(mut io: S) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    let _ = io.read_to_end(&mut out).await;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_their_length_in_the_shortest_form() {
        assert_eq!(&frame(OP_TEXT, &[b"4", b"hi"])[..], b"\x81\x034hi");
        let mid = frame(OP_BINARY, &[&[0u8; 300]]);
        assert_eq!(&mid[..4], &[0x82, 126, 1, 44]);
        assert_eq!(frame_payload(&mid).len(), 300);
        let big = frame(OP_BINARY, &[&vec![0u8; 70_000]]);
        assert_eq!(big[1], 127);
        assert_eq!(frame_payload(&big).len(), 70_000);
    }

    #[test]
    fn a_broadcast_message_is_framed_once() {
        let msg = Str::from(String::from("2[\"pixel\",{}]"));
        let a = frame_message(&msg);
        let b = frame_message(&msg.clone());
        assert_eq!(a.as_ptr(), b.as_ptr(), "the same frame bytes are shared");
        let other = Str::from(String::from("2[\"pixel\",{}]"));
        let c = frame_message(&other);
        assert_eq!(a, c);
        assert_ne!(a.as_ptr(), c.as_ptr(), "another message gets its own frame");
    }

    fn masked(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mask = [1u8, 2, 3, 4];
        let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
        assert!(payload.len() < 126);
        out.push(0x80 | payload.len() as u8);
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    fn conn(input: Vec<u8>) -> Conn<tokio::io::DuplexStream> {
        let (client, server) = tokio::io::duplex(1 << 16);
        let config = EngineIoConfig::builder().ws_max_message_size(64).build();
        tokio::spawn(async move {
            let mut client = client;
            client.write_all(&input).await.unwrap();
            client.shutdown().await.unwrap();
            let _ = read_to_end(client).await;
        });
        Conn::new(server, &config)
    }

    #[tokio::test]
    async fn fragmented_masked_messages_are_assembled() {
        let mut input = masked(OP_TEXT, false, b"4he");
        input.extend(masked(OP_PING, true, b"p"));
        input.extend(masked(OP_CONTINUATION, true, b"llo"));
        input.extend(masked(OP_BINARY, true, &[1, 2, 3]));
        input.extend(masked(OP_CLOSE, true, &[3, 232]));
        let mut c = conn(input);
        assert!(matches!(c.next().await, Ok(Some(Incoming::Ping(p))) if &p[..] == b"p"));
        assert!(matches!(c.next().await, Ok(Some(Incoming::Text(t))) if t == "4hello"));
        assert!(matches!(c.next().await, Ok(Some(Incoming::Binary(b))) if b[..] == [1, 2, 3]));
        assert!(matches!(c.next().await, Ok(Some(Incoming::Close))));
        assert!(
            c.rbuf.is_empty() && c.rbuf.capacity() == 0,
            "no buffer kept between frames"
        );
    }

    #[tokio::test]
    async fn unmasked_oversized_and_invalid_frames_are_refused() {
        let mut unmasked = masked(OP_TEXT, true, b"4x");
        unmasked[1] &= 0x7f;
        assert!(matches!(
            conn(unmasked).next().await,
            Err(WsError::Protocol)
        ));
        let big = masked(OP_TEXT, true, &[b'4'; 100]);
        assert!(matches!(conn(big).next().await, Err(WsError::TooLarge)));
        let bad_utf8 = masked(OP_TEXT, true, &[b'4', 0xff]);
        assert!(matches!(
            conn(bad_utf8).next().await,
            Err(WsError::Protocol)
        ));
        let stray = masked(OP_CONTINUATION, true, b"x");
        assert!(matches!(conn(stray).next().await, Err(WsError::Protocol)));
        assert!(matches!(conn(Vec::new()).next().await, Ok(None)));
    }
}
