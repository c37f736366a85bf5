//! Real `redis-server` processes for the Sentinel and replica tests: data
//! nodes and sentinels in directories of their own, killed on drop, and
//! the small waits both tests use.
#![allow(dead_code, unreachable_pub)] // each test file uses part of it

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use test_support::free_port;

pub const MASTER: &str = "pixelmaster";

/// One `redis-server` (data node or sentinel) in a directory of its own.
pub struct Proc {
    child: Option<Child>,
    pub port: u16,
    args: Vec<String>,
    dir: PathBuf,
}

impl Proc {
    pub fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(&self.args)
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH (Debian's redis-server package)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis on {} starts", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn data(tag: &str, replica_of: Option<u16>) -> Self {
        let port = free_port();
        let dir = dir(tag, port);
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Some(p) = replica_of {
            args.extend(["--replicaof".into(), "127.0.0.1".into(), p.to_string()]);
        }
        let mut p = Self {
            child: None,
            port,
            args,
            dir,
        };
        p.spawn();
        p
    }

    pub fn sentinel(primary: u16) -> Self {
        let port = free_port();
        let dir = dir("sentinel", port);
        let conf = dir.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {}\n\
                 sentinel monitor {MASTER} 127.0.0.1 {primary} 2\n\
                 sentinel down-after-milliseconds {MASTER} 1000\n\
                 sentinel failover-timeout {MASTER} 3000\n\
                 sentinel parallel-syncs {MASTER} 1\n",
                dir.display()
            ),
        )
        .unwrap();
        let mut p = Self {
            child: None,
            port,
            args: vec![conf.display().to_string(), "--sentinel".into()],
            dir,
        };
        p.spawn();
        p
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn dir(tag: &str, port: u16) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rp-{tag}-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub async fn query<T: redis::FromRedisValue>(port: u16, args: &[&str]) -> redis::RedisResult<T> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query_async(&mut conn).await
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
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn role(port: u16) -> Option<String> {
    let v: Vec<redis::Value> = query(port, &["ROLE"]).await.ok()?;
    redis::from_redis_value(v.into_iter().next()?).ok()
}

/// A Redis Cluster of three primaries with one replica each, on free
/// ports, each node in a directory of its own. Every node runs under a
/// small shell watchdog that kills it (and removes its directory) once
/// the test process is gone, so a cluster shared by a whole test binary
/// (a `static`, never dropped) is cleaned up too; dropping one kills its
/// nodes at once.
pub struct ClusterNodes {
    pub ports: Vec<u16>,
    watchdogs: Vec<Child>,
    dirs: Vec<PathBuf>,
}

