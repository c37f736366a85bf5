//! Sessions without a transport, for the application's own tests.
//!
//! socketioxide's tests (its `__test_harness` feature) open sockets with no
//! connection under them: `Socket::new_dummy` and `Socket::new_dummy_piped`,
//! the packets the application sends coming out of a channel. These are the
//! same constructors, over the same send queue as a real session; only the
//! transport is a task that moves what is queued into the channel. They are
//! always built (as `EngineIoService::ws_init` is), so that plain
//! `cargo test` tests them.
//!
//! A dummy session is a polling one, so messages come out as
//! [`Packet::Message`], not as WebSocket frames. Closing it (the
//! application's `Socket::close`, or a disconnect) closes its queue once and
//! calls the given close function once; what was queued before, the close
//! packet included, still comes out of the channel, which then ends.

use std::sync::{Arc, Weak};

use engineioxide_core::{Sid, TransportType};
use tokio::sync::mpsc;

use crate::packet::Packet;
use crate::socket::{DisconnectReason, Socket};

/// The capacity of [`Socket::new_dummy`]'s queue and channel.
const DUMMY_BUFFER: usize = 1024;

impl<D> Socket<D>
where
    D: Default + Send + Sync + 'static,
{
    /// A session with no transport whose sent packets are discarded.
    /// `close_fn` is called once, when the session is closed. Needs a tokio
    /// runtime.
    #[doc(hidden)]
    pub fn new_dummy(
        sid: Sid,
        close_fn: Box<dyn Fn(Sid, DisconnectReason) + Send + Sync>,
    ) -> Arc<Socket<D>> {
        let (socket, mut rx) = Self::new_dummy_piped(sid, close_fn, DUMMY_BUFFER);
        tokio::spawn(async move { while rx.recv().await.is_some() {} });
        socket
    }

    /// A session with no transport whose sent packets come out of the
    /// returned channel, in order. `buffer_size` bounds both the queue (as
    /// `max_buffer_size` does) and the channel. `close_fn` is called once,
    /// when the session is closed. Needs a tokio runtime.
    #[doc(hidden)]
    pub fn new_dummy_piped(
        sid: Sid,
        close_fn: Box<dyn Fn(Sid, DisconnectReason) + Send + Sync>,
        buffer_size: usize,
    ) -> (Arc<Socket<D>>, mpsc::Receiver<Packet>) {
        let socket = Arc::new_cyclic(|weak: &Weak<Socket<D>>| {
            let weak = weak.clone();
            let close_once = Box::new(move |sid, reason| {
                // The queue closes once, as `Engine::close_session` does.
                if weak.upgrade().is_some_and(|s| s.queue.close()) {
                    close_fn(sid, reason);
                }
            });
            let (req_parts, ()) = http::Request::new(()).into_parts();
            Socket::new(
                sid,
                TransportType::Polling,
                buffer_size,
                req_parts,
                close_once,
            )
        });
        let (tx, rx) = mpsc::channel(buffer_size.max(1));
        tokio::spawn(pipe(socket.clone(), tx));
        (socket, rx)
    }
}

