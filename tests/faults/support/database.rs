//! Databases for the server under test: a SQLite file in the test's temp
//! dir, a fresh database on the shared PostgreSQL server, or a private
//! PostgreSQL cluster the test may stop and start.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sqlx::Connection;

use super::server::free_port;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where the PostgreSQL tests create their databases.
fn postgres_admin_url() -> String {
    std::env::var("LEADQUAL_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A fresh database; a PostgreSQL one is dropped with it.
pub struct Database {
    pub url: String,
    postgres_name: Option<String>,
}

impl Database {
    pub async fn create(backend: Backend, dir: &Path) -> Database {
        match backend {
            Backend::Sqlite => Database {
                url: format!("sqlite://{}", dir.join("leadqual.db").display()),
                postgres_name: None,
            },
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("leadqual_faults_{}", uuid::Uuid::now_v7().simple());
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL is not reachable at {admin}: {e}"));
                sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create the test database");
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                Database {
                    url: format!("{base}/{name}"),
                    postgres_name: Some(name),
                }
            }
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        // Drop runs inside the test's runtime: clean up on a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::raw_sql(&sql).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}

/// A PostgreSQL cluster of the test's own, in a temp dir, on a port of its
/// own: the test stops and starts it at will. Never the shared server.
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

impl Cluster {
    /// `initdb` in a fresh temp dir; not started yet.
    pub fn init() -> Cluster {
        let bin = postgres_bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("leadqual-faults-pg-")
            .tempdir()
            .expect("temp dir");
        if running_as_root() {
            // initdb and postgres refuse to run as root.
            run(Command::new("chown")
                .arg("postgres:postgres")
                .arg(dir.path()));
        }
        let cluster = Cluster {
            dir,
            bin,
            port: free_port(),
        };
        cluster.pg(
            "initdb",
            &[
                "-D",
                &cluster.data(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
        );
        cluster
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts it and waits until it accepts connections.
    pub fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=100",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("postgres.log").display().to_string();
        self.pg(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
    }

    /// Stops it: `immediate` is a crash (no checkpoint, connections cut),
    /// `fast` an orderly stop that still cuts the connections.
    pub fn stop(&self, mode: &str) {
        self.pg(
            "pg_ctl",
            &["-D", &self.data(), "-m", mode, "-w", "-t", "60", "stop"],
        );
    }

    fn pg(&self, tool: &str, args: &[&str]) -> Output {
        let program = self.bin.join(tool);
        let mut command = if running_as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        command.args(args).current_dir(self.dir.path());
        run(&mut command)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let pid_file = self.dir.path().join("data").join("postmaster.pid");
        if pid_file.exists() {
            let program = self.bin.join("pg_ctl");
            let data = self.data();
            let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
            let _ = if running_as_root() {
                Command::new("runuser")
                    .args(["-u", "postgres", "--"])
                    .arg(&program)
                    .args(args)
                    .output()
            } else {
                Command::new(&program).args(args).output()
            };
        }
    }
}

fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The newest `/usr/lib/postgresql/N/bin`, or the directory of `pg_ctl` on
/// the PATH.
fn postgres_bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let found = Command::new("sh")
        .args(["-c", "command -v pg_ctl"])
        .output()
        .expect("sh");
    let path = String::from_utf8_lossy(&found.stdout).trim().to_owned();
    assert!(
        found.status.success() && !path.is_empty(),
        "PostgreSQL's initdb and pg_ctl are needed (apt-get install postgresql)"
    );
    PathBuf::from(path)
        .parent()
        .expect("pg_ctl's directory")
        .to_path_buf()
}

fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
