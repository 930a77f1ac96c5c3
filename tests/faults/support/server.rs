//! The binary under test as a child process: started on a free loopback
//! port, logging JSON lines to a file, killed or signalled, watched.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

/// The release binary under test, from `LEADQUAL_BIN`.
pub fn binary() -> PathBuf {
    let Some(path) = std::env::var_os("LEADQUAL_BIN").filter(|p| !p.is_empty()) else {
        panic!(
            "LEADQUAL_BIN is not set: the fault tests run the release binary as a separate \
             process. Run scripts/faults, or `cargo build --release --bin leadqual` and set \
             LEADQUAL_BIN to the absolute path of target/release/leadqual."
        );
    };
    let path = PathBuf::from(path);
    assert!(
        path.is_absolute() && path.is_file(),
        "LEADQUAL_BIN must be the absolute path of the leadqual binary, not {}",
        path.display()
    );
    path
}

/// A `leadqual serve` process. Killed when dropped; its log is printed when
/// the test failed.
pub struct Server {
    child: Child,
    log: PathBuf,
    addr: Option<SocketAddr>,
    exit: Option<ExitStatus>,
}

impl Server {
    /// Starts `leadqual serve` on `database_url` with `args` and waits until
    /// it listens.
    pub async fn start(dir: &Path, name: &str, database_url: &str, args: &[&str]) -> Server {
        let mut server = Server::spawn(dir, name, database_url, args);
        server.wait_listening(Duration::from_secs(30)).await;
        server
    }

    /// Starts `leadqual serve` without waiting for anything. It listens on a
    /// free loopback port and logs JSON lines to `DIR/NAME.log`.
    pub fn spawn(dir: &Path, name: &str, database_url: &str, args: &[&str]) -> Server {
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).expect("create the server log");
        let err = out.try_clone().expect("a second handle on the server log");
        let child = Command::new(binary())
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(["--database-url", database_url])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary().display()));
        Server {
            child,
            log,
            addr: None,
            exit: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The address it listens on (after [`Server::wait_listening`]).
    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("the server listens")
    }

    /// Waits for the "listening" log line and returns its address; panics
    /// when the process exits first or `timeout` passes.
    pub async fn wait_listening(&mut self, timeout: Duration) -> SocketAddr {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(addr) = self.listening() {
                self.addr = Some(addr);
                return addr;
            }
            if let Some(status) = self.exit_status() {
                panic!(
                    "the server exited ({status}) before listening:\n{}",
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the server did not listen within {timeout:?}:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The address of the "listening" log line, once written.
    pub fn listening(&self) -> Option<SocketAddr> {
        self.log_lines().iter().find_map(|line| {
            let message = line.get("message")?.as_str()?;
            if !message.contains("listening") {
                return None;
            }
            line.get("address")?.as_str()?.parse().ok()
        })
    }

    /// The log so far, one JSON object a line (other lines as
    /// `{"raw": line}`).
    pub fn log_lines(&self) -> Vec<serde_json::Value> {
        self.log_text()
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|_| serde_json::json!({ "raw": line }))
            })
            .collect()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fails the test if the process panicked anywhere.
    pub fn assert_no_panic(&self) {
        let log = self.log_text();
        assert!(
            !log.contains("panicked"),
            "the server panicked:\n{}",
            tail(&log, 40)
        );
    }

    /// The exit status, once it exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().expect("the server's status");
        }
        self.exit
    }

    pub fn is_running(&mut self) -> bool {
        self.exit_status().is_none()
    }

    /// `kill -9`: no chance to finish anything.
    pub fn kill9(&mut self) {
        if self.is_running() {
            self.child.kill().expect("SIGKILL the server");
            self.exit = Some(self.child.wait().expect("reap the server"));
        }
    }

    /// SIGTERM: the orderly stop an orchestrator asks for.
    pub fn sigterm(&mut self) {
        let pid = Pid::from_child(&self.child);
        kill_process(pid, Signal::TERM).expect("SIGTERM the server");
    }

    /// Waits up to `timeout` for the process to exit.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exit_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Resident memory now and at its peak (VmRSS, VmHWM), in KiB.
    pub fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status of the server");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or_else(|| panic!("{name} in /proc/PID/status"))
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Successful calls are one line each: the rest tells the story.
            let notable: String = self
                .log_text()
                .lines()
                .filter(|l| !(l.contains("\"call completed\"") && l.contains("\"code\":\"OK\"")))
                .map(|l| format!("{}\n", l.chars().take(400).collect::<String>()))
                .collect();
            eprintln!(
                "--- server log {} (last lines but successful calls) ---\n{}",
                self.log.display(),
                tail(&notable, 30)
            );
        }
        self.kill9();
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A loopback port free right now (for a process that must keep its port
/// across restarts, such as PostgreSQL).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}
