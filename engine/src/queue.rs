//! The send queue of one session.
//!
//! A `VecDeque` behind a mutex, bounded by `max_buffer_size` entries. It
//! allocates on the first push after being drained and the transport takes
//! the whole deque at once, so an idle session owns no queue memory (a
//! bounded tokio channel allocates a 32-slot block up front and keeps it).
//! An entry is a group of packets sent atomically (a message and its binary
//! attachments). Internal packets (pings, pongs, noop, close) are not
//! counted against the bound: a full queue must not stop the heartbeat.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use smallvec::SmallVec;
use tokio::sync::Notify;
use tokio::sync::mpsc::error::TrySendError;

use crate::packet::Packet;

/// Packets written together, in order.
pub(crate) type Entry = SmallVec<[Packet; 1]>;

/// Whether an entry was pushed by `push_internal` (not counted).
fn is_internal(entry: &Entry) -> bool {
    matches!(
        entry.first(),
        Some(
            Packet::Ping
                | Packet::Pong
                | Packet::PingProbe
                | Packet::PongProbe
                | Packet::Noop
                | Packet::Close
                | Packet::Upgrade
                | Packet::Open(_)
        )
    )
}

#[derive(Debug, Default)]
struct Inner {
    entries: VecDeque<Entry>,
    /// Entries counted against the bound (internal packets are not).
    counted: usize,
    /// Places held by unconsumed permits.
    reserved: usize,
    /// The latest volatile emit not yet written; a newer one replaces it.
    volatile: Option<Entry>,
    closed: bool,
}

#[derive(Debug)]
pub(crate) struct Queue {
    inner: Mutex<Inner>,
    capacity: usize,
    /// Wakes the session's single reader (its task or its pending GET).
    ready: Notify,
    /// Wakes everyone waiting for the session to close.
    closed: Notify,
}

impl Queue {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::default(),
            capacity,
            ready: Notify::new(),
            closed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding the lock; a poisoned queue is still
        // consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Holds a place for one entry.
    pub(crate) fn try_reserve(&self) -> Result<(), TrySendError<()>> {
        let mut inner = self.lock();
        if inner.closed {
            Err(TrySendError::Closed(()))
        } else if inner.counted + inner.reserved >= self.capacity {
            Err(TrySendError::Full(()))
        } else {
            inner.reserved += 1;
            Ok(())
        }
    }

    /// Gives back a place held by a permit.
    pub(crate) fn release(&self) {
        let mut inner = self.lock();
        inner.reserved = inner.reserved.saturating_sub(1);
    }

    /// Pushes an entry in a place held by a permit.
    pub(crate) fn push_reserved(&self, entry: Entry) {
        {
            let mut inner = self.lock();
            inner.reserved = inner.reserved.saturating_sub(1);
            if inner.closed {
                return;
            }
            inner.counted += 1;
            inner.entries.push_back(entry);
        }
        self.ready.notify_one();
    }

    /// Pushes an entry if there is room.
    pub(crate) fn try_push(&self, entry: Entry) -> Result<(), TrySendError<Entry>> {
        {
            let mut inner = self.lock();
            if inner.closed {
                return Err(TrySendError::Closed(entry));
            }
            if inner.counted + inner.reserved >= self.capacity {
                return Err(TrySendError::Full(entry));
            }
            inner.counted += 1;
            inner.entries.push_back(entry);
        }
        self.ready.notify_one();
        Ok(())
    }

    /// Pushes an internal packet whatever the bound.
    pub(crate) fn push_internal(&self, packet: Packet) {
        {
            let mut inner = self.lock();
            if inner.closed {
                return;
            }
            inner.entries.push_back(smallvec::smallvec![packet]);
        }
        self.ready.notify_one();
    }

    /// Replaces the pending volatile entry. False once closed.
    pub(crate) fn set_volatile(&self, entry: Entry) -> bool {
        {
            let mut inner = self.lock();
            if inner.closed {
                return false;
            }
            inner.volatile = Some(entry);
        }
        self.ready.notify_one();
        true
    }

    /// Takes everything queued, the volatile entry last. The caller owns the
    /// memory and frees it when written.
    pub(crate) fn take_all(&self) -> VecDeque<Entry> {
        let mut inner = self.lock();
        let mut entries = std::mem::take(&mut inner.entries);
        inner.counted = 0;
        if let Some(volatile) = inner.volatile.take() {
            entries.push_back(volatile);
        }
        entries
    }