impl ClusterNodes {
    /// Starts six nodes (`cluster-node-timeout` 1000 ms), joins them with
    /// `redis-cli --cluster create … --cluster-replicas 1`, and waits for
    /// `cluster_state:ok` on every node and for every replica's link to
    /// its primary (a replica that never synced cannot take over).
    pub fn start(tag: &str) -> Self {
        let me = std::process::id();
        let mut nodes = Self {
            ports: Vec::new(),
            watchdogs: Vec::new(),
            dirs: Vec::new(),
        };
        for _ in 0..6 {
            let port = cluster_port();
            let dir = dir(tag, port);
            let script = format!(
                "redis-server --port {port} --bind 127.0.0.1 --cluster-enabled yes \
                 --cluster-config-file nodes.conf --cluster-node-timeout 1000 \
                 --repl-diskless-sync-delay 0 --save '' --appendonly no --dir {dir} >/dev/null 2>&1 & r=$!; \
                 trap 'kill -9 $r 2>/dev/null; rm -rf {dir}; exit 0' TERM; \
                 while kill -0 {me} 2>/dev/null && kill -0 $r 2>/dev/null; do sleep 0.2; done; \
                 kill -9 $r 2>/dev/null; wait $r 2>/dev/null; \
                 while kill -0 {me} 2>/dev/null; do sleep 0.5; done; rm -rf {dir}",
                dir = dir.display()
            );
            let child = Command::new("sh")
                .args(["-c", &script])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("sh and redis-server on PATH");
            nodes.ports.push(port);
            nodes.watchdogs.push(child);
            nodes.dirs.push(dir);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for port in &nodes.ports {
            while std::net::TcpStream::connect(("127.0.0.1", *port)).is_err() {
                assert!(Instant::now() < deadline, "cluster node on {port} starts");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for port in &nodes.ports {
            create.arg(format!("127.0.0.1:{port}"));
        }
        let out = create
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli on PATH");
        assert!(
            out.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        for port in &nodes.ports {
            while !cli(*port, &["CLUSTER", "INFO"]).contains("cluster_state:ok") {
                assert!(
                    Instant::now() < deadline + Duration::from_secs(20),
                    "node {port} reports cluster_state:ok"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let synced = |port: &u16| {
            let info = cli(*port, &["INFO", "replication"]);
            info.contains("role:master") || info.contains("master_link_status:up")
        };
        while !nodes.ports.iter().all(synced) {
            assert!(
                Instant::now() < deadline + Duration::from_secs(30),
                "every replica is in sync with its primary"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        nodes
    }

    /// `redis+cluster://` with the first three nodes (the client learns
    /// the rest from them).
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self.ports[..3]
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    /// The port of the primary that serves `key`'s slot now.
    pub fn primary_of(&self, key: &str) -> u16 {
        self.try_primary_of(key)
            .unwrap_or_else(|| panic!("no primary serves {key}"))
    }

    /// The port of the primary that serves `key`'s slot now, if one does
    /// (none while a failover is under way).
    pub fn try_primary_of(&self, key: &str) -> Option<u16> {
        for port in &self.ports {
            let slot: u16 = match cli(*port, &["CLUSTER", "KEYSLOT", key]).trim().parse() {
                Ok(s) => s,
                Err(_) => continue,
            };
            // `CLUSTER NODES`: id addr flags master ping pong epoch state slots…
            for line in cli(*port, &["CLUSTER", "NODES"]).lines() {
                let f: Vec<&str> = line.split_whitespace().collect();
                if f.len() < 9 || !f[2].contains("master") || f[2].contains("fail") {
                    continue;
                }
                let serves = f[8..].iter().any(|r| match r.split_once('-') {
                    Some((a, b)) => {
                        a.parse::<u16>().is_ok_and(|a| a <= slot)
                            && b.parse::<u16>().is_ok_and(|b| slot <= b)
                    }
                    None => r.parse::<u16>() == Ok(slot),
                });
                if serves {
                    let addr = f[1].split('@').next().unwrap_or("");
                    return addr.rsplit(':').next()?.parse().ok();
                }
            }
        }
        None
    }

    /// The ports of the replicas of the primary on `primary` (`CLUSTER
    /// NODES` as that primary sees them).
    pub fn replicas_of(&self, primary: u16) -> Vec<u16> {
        let nodes = cli(primary, &["CLUSTER", "NODES"]);
        let port_of = |addr: &str| -> Option<u16> {
            addr.split('@').next()?.rsplit(':').next()?.parse().ok()
        };
        let Some(id) = nodes.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 2 && f[2].contains("myself")).then(|| f[0].to_owned())
        }) else {
            return Vec::new();
        };
        nodes
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() > 3 && f[2].contains("slave") && f[3] == id)
                    .then(|| port_of(f[1]))
                    .flatten()
            })
            .collect()
    }

    /// The process id of the node on `port` (from `INFO server`).
    pub fn pid_of(&self, port: u16) -> String {
        let info = cli(port, &["INFO", "server"]);
        info.lines()
            .find_map(|l| l.strip_prefix("process_id:"))
            .expect("INFO server names the process")
            .trim()
            .to_owned()
    }

    /// Sends `signal` (`STOP`, `CONT`, ...) to process `pid` (a node's:
    /// [`Self::pid_of`], asked before the node stops answering).
    pub fn signal(&self, pid: &str, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), pid])
            .status()
            .unwrap();
        assert!(status.success(), "signalled process {pid}");
    }

    /// Kills the node on `port` with SIGKILL (its watchdog then stays
    /// only to clean up).
    pub fn kill_node(&self, port: u16) {
        let info = cli(port, &["INFO", "server"]);
        let pid = info
            .lines()
            .find_map(|l| l.strip_prefix("process_id:"))
            .expect("INFO server names the process")
            .trim()
            .to_owned();
        let status = Command::new("kill").args(["-9", &pid]).status().unwrap();
        assert!(status.success(), "killed node {port}");
    }
}

impl Drop for ClusterNodes {
    fn drop(&mut self) {
        for child in &mut self.watchdogs {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        for child in &mut self.watchdogs {
            let _ = child.wait();
        }
        for d in &self.dirs {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// A free port for a cluster node whose cluster bus port (port + 10000)
/// is a port too, and free: a node on a port above 55535 does not start.
fn cluster_port() -> u16 {
    loop {
        let port = free_port();
        if port <= 55535 && std::net::TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
}

/// `redis-cli -p port args…`, its output (empty if the node is down).
pub fn cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}
