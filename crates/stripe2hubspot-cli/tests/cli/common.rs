//! Starting the binary and talking to it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use hubspot_crm::fake::FakeHubSpot;
use stripe2hubspot::ingest::{SIGNATURE_HEADER, WEBHOOK_PATH};
use stripe2hubspot::testkit::sign_now;

pub const SECRET: &str = "whsec_cli_test";
pub const ADMIN_TOKEN: &str = "admin-token-for-the-cli-tests-0123";
/// Long enough for a slow CI machine; the loops poll, so a passing run is fast.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The binary with only `envs` set: no .env file and nothing from the developer's shell.
pub fn binary(args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stripe2hubspot"));
    command
        .args(args)
        .env_clear()
        .current_dir(std::env::temp_dir())
        .envs(envs.iter().copied());
    command
}

/// Runs the binary to completion off the async runtime.
pub async fn output(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = binary(args, envs);
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

/// The environment of a server against `hubspot` with a fresh SQLite queue in `dir`.
pub fn server_env(hubspot: &FakeHubSpot, dir: &tempfile::TempDir) -> Vec<(String, String)> {
    vec![
        ("STRIPE_WEBHOOK_SECRET".into(), SECRET.into()),
        ("HUBSPOT_ACCESS_TOKEN".into(), hubspot.token()),
        ("HUBSPOT_BASE_URL".into(), hubspot.base_url()),
        (
            "STRIPE2HUBSPOT_QUEUE".into(),
            format!("sqlite://{}", dir.path().join("queue.db").display()),
        ),
        ("BIND_ADDR".into(), "127.0.0.1:0".into()),
        ("RUST_LOG".into(), "warn".into()),
    ]
}

/// A running `stripe2hubspot serve`; killed if a test fails before stopping it.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub http: reqwest::Client,
}

impl Server {
    pub async fn start(envs: &[(String, String)]) -> Server {
        Server::spawn(envs, Stdio::inherit()).await
    }

    /// Like [`Server::start`], with the log (stderr) written to `log`.
    pub async fn start_logging_to(envs: &[(String, String)], log: &std::path::Path) -> Server {
        Server::spawn(envs, std::fs::File::create(log).unwrap().into()).await
    }

    async fn spawn(envs: &[(String, String)], stderr: Stdio) -> Server {
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut child = binary(&["serve"], &envs)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        })
        .await
        .unwrap()
        .unwrap();
        let base = line.trim().rsplit(' ').next().unwrap().to_owned();
        assert!(base.starts_with("http://127.0.0.1:"), "{line}");
        Server {
            child: Some(child),
            base,
            http: reqwest::Client::new(),
        }
    }

    pub async fn send(&self, body: &str, secret: &str) -> u16 {
        self.http
            .post(format!("{}{WEBHOOK_PATH}", self.base))
            .header(SIGNATURE_HEADER, sign_now(body.as_bytes(), secret))
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: serde_json::Value,
    ) -> (u16, String) {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Whether the process has not been signalled by [`Server::signal`] yet.
    pub fn alive(&self) -> bool {
        self.child.is_some()
    }

    /// Sends `signal` (such as `-KILL`) and waits for the process to exit, off the runtime.
    pub async fn signal(&mut self, signal: &str) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let pid = child.id().to_string();
        assert!(Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap()
            .success());
        tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap()
            .ok()
    }

    /// Sends SIGTERM and returns the exit code.
    pub async fn stop(mut self) -> Option<i32> {
        let mut child = self.child.take().unwrap();
        let pid = child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap()
            .unwrap()
            .code()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `done` until it holds, failing the test after [`PATIENCE`].
pub async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `found` until it returns a value, failing the test after [`PATIENCE`].
pub async fn until<T, F, Fut>(what: &str, mut found: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = found().await {
            return value;
        }
        assert!(started.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of one sample line of a Prometheus text exposition, e.g.
/// `stripe2hubspot_webhooks_received_total{outcome="queued"}`; 0 when absent.
pub fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok()).flatten()
        })
        .unwrap_or(0.0)
}
