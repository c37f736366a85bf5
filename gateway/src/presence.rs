//! Who is watching: the cluster-wide number of sockets in a board's room,
//! counted through the Socket.IO adapter (with the Redis adapter it asks
//! every gateway, so the number is right behind several replicas) and sent
//! to this node's sockets as a `presence` event when it changes.
//!
//! Each gateway counts only while some of its own sockets watch the board,
//! every [`PRESENCE_EVERY`]; a socket that joins gets the last count at once
//! (see the `join` handler), and the exact one at the next tick.

use std::sync::Arc;
use std::time::Duration;

use pixel_core::domain::BoardId;
use serde::Serialize;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use tokio::sync::watch;
use tracing::Instrument;

use crate::relay::{Relay, Relays, cluster_room, local_room};

/// How often a gateway recounts a board's watchers.
pub(crate) const PRESENCE_EVERY: Duration = Duration::from_secs(2);

/// The `presence` event.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PresenceEvent<'a> {
    pub board: &'a BoardId,
    pub watchers: u64,
}

/// Starts one counting task per board; they stop when `stop` turns true.
pub(crate) fn spawn<A: Adapter>(
    relays: &Relays,
    io: &SocketIo<A>,
    stop: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    relays
        .iter()
        .map(|relay| {
            let (relay, io, stop) = (relay.clone(), io.clone(), stop.clone());
            let span = tracing::info_span!("presence", board = %relay.board().id);
            tokio::spawn(count_loop(relay, io, stop).instrument(span))
        })
        .collect()
}

async fn count_loop<A: Adapter>(
    relay: Arc<Relay>,
    io: SocketIo<A>,
    mut stop: watch::Receiver<bool>,
) {
    let board = relay.board().id.clone();
    let mut tick = tokio::time::interval(PRESENCE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent = None;
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            _ = tick.tick() => {}
        }
        // No namespace: the server is shutting down.
        let Some(local) = local_room(&io, &board) else {
            break;
        };
        if local.sockets().is_empty() {
            sent = None;
            continue;
        }
        let Some(everywhere) = cluster_room(&io, &board) else {
            break;
        };
        let watchers = match everywhere.fetch_sockets().await {
            Ok(all) => all.len() as u64,
            Err(e) => {
                tracing::debug!(error = %e, "watcher count failed");
                continue;
            }
        };
        relay.set_watchers(watchers);
        if sent != Some(watchers) {
            sent = Some(watchers);
            let event = PresenceEvent {
                board: &board,
                watchers,
            };
            let Some(local) = local_room(&io, &board) else {
                break;
            };
            if let Err(e) = local.emit(crate::ack::events::PRESENCE, &event).await {
                tracing::debug!(error = %e, "some sockets missed a presence event");
            }
        }
    }
}
