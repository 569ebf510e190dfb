//! A Kafka-compatible broker for the tests and the benchmark: the one
//! `EVENTSMITH_KAFKA_BROKERS` names, or else a `tansu` broker (`cargo install tansu`;
//! `EVENTSMITH_TANSU` names the binary) of the caller's own on a free port, keeping its data in
//! memory, stopped when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A broker to produce to and fetch from.
pub(crate) struct KafkaBroker {
    brokers: String,
    child: Option<Child>,
}

impl KafkaBroker {
    /// The broker, or `None` when there is none to use (no address given, no `tansu`).
    ///
    /// # Panics
    /// When a `tansu` it started does not listen within 20 s.
    pub(crate) fn start() -> Option<Self> {
        if let Ok(brokers) = std::env::var("EVENTSMITH_KAFKA_BROKERS") {
            return Some(Self {
                brokers,
                child: None,
            });
        }
        let binary = tansu_binary()?;
        let port = TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(binary)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
            ])
            .arg(&url)
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let broker = Self {
            brokers: format!("127.0.0.1:{port}"),
            child: Some(child),
        };
        let up = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < up, "tansu did not come up on port {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(broker)
    }

    /// Its address, `host:port`.
    pub(crate) fn brokers(&self) -> &str {
        &self.brokers
    }
}

impl Drop for KafkaBroker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

/// `EVENTSMITH_TANSU`, or `tansu` on the `PATH` or in cargo's bin.
fn tansu_binary() -> Option<PathBuf> {
    if let Some(binary) = std::env::var_os("EVENTSMITH_TANSU") {
        return Some(binary.into());
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain(cargo_home.map(|h| h.join("bin")))
        .map(|dir| dir.join("tansu"))
        .find(|p| p.is_file())
}