    /// Takes queued entries for one long-poll answer: as many as fit in
    /// `limit` bytes (`size` gives an entry's encoded size), at least one.
    /// The rest stays, in order, for the next poll.
    pub(crate) fn take_bounded(
        &self,
        limit: usize,
        size: impl Fn(&Entry) -> usize,
    ) -> VecDeque<Entry> {
        let mut inner = self.lock();
        let mut total = 0;
        let mut n = 0;
        for entry in &inner.entries {
            let s = size(entry) + usize::from(n > 0);
            if n > 0 && total + s > limit {
                break;
            }
            total += s;
            n += 1;
        }
        if n == inner.entries.len() {
            drop(inner);
            return self.take_all();
        }
        let taken: VecDeque<Entry> = inner.entries.drain(..n).collect();
        let counted = taken.iter().filter(|e| !is_internal(e)).count();
        inner.counted = inner.counted.saturating_sub(counted);
        taken
    }

    /// Waits until something may have been queued (or the queue closed).
    /// Only one reader waits at a time; a wake-up with no waiter is kept.
    pub(crate) async fn ready(&self) {
        self.ready.notified().await
    }

    /// Passes a wake-up on to the other reader (a GET that woke after its
    /// session upgraded hands it to the WebSocket task).
    pub(crate) fn wake_one(&self) {
        self.ready.notify_one();
    }

    /// Wakes every reader waiting now (a GET pending when its session
    /// upgrades), without leaving a wake-up for later ones.
    pub(crate) fn wake_all(&self) {
        self.ready.notify_waiters();
    }

    /// No more entries are accepted; what is queued can still be taken.
    pub(crate) fn close(&self) -> bool {
        let first = {
            let mut inner = self.lock();
            !std::mem::replace(&mut inner.closed, true)
        };
        self.ready.notify_one();
        self.closed.notify_waiters();
        first
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    pub(crate) async fn closed(&self) {
        loop {
            let notified = self.closed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_closed() {
                return;
            }
            notified.await;
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(s: &'static str) -> Entry {
        smallvec::smallvec![Packet::Message(s.into())]
    }

    #[test]
    fn the_bound_counts_entries_and_permits_but_not_internal_packets() {
        let q = Queue::new(2);
        q.try_push(msg("a")).unwrap();
        q.try_reserve().unwrap();
        assert!(matches!(q.try_push(msg("b")), Err(TrySendError::Full(_))));
        assert!(matches!(q.try_reserve(), Err(TrySendError::Full(()))));
        q.push_internal(Packet::Ping);
        assert_eq!(q.len(), 2);
        q.release();
        q.try_push(msg("b")).unwrap();
        assert_eq!(q.take_all().len(), 3);
        q.try_push(msg("c")).unwrap();
    }

    #[test]
    fn a_drained_queue_holds_no_memory() {
        let q = Queue::new(8);
        for _ in 0..8 {
            q.try_push(msg("x")).unwrap();
        }
        drop(q.take_all());
        assert_eq!(q.lock().entries.capacity(), 0);
    }

    #[test]
    fn a_newer_volatile_entry_replaces_the_pending_one_and_comes_last() {
        let q = Queue::new(8);
        assert!(q.set_volatile(msg("old")));
        q.try_push(msg("a")).unwrap();
        assert!(q.set_volatile(msg("new")));
        let all: Vec<_> = q.take_all().into_iter().collect();
        assert_eq!(all, vec![msg("a"), msg("new")]);
    }

    #[test]
    fn a_bounded_take_leaves_what_does_not_fit_in_order() {
        let q = Queue::new(3);
        q.try_push(msg("a")).unwrap();
        q.push_internal(Packet::Ping);
        q.try_push(msg("b")).unwrap();
        q.try_push(msg("c")).unwrap();
        let size = |_: &Entry| 4;
        assert_eq!(q.take_bounded(9, size).len(), 2, "4 + 1 + 4 fit in 9");
        assert!(
            matches!(q.try_push(msg("d")), Ok(())),
            "a's place is free again"
        );
        assert_eq!(q.take_bounded(1, size).len(), 1, "at least one entry");
        assert_eq!(q.take_bounded(100, size).len(), 2);
        assert_eq!(q.len(), 0);
    }

    #[tokio::test]
    async fn closing_refuses_new_entries_and_wakes_waiters() {
        let q = std::sync::Arc::new(Queue::new(8));
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.closed().await }
        });
        tokio::task::yield_now().await;
        assert!(q.close());
        assert!(!q.close(), "closing twice reports the first only");
        waiter.await.unwrap();
        assert!(matches!(q.try_push(msg("a")), Err(TrySendError::Closed(_))));
        assert!(matches!(q.try_reserve(), Err(TrySendError::Closed(()))));
        assert!(!q.set_volatile(msg("v")));
    }
}
