//! Headless Chromium under WebDriver: finds the browser and chromedriver,
//! starts a chromedriver of this test's own on a free port (in a process
//! group of its own with a watchdog, so that it and the browser it starts are
//! gone when the test is, however it ends), and offers the few steps the
//! scenarios take, each waiting for the page as a user would.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

/// How long a page may take to show what a step waits for.
const PAGE_WAIT: Duration = Duration::from_secs(15);

/// The browser's window: what the screenshots show.
const WINDOW: &str = "--window-size=1280,900";

/// Chromium and chromedriver binaries found on this machine.
pub struct Chromium {
    browser: PathBuf,
    chromedriver: PathBuf,
}

/// The path in `env_var` when set, else the first of `names` on PATH; or
/// why there is none.
fn find_binary(env_var: &str, names: &[&str]) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(env_var).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(format!(
                "{env_var}={} is not an executable file",
                path.display()
            ))
        };
    }
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    names
        .iter()
        .find_map(|name| {
            std::env::split_paths(&dirs)
                .map(|dir| dir.join(name))
                .find(|candidate| is_executable(candidate))
        })
        .ok_or_else(|| format!("none of {} is on PATH", names.join(", ")))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl Chromium {
    /// The binaries (LEADQUAL_CHROMIUM and LEADQUAL_CHROMEDRIVER override
    /// the PATH lookup). Missing: the test fails when CI=true, else it is
    /// skipped with a note, so a machine without Chromium still runs the
    /// rest of the suite.
    pub fn required(test: &str) -> Option<Chromium> {
        let browser = find_binary(
            "LEADQUAL_CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        );
        let chromedriver = find_binary("LEADQUAL_CHROMEDRIVER", &["chromedriver"]);
        match (browser, chromedriver) {
            (Ok(browser), Ok(chromedriver)) => Some(Chromium {
                browser,
                chromedriver,
            }),
            (browser, chromedriver) => {
                let missing = [browser.err(), chromedriver.err()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("; ");
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!(
                        "{test}: no browser to drive ({missing}), and CI=true requires the \
                         browser tests. Install the Debian packages chromium and chromium-driver \
                         (.ci/run does), or point LEADQUAL_CHROMIUM and LEADQUAL_CHROMEDRIVER at \
                         the binaries."
                    );
                }
                eprintln!(
                    "NOTE: {test} SKIPPED: no browser to drive ({missing}). Install the Debian \
                     packages chromium and chromium-driver to run the browser tests."
                );
                None
            }
        }
    }

    /// Runs `scenario` in a fresh headless Chromium pointed at the console on
    /// `console_port`; the browser and its chromedriver are gone afterwards,
    /// whether the scenario passed or panicked.
    pub async fn drive<F>(&self, console_port: u16, scenario: F)
    where
        F: AsyncFnOnce(&Browser),
    {
        let browser = self.open(console_port).await;
        let outcome = AssertUnwindSafe(scenario(&browser)).catch_unwind().await;
        browser.quit().await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }

    async fn open(&self, console_port: u16) -> Browser {
        let chromedriver = self.chromedriver.clone();
        let driver = tokio::task::spawn_blocking(move || Driver::start(&chromedriver))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": self.browser,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    WINDOW,
                    "--disable-dev-shm-usage",
                    "--hide-scrollbars",
                    "--force-device-scale-factor=1",
                    "--lang=en-US",
                    "--no-first-run",
                ],
            },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("an object")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "chromedriver cannot start {}: {e}\n{}",
                    self.browser.display(),
                    driver.log()
                )
            });
        Browser {
            client,
            base: format!("http://127.0.0.1:{console_port}"),
            driver,
        }
    }
}

/// Runs chromedriver (`$1`, on port `$2`) in the background and, when
/// either it or the test process (`$3`) is gone, kills the process group it
/// was started in: chromedriver and the browser it started. A browser
/// outlives a chromedriver killed on its own, and a test killed on a timeout
/// runs no destructor.
const WATCHDOG: &str = r#""$1" --port="$2" --allowed-ips=127.0.0.1 &
while kill -0 "$3" 2>/dev/null && kill -0 $! 2>/dev/null; do sleep 1; done
kill -KILL 0"#;

/// A chromedriver this test started: killed, with the browser it started,
/// when dropped.
struct Driver {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Driver {
    fn start(binary: &Path) -> Driver {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("chromedriver.log");
        let mut failures = String::new();
        // A free port can be taken between asking for it and chromedriver
        // binding it: try again on another.
        for _ in 0..3 {
            let port = free_port();
            let output = std::fs::File::create(&log).expect("the chromedriver log");
            let mut child = Command::new("sh")
                .args(["-c", WATCHDOG, "watchdog"])
                .arg(binary)
                .arg(port.to_string())
                .arg(std::process::id().to_string())
                .stdin(Stdio::null())
                .stdout(output.try_clone().expect("the log file"))
                .stderr(output)
                // A process group of its own: stopping it stops chromedriver
                // and the browser processes it started, and nothing else.
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
            if wait_until_listening(&mut child, port, &log) {
                return Driver {
                    child,
                    port,
                    log,
                    _dir: dir,
                };
            }
            // Not reaped yet only if it is still running.
            let running = matches!(child.try_wait(), Ok(None));
            stop(&mut child, running);
            failures.push_str(&std::fs::read_to_string(&log).unwrap_or_default());
        }
        panic!(
            "chromedriver ({}) did not start listening; its output:\n{failures}",
            binary.display()
        )
    }

