//! The Socket.IO adapter on a real Redis Cluster (three primaries, three
//! replicas): two `SocketIo` servers, each on the gateway's own fred
//! subscriber (`gateway::pubsub::subscriber`) built from a
//! `redis+cluster://` URL, share rooms through sharded pub/sub. A room
//! broadcast from one reaches the other's sockets and the cluster-wide
//! socket fetch sees both; then the primary that owns the broadcast
//! channel's slot is killed with SIGKILL, its replica is promoted, and
//! both work again once the subscribers have resubscribed on the new
//! primary — without restarting anything.

mod cluster_nodes;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cluster_nodes::{Cluster, cli, eventually};
use serde_json::{Value, json};
use socketioxide::SocketIo;
use socketioxide::adapter::Emitter;
use socketioxide::extract::SocketRef;
use socketioxide_redis::{FredAdapter, RedisAdapterConfig, RedisAdapterCtr};
use test_support::Sio;

type Adapter = FredAdapter<Emitter>;

/// The adapter's channel for broadcasts to every server of namespace `/`.
const BROADCAST_CHANNEL: &str = "socket.io-request#/#";
const ROOM: &str = "watchers";

/// One Socket.IO server whose sockets join [`ROOM`] on connect.
async fn server(url: &str) -> (SocketIo<Adapter>, SocketAddr) {
    let subscriber = gateway::pubsub::subscriber(url).expect("a subscriber for the cluster URL");
    let adapter = RedisAdapterCtr::new_with_fred_config(subscriber, RedisAdapterConfig::new())
        .await
        .expect("the adapter connects to the cluster");
    let (layer, io) = SocketIo::builder()
        .ping_interval(Duration::from_secs(60))
        .with_adapter::<Adapter>(adapter)
        .build_layer();
    io.ns("/", async |s: SocketRef<Adapter>| s.join(ROOM))
        .await
        .expect("namespace / on the adapter");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().layer(layer);
    tokio::spawn(async move { axum::serve(listener, app).await });
    (io, addr)
}

/// How many sockets of [`ROOM`] the cluster-wide fetch from `io` sees
/// (`None` while it fails).
async fn fetched(io: &SocketIo<Adapter>) -> Option<usize> {
    tokio::time::timeout(Duration::from_secs(3), io.to(ROOM).fetch_sockets())
        .await
        .ok()?
        .ok()
        .map(|s| s.len())
}

/// How many subscribers the shard channel has on the node `port`.
async fn shard_subscribers(port: u16, channel: &str) -> Option<u64> {
    let out = cli(port, &["PUBSUB", "SHARDNUMSUB", channel]).await?;
    out.lines().nth(1)?.trim().parse().ok()
}

async fn broadcast(io: &SocketIo<Adapter>, n: u64) -> Result<(), String> {
    match tokio::time::timeout(
        Duration::from_secs(3),
        io.to(ROOM).emit("news", &json!({ "n": n })),
    )
    .await
    {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".into()),
    }
}

fn is(n: u64) -> impl Fn(&Value) -> bool {
    move |p| p["n"] == n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_broadcasts_cross_servers_on_a_cluster_and_survive_a_primary_failover() {
    let mut cluster = Cluster::start().await;
    let url = cluster.url();
    let (io_a, addr_a) = server(&url).await;
    let (io_b, addr_b) = server(&url).await;
    let mut on_a = Sio::connect(addr_a, None).await.unwrap();
    let mut on_b = Sio::connect(addr_b, None).await.unwrap();

    // Both servers see both sockets: requests and responses cross shards.
    eventually(
        "A's fetch sees the sockets of both",
        Duration::from_secs(10),
        || async { fetched(&io_a).await == Some(2) },
    )
    .await;
    assert_eq!(fetched(&io_b).await, Some(2));

    broadcast(&io_a, 1).await.expect("a broadcast from A");
    on_b.event("news", is(1)).await;
    on_a.event("news", is(1)).await;
    broadcast(&io_b, 2).await.expect("a broadcast from B");
    on_a.event("news", is(2)).await;
    on_b.event("news", is(2)).await;

    // Kill the primary that owns the broadcast channel.
    let slot = cluster.slot(BROADCAST_CHANNEL).await;
    let (primary, replicas) = cluster
        .shard_of(slot)
        .await
        .expect("a primary for the slot");
    assert_eq!(shard_subscribers(primary, BROADCAST_CHANNEL).await, Some(2));
    assert_eq!(replicas.len(), 1, "one replica per primary");
    let killed_at = Instant::now();
    cluster.node_mut(primary).kill();

    eventually("the replica promoted", Duration::from_secs(20), || async {
        cluster
            .shard_of(slot)
            .await
            .is_some_and(|(p, _)| p == replicas[0])
    })
    .await;
    cluster.wait_ok(Duration::from_secs(20)).await;
    let promoted = Instant::now();
    // Both subscribers follow the slot to its new primary by themselves.
    eventually(
        "both subscribers resubscribed on the new primary",
        Duration::from_secs(20),
        || async { shard_subscribers(replicas[0], BROADCAST_CHANNEL).await == Some(2) },
    )
    .await;
    let healed = Instant::now();
    eprintln!(
        "failover: promoted {:?} after the kill, resubscribed {:?} after that",
        promoted - killed_at,
        healed - promoted
    );

    // A's publish may still be on its way to the new primary: it must go
    // through within a bounded time, and then arrive exactly as before.
    eventually(
        "a broadcast from A publishes again",
        Duration::from_secs(10),
        || async { broadcast(&io_a, 3).await.is_ok() },
    )
    .await;
    on_b.event("news", is(3)).await;
    on_a.event("news", is(3)).await;
    broadcast(&io_b, 4)
        .await
        .expect("a broadcast from B after the failover");
    on_a.event("news", is(4)).await;
    on_b.event("news", is(4)).await;
    eventually(
        "the fetch across servers after the failover",
        Duration::from_secs(10),
        || async { fetched(&io_a).await == Some(2) && fetched(&io_b).await == Some(2) },
    )
    .await;

    // A third server joining now finds the cluster as it is.
    let (io_c, addr_c) = server(&url).await;
    let mut on_c = Sio::connect(addr_c, None).await.unwrap();
    eventually(
        "C's fetch sees all three",
        Duration::from_secs(10),
        || async { fetched(&io_c).await == Some(3) },
    )
    .await;
    broadcast(&io_c, 5).await.expect("a broadcast from C");
    for sio in [&mut on_a, &mut on_b, &mut on_c] {
        sio.event("news", is(5)).await;
    }
}
