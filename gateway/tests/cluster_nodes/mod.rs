//! A real Redis Cluster for tests: three primaries and three replicas
//! (`redis-server --cluster-enabled yes`, `redis-cli --cluster create …
//! --cluster-replicas 1`), each node in a directory of its own on free
//! loopback ports, killed and removed on drop. `cluster-node-timeout` is
//! 1000 ms, so a killed primary's replica takes over in a few seconds.
#![allow(dead_code, unreachable_pub)] // each test file uses part of it

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use test_support::free_port;

/// One cluster node.
pub struct Node {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
}

impl Node {
    fn start(port: u16, bus: u16) -> Self {
        let dir = std::env::temp_dir().join(format!("rp-cluster-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string()])
            .args(["--cluster-port", &bus.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes"])
            .args(["--cluster-config-file", "nodes.conf"])
            .args(["--cluster-node-timeout", "1000"])
            .args(["--save", "", "--appendonly", "no"])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH (Debian's redis-server package)");
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis on {port} starts");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            child: Some(child),
            port,
            dir,
        }
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn alive(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Six nodes joined into one cluster whose every slot is served.
pub struct Cluster {
    pub nodes: Vec<Node>,
}

impl Cluster {
    pub async fn start() -> Self {
        let nodes: Vec<Node> = (0..6)
            .map(|_| Node::start(free_port(), free_port()))
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = tokio::process::Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .await
            .expect("redis-cli on PATH");
        assert!(
            out.status.success(),
            "redis-cli --cluster create: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = Self { nodes };
        cluster.wait_ok(Duration::from_secs(20)).await;
        // Every replica has its primary's data link up, so a killed
        // primary can be replaced.
        eventually(
            "every replica linked to its primary",
            Duration::from_secs(20),
            || async {
                let mut linked = 0;
                for n in &cluster.nodes {
                    let info = cli(n.port, &["INFO", "replication"])
                        .await
                        .unwrap_or_default();
                    if info.contains("master_link_status:up") {
                        linked += 1;
                    }
                }
                linked == 3
            },
        )
        .await;
        cluster
    }

    /// `redis+cluster://` naming every node.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    /// Waits until every live node says `cluster_state:ok` and agrees on
    /// the map (each of them reached through its own port).
    pub async fn wait_ok(&self, limit: Duration) {
        eventually("cluster_state:ok on every live node", limit, || async {
            for n in self.nodes.iter().filter(|n| n.alive()) {
                match cli(n.port, &["CLUSTER", "INFO"]).await {
                    Some(info) if info.contains("cluster_state:ok") => {}
                    _ => return false,
                }
            }
            true
        })
        .await;
    }

    fn live_port(&self) -> u16 {
        self.nodes
            .iter()
            .find(|n| n.alive())
            .expect("a live node")
            .port
    }

    /// The slot of `key` (a channel name hashes the same way).
    pub async fn slot(&self, key: &str) -> u16 {
        cli(self.live_port(), &["CLUSTER", "KEYSLOT", key])
            .await
            .and_then(|s| s.trim().parse().ok())
            .expect("CLUSTER KEYSLOT")
    }

    /// `(primary port, its replicas' ports)` serving `slot`, as the live
    /// nodes see it now.
    pub async fn shard_of(&self, slot: u16) -> Option<(u16, Vec<u16>)> {
        let text = cli(self.live_port(), &["CLUSTER", "NODES"]).await?;
        let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split(' ').collect()).collect();
        let port_of = |addr: &str| -> Option<u16> {
            addr.split('@').next()?.rsplit(':').next()?.parse().ok()
        };
        let primary = lines.iter().find(|f| {
            f.len() >= 8
                && f[2].contains("master")
                && !f[2].contains("fail")
                && f[8..].iter().any(|range| {
                    let (lo, hi) = range.split_once('-').unwrap_or((range, range));
                    match (lo.parse::<u16>(), hi.parse::<u16>()) {
                        (Ok(lo), Ok(hi)) => (lo..=hi).contains(&slot),
                        _ => false,
                    }
                })
        })?;
        let replicas = lines
            .iter()
            .filter(|f| f.len() >= 4 && f[3] == primary[0])
            .filter_map(|f| port_of(f[1]))
            .collect();
        Some((port_of(primary[1])?, replicas))
    }

    pub fn node_mut(&mut self, port: u16) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("a node on that port")
    }
}

/// `redis-cli -p <port> <args…>`'s output, `None` when it fails.
pub async fn cli(port: u16, args: &[&str]) -> Option<String> {
    let out = tokio::time::timeout(
        Duration::from_secs(3),
        tokio::process::Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .ok()?
    .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success() && !text.starts_with("Could not connect") && !text.starts_with("ERR"))
        .then_some(text)
}

/// Waits until `check` holds, for at most `limit`.
pub async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> F,
) {
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
