//! Helpers for integration tests that need real servers: a `redis-server`
//! on a free loopback port, killed when the guard drops. Tests never share a
//! Redis with each other's processes or with anything else on the machine.

mod sio;

pub use sio::Sio;

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (free when asked; bind it soon).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A `redis-server` child process with its own data directory.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
    aof: bool,
    /// Serves TLS only (`rediss://`), with a certificate for 127.0.0.1
    /// signed by the CA in [`Self::ca_file`].
    tls: bool,
}

impl RedisServer {
    /// Starts an ephemeral Redis (no persistence).
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// Starts Redis with the append-only file on (`appendfsync always`).
    pub fn start_durable() -> Self {
        Self::start_with(true)
    }

    /// Starts an ephemeral Redis that speaks TLS only, with a CA and a
    /// server certificate for `127.0.0.1` made for it (openssl CLI).
    pub fn start_tls() -> Self {
        Self::start_as(false, true)
    }

    fn start_with(aof: bool) -> Self {
        Self::start_as(aof, false)
    }

    fn start_as(aof: bool, tls: bool) -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("rp-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("redis data dir");
        let mut server = Self {
            child: None,
            port,
            dir,
            aof,
            tls,
        };
        if tls {
            server.make_certificates();
        }
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new("redis-server");
        if self.tls {
            let file = |name: &str| self.dir.join(name);
            cmd.args(["--port", "0", "--tls-port", &self.port.to_string()])
                .arg("--tls-cert-file")
                .arg(file("server.crt"))
                .arg("--tls-key-file")
                .arg(file("server.key"))
                .arg("--tls-ca-cert-file")
                .arg(file("ca.crt"))
                .args(["--tls-auth-clients", "no"]);
        } else {
            cmd.arg("--port").arg(self.port.to_string());
        }
        cmd.arg("--bind")
            .arg("127.0.0.1")
            .arg("--dir")
            .arg(&self.dir)
            .arg("--save")
            .arg("")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.aof {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        let child = cmd
            .spawn()
            .expect("redis-server on PATH (the test command installs it)");
        self.child = Some(child);
        self.wait_ready();
    }

    /// Until Redis answers `PING` with `PONG`: it accepts connections while
    /// it still loads its append-only file, and answers `LOADING` then.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            // Over TLS, an open port: it listens once it can serve (no
            // append-only file to load).
            let up = if self.tls {
                TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            } else {
                self.pong()
            };
            if up {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "redis-server did not answer PING on {} within 10 s",
            self.port
        );
    }

    fn pong(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}/", self.port)
    }

    /// The CA (PEM) that signed a TLS server's certificate: give it to the
    /// client as `SSL_CERT_FILE`.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// A CA, and a server certificate for 127.0.0.1 / localhost it signed.
    fn make_certificates(&self) {
        let ext = self.dir.join("server.ext");
        std::fs::write(
            &ext,
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .expect("extensions file");
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let steps: [Vec<&str>; 3] = [
            [
                &["req", "-x509"][..],
                &ec,
                &["-keyout", "ca.key", "-out", "ca.crt"],
            ]
            .concat(),
            [
                &["req"][..],
                &ec,
                &["-keyout", "server.key", "-out", "server.csr"],
            ]
            .concat(),
            vec![
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-extfile",
                "server.ext",
            ],
        ];
        for (args, subject) in steps.iter().zip(["/CN=rp-test-ca", "/CN=localhost", ""]) {
            let mut cmd = Command::new("openssl");
            cmd.args(args).args(["-days", "2"]).current_dir(&self.dir);
            if !subject.is_empty() {
                cmd.args(["-subj", subject]);
            }
            let out = cmd
                .stdin(Stdio::null())
                .output()
                .expect("openssl on PATH (Debian's openssl package)");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// Kills the server (SIGKILL: an outage, not a clean shutdown).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends a signal to the server (`"STOP"` freezes it, `"CONT"` thaws it).
    pub fn signal(&self, name: &str) {
        let child = self.child.as_ref().expect("the server runs");
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(child.id().to_string())
            .status()
            .expect("kill(1)");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Starts the server again on the same port and data directory.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs the service binary `bin` with `env` added (and `RUST_BACKTRACE=1`,
/// so a panic would show) and asserts that it refuses to start: it exits
/// within 10 s with a non-zero status, and its stderr is one line that
/// names `setting`, with no backtrace or panic. Returns that line.
pub fn assert_refuses_setting(bin: &str, env: &[(&str, &str)], setting: &str) -> String {
    let mut cmd = Command::new(bin);
    for var in [
        "REDIS_URL",
        "TRUSTED_PROXIES",
        "PORT",
        "JWT_SECRET",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    let mut child = cmd
        .env("RUST_BACKTRACE", "1")
        .env("BIND_ADDR", "127.0.0.1")
        .env("PORT", free_port().to_string())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the service binary runs");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the binary") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{bin} with {env:?} still runs after 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("piped"), &mut stderr)
        .expect("stderr");
    assert!(!status.success(), "{bin} with {env:?} exited {status}");
    assert!(
        stderr.contains(setting),
        "{bin}: stderr names {setting}: {stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    for word in ["backtrace", "panicked", "RUST_BACKTRACE"] {
        assert!(!stderr.contains(word), "{bin}: {word} in {stderr}");
    }
    stderr
}

/// The malformed settings every service binary must refuse at start
/// ([`assert_refuses_setting`] for each): a `REDIS_URL` that cannot parse
/// (its value never shown: it may hold a password), a port that is not a
/// number, and — for the binaries that read it — a `TRUSTED_PROXIES` entry
/// that is no CIDR (named in the line).
pub fn assert_refuses_malformed_settings(bin: &str, reads_trusted_proxies: bool) {
    const SECRET: &str = "settings-test-secret-0123456789abcdef";
    let line = assert_refuses_setting(
        bin,
        &[("REDIS_URL", "not a url :hunter2@"), ("JWT_SECRET", SECRET)],
        "REDIS_URL",
    );
    assert!(!line.contains("hunter2"), "{line}");
    let reachable = [
        ("REDIS_URL", "redis://127.0.0.1:1/"),
        ("JWT_SECRET", SECRET),
    ];
    assert_refuses_setting(
        bin,
        &[&[("PORT", "eighty")][..], &reachable].concat(),
        "PORT",
    );
    if reads_trusted_proxies {
        let proxies = [("TRUSTED_PROXIES", "10.0.0.0/8, 10.0.0.0/99")];
        let line =
            assert_refuses_setting(bin, &[&proxies[..], &reachable].concat(), "TRUSTED_PROXIES");
        assert!(line.contains("10.0.0.0/99"), "{line}");
    }
}