/// The dummy transport: moves what is queued into `tx` until the session is
/// closed and drained, or the receiver is dropped. It holds the session
/// until then.
async fn pipe<D>(socket: Arc<Socket<D>>, tx: mpsc::Sender<Packet>)
where
    D: Default + Send + Sync + 'static,
{
    loop {
        // Read before taking: a push after the take leaves a wake-up
        // (`Notify::notify_one` keeps one for the next wait).
        let closed = socket.queue.is_closed();
        let entries = socket.queue.take_all();
        if entries.is_empty() {
            if closed {
                return;
            }
            tokio::select! {
                () = socket.queue.ready() => continue,
                () = tx.closed() => return,
            }
        }
        for packet in entries.into_iter().flatten() {
            if tx.send(packet).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use bytes::Bytes;

    use super::*;

    type Closes = Arc<Mutex<Vec<DisconnectReason>>>;

    fn recording() -> (Closes, Box<dyn Fn(Sid, DisconnectReason) + Send + Sync>) {
        let closes = Closes::default();
        let record = closes.clone();
        let close_fn = Box::new(move |_, reason| record.lock().unwrap().push(reason));
        (closes, close_fn)
    }

    async fn next(rx: &mut mpsc::Receiver<Packet>) -> Option<Packet> {
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("the pipe went quiet")
    }

    #[tokio::test]
    async fn a_piped_dummy_hands_out_what_is_sent_in_order_unframed() {
        let (_, close_fn) = recording();
        let (socket, mut rx) = Socket::<()>::new_dummy_piped(Sid::new(), close_fn, 8);
        assert_eq!(socket.transport_type(), TransportType::Polling);
        socket.emit("a").unwrap();
        socket.emit_binary(Bytes::from_static(&[1, 2])).unwrap();
        socket
            .reserve()
            .unwrap()
            .emit_many("b".into(), [Bytes::from_static(&[3])].into());
        assert_eq!(next(&mut rx).await, Some(Packet::Message("a".into())));
        assert_eq!(
            next(&mut rx).await,
            Some(Packet::Binary(Bytes::from_static(&[1, 2])))
        );
        assert_eq!(next(&mut rx).await, Some(Packet::Message("b".into())));
        assert_eq!(
            next(&mut rx).await,
            Some(Packet::Binary(Bytes::from_static(&[3])))
        );
        // Later sends still come out: the pipe waits for more.
        socket.emit("c").unwrap();
        assert_eq!(next(&mut rx).await, Some(Packet::Message("c".into())));
    }

    #[tokio::test]
    async fn closing_a_dummy_calls_the_close_function_once_and_ends_the_pipe_after_the_close_packet()
     {
        let (closes, close_fn) = recording();
        let (socket, mut rx) = Socket::<()>::new_dummy_piped(Sid::new(), close_fn, 8);
        socket.emit("last").unwrap();
        socket.close(DisconnectReason::TransportClose);
        socket.close(DisconnectReason::HeartbeatTimeout);
        assert!(socket.is_closed());
        tokio::time::timeout(Duration::from_secs(5), socket.closed())
            .await
            .unwrap();
        assert!(socket.emit("refused").is_err());
        assert_eq!(next(&mut rx).await, Some(Packet::Message("last".into())));
        assert_eq!(next(&mut rx).await, Some(Packet::Close));
        assert_eq!(next(&mut rx).await, None);
        assert_eq!(*closes.lock().unwrap(), [DisconnectReason::TransportClose]);
    }

    #[tokio::test]
    async fn a_piped_dummy_is_bounded_like_a_session() {
        let (_, close_fn) = recording();
        let (socket, _rx) = Socket::<()>::new_dummy_piped(Sid::new(), close_fn, 2);
        // Nobody reads: two in the channel, two in the queue, then full.
        let mut sent = 0;
        for _ in 0..10 {
            if socket.emit("x").is_ok() {
                sent += 1;
            }
            tokio::task::yield_now().await;
        }
        assert!((2..10).contains(&sent), "sent {sent}");
        assert!(matches!(
            socket.emit("y"),
            Err(tokio::sync::mpsc::error::TrySendError::Full(_))
        ));
    }

    #[tokio::test]
    async fn a_dummy_discards_what_is_sent_so_it_never_fills() {
        let (closes, close_fn) = recording();
        let socket = Socket::<()>::new_dummy(Sid::new(), close_fn);
        for _ in 0..(DUMMY_BUFFER * 3) {
            socket.emit("x").unwrap();
            tokio::task::yield_now().await;
        }
        socket.close(DisconnectReason::ClosingServer);
        assert_eq!(*closes.lock().unwrap(), [DisconnectReason::ClosingServer]);
    }
}
