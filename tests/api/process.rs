//! `leadqual serve` as a process of its own, for what only a whole process
//! shows: its log, its listeners, its exit status, and what is global to it
//! (the metrics recorder, the trace exporter).

use std::collections::HashSet;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tonic::transport::Channel;

/// The longest any wait of these tests lasts, so that a failure cannot hang.
pub const WAIT: Duration = Duration::from_secs(20);

/// A port that was free a moment ago: the child binds it itself, since its
/// port 0 could not be read back.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// `leadqual serve` as a child process, killed when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts `leadqual serve` on a free port over `database_url` with
    /// `args` and `env`, and waits until it answers gRPC.
    pub async fn start(
        database_url: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> (Server, Channel) {
        let mut server = Server::spawn(database_url, args, env);
        let channel = server.connect().await;
        (server, channel)
    }

    /// Starts `leadqual serve` on a free port over `database_url` with
    /// `args` and `env`.
    pub fn spawn(database_url: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("server.log");
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_leadqual"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--database-url", database_url])
            .args(args)
            .env_remove("LEADQUAL_METRICS_LISTEN")
            .env_remove("LEADQUAL_OTLP_ENDPOINT")
            .env_remove("LEADQUAL_LISTEN")
            .env_remove("LEADQUAL_DATABASE_URL")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("a log file"))
            .spawn()
            .expect("the leadqual binary starts");
        Server {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn connect(&mut self) -> Channel {
        let endpoint = Channel::from_shared(format!("http://127.0.0.1:{}", self.port))
            .expect("endpoint")
            .connect_timeout(Duration::from_secs(1));
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(channel) = endpoint.connect().await {
                return channel;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the server exited with {status}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "the server does not answer on port {}:\n{}",
                self.port,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The TCP ports the process listens on, read from /proc.
    pub fn listening_ports(&self) -> HashSet<u16> {
        let pid = self.child.id();
        let sockets: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .expect("the server's descriptors")
            .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
            .filter_map(|target| {
                let target = target.to_string_lossy().into_owned();
                Some(
                    target
                        .strip_prefix("socket:[")?
                        .strip_suffix(']')?
                        .to_owned(),
                )
            })
            .collect();
        let mut ports = HashSet::new();
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            let text = std::fs::read_to_string(table).unwrap_or_default();
            for line in text.lines().skip(1) {
                let columns: Vec<&str> = line.split_whitespace().collect();
                // local_address is column 1 (ADDR:PORT in hex), st column 3
                // (0A: LISTEN), inode column 9.
                let listening = columns.get(3) == Some(&"0A");
                let ours = columns.get(9).is_some_and(|inode| sockets.contains(*inode));
                if listening && ours {
                    let port = columns[1].rsplit(':').next().unwrap_or_default();
                    ports.insert(u16::from_str_radix(port, 16).expect("a hex port"));
                }
            }
        }
        ports
    }

    /// Sends SIGTERM and waits for the process to end.
    pub async fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM sent to {pid}");
        self.exit().await
    }

    /// Waits for the process to end by itself.
    pub async fn exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("the server's status") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not stop:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