    fn log(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        format!("chromedriver output:\n{text}")
    }
}

/// Whether chromedriver says it listens on `port` within 20 s (false if it,
/// and so its watchdog, exits first, as when the port was taken meanwhile:
/// then whatever answers there is not ours).
fn wait_until_listening(child: &mut Child, port: u16, log: &Path) -> bool {
    let started = format!("ChromeDriver was started successfully on port {port}");
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return false;
        }
        if std::fs::read_to_string(log).is_ok_and(|text| text.contains(&started))
            && TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Kills a chromedriver's watchdog this test started, with its process group
/// when `group` (the group `process_group(0)` made for it, whose id is the
/// child's: safe to signal while the child is not reaped).
fn stop(child: &mut Child, group: bool) {
    use rustix::process::{Pid, Signal, kill_process_group};
    if group {
        let _ = kill_process_group(Pid::from_child(child), Signal::KILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Never reaped while it ran: its group is still its own.
        stop(&mut self.child, true);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A browser window on the console.
pub struct Browser {
    pub client: Client,
    base: String,
    driver: Driver,
}

impl Browser {
    /// Ends the WebDriver session (the browser quits), then chromedriver.
    async fn quit(self) {
        let Browser { client, driver, .. } = self;
        let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
        drop(driver);
    }

    /// Opens a console path, e.g. "/leads".
    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    /// The path and query of the page shown.
    pub async fn location(&self) -> String {
        let url = self.client.current_url().await.expect("the current URL");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// The page's visible text.
    pub async fn text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Waits until the page shows `text`; fails with what it shows instead.
    pub async fn sees(&self, text: &str) {
        self.sees_all(&[text]).await;
    }

    /// Waits until the page shows every one of `texts`.
    pub async fn sees_all(&self, texts: &[&str]) {
        let deadline = Instant::now() + PAGE_WAIT;
        loop {
            let page = self.text().await;
            let missing: Vec<&&str> = texts.iter().filter(|t| !page.contains(**t)).collect();
            if missing.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "{missing:?} not shown on {}; the page shows:\n{page}",
                    self.location().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the browser is at `path` (path and query).
    pub async fn is_at(&self, path: &str) {
        let deadline = Instant::now() + PAGE_WAIT;
        loop {
            let at = self.location().await;
            if at == path {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "expected to be at {path}, the browser is at {at}; the page shows:\n{}",
                    self.text().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The element `css` selects; fails if the page has none.
    pub async fn find(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(PAGE_WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!(
                "no {css} on {} ({e}); the page shows:\n{}",
                self.location().await,
                self.text().await
            ),
        }
    }

    /// How many elements `css` selects now.
    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map_or(0, |all| all.len())
    }

    /// Types `text` into the field `css` selects, as a user would.
    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear the field");
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Chooses the option of `value` in the select `css` selects.
    pub async fn choose(&self, css: &str, value: &str) {
        self.find(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("choose {value} in {css}: {e}"));
    }

    /// Clicks the element `css` selects.
    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Runs `script` in the page, as a tampering user or extension could.
    pub async fn script(&self, script: &str) -> serde_json::Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script {script:?}: {e}"))
    }

    /// [`Browser::screenshot`] of the page from its top down to the
    /// bottom of the element `css` selects: the window grows for it, then
    /// gets its size back.
    pub async fn screenshot_down_to(&self, name: &str, css: &str) {
        self.find(css).await;
        let size = self
            .script(&format!(
                "const bottom = document.querySelector({css:?}).getBoundingClientRect().bottom
                     + window.scrollY;
                 return [window.outerWidth, window.outerHeight,
                         Math.ceil(bottom + 24 + window.outerHeight - window.innerHeight)];"
            ))
            .await;
        let number = |i: usize| size[i].as_f64().unwrap_or_else(|| panic!("a size: {size}")) as u32;
        let (width, height, tall) = (number(0), number(1), number(2));
        self.client
            .set_window_size(width, tall.max(height))
            .await
            .expect("grow the window");
        self.screenshot(name).await;
        self.client
            .set_window_size(width, height)
            .await
            .expect("restore the window");
    }

    /// With LEADQUAL_SCREENSHOTS=1, saves the window as
    /// docs/screenshots/NAME.png (the README's pictures); otherwise takes
    /// the screenshot and checks it is a PNG, writing nothing.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
        if std::env::var("LEADQUAL_SCREENSHOTS").as_deref() != Ok("1") {
            return;
        }
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
        std::fs::create_dir_all(&dir).expect("docs/screenshots");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        eprintln!("wrote {}", path.display());
    }
}
