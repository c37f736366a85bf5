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
