//! `stripe2hubspot portals add|list|set|remove` as an operator runs them, on a SQLite file and
//! on PostgreSQL: the exit code of each outcome, the message naming what is wrong, and no
//! token in any output.
//!
//! ```sh
//! STRIPE2HUBSPOT_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo test -p stripe2hubspot-cli --all-features --test cli -- portals
//! ```

use std::process::Output;

use crate::common::output;

const TOKEN: &str = "pat-na1-cli-portal-SECRET-1111";
const ROTATED: &str = "pat-na1-cli-portal-SECRET-2222";

/// Every output of the binary seen by a scenario, to check no token shows in any.
#[derive(Default)]
struct Seen(String);

impl Seen {
    /// Runs `portals ARGS` against `queue`, with `token` as HUBSPOT_ACCESS_TOKEN if given.
    async fn portals(&mut self, queue: &str, token: Option<&str>, args: &[&str]) -> Run {
        let mut all = vec!["portals"];
        all.extend_from_slice(args);
        let mut envs = vec![("STRIPE2HUBSPOT_QUEUE", queue), ("RUST_LOG", "debug")];
        if let Some(token) = token {
            envs.push(("HUBSPOT_ACCESS_TOKEN", token));
        }
        let run = Run::from(output(&all, &envs).await);
        self.0.push_str(&run.stdout);
        self.0.push_str(&run.stderr);
        run
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Self {
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Asserts the exit code and that stderr mentions each of `words`.
    fn expect(&self, code: i32, words: &[&str]) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "stdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        for word in words {
            assert!(
                self.stderr.contains(word),
                "stderr should mention {word:?}: {}",
                self.stderr
            );
        }
        self
    }
}

/// The stored token of portal `id`, read straight from the store.
async fn stored_token(queue: &str, id: &str) -> String {
    let store = stripe2hubspot::queue::connect(queue).await.unwrap();
    let portal = store.portals.get(id).await.unwrap().unwrap();
    portal.token.expose().to_owned()
}

/// The whole command-line contract against the queue at `queue` (fresh and empty).
async fn scenario(queue: &str) {
    let mut seen = Seen::default();
    let t = Some(TOKEN);

    let run = seen.portals(queue, None, &["list"]).await;
    run.expect(0, &[]);
    assert_eq!(run.stdout, "no portals\n");

    let run = seen
        .portals(
            queue,
            t,
            &[
                "add",
                "acme",
                "--stripe-account",
                "acct_2",
                "--stripe-account",
                "acct_1",
                "--api-version",
                "2026-03",
            ],
        )
        .await;
    run.expect(0, &[]);
    assert!(run.stdout.contains("added portal acme"), "{}", run.stdout);

    // What the operator must fix exits 2 and names it.
    seen.portals(queue, t, &["add", "acme", "--stripe-account", "acct_9"])
        .await
        .expect(2, &["\"acme\"", "already used"]);
    seen.portals(
        queue,
        t,
        &[
            "add",
            "beta",
            "--stripe-account",
            "acct_3",
            "--stripe-account",
            "acct_1",
        ],
    )
    .await
    .expect(2, &["acct_1", "\"acme\""]);
    seen.portals(
        queue,
        t,
        &[
            "add",
            "beta",
            "--stripe-account",
            "acct_3",
            "--rate-limit",
            "fast",
        ],
    )
    .await
    .expect(2, &["--rate-limit", "fast"]);
    seen.portals(
        queue,
        t,
        &[
            "add",
            "beta",
            "--stripe-account",
            "acct_3",
            "--api-version",
            "v3",
        ],
    )
    .await
    .expect(2, &["--api-version", "v3"]);
    seen.portals(
        queue,
        t,
        &[
            "add",
            "beta",
            "--stripe-account",
            "acct_3",
            "--hubspot-base-url",
            "ftp://x",
        ],
    )
    .await
    .expect(2, &["--hubspot-base-url", "ftp://x"]);
    seen.portals(queue, t, &["add", "Beta_1", "--stripe-account", "acct_3"])
        .await
        .expect(2, &["ID", "Beta_1"]);
    seen.portals(queue, t, &["add", "beta", "--stripe-account", "cus_3"])
        .await
        .expect(2, &["--stripe-account", "cus_3"]);
    seen.portals(queue, t, &["add", "beta"])
        .await
        .expect(2, &["--stripe-account"]);
    seen.portals(queue, None, &["add", "beta", "--stripe-account", "acct_3"])
        .await
        .expect(2, &["HUBSPOT_ACCESS_TOKEN"]);

    // None of the refused adds left anything behind.
    let run = seen.portals(queue, t, &["list"]).await;
    run.expect(0, &[]);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    for column in ["ID", "STRIPE ACCOUNTS", "RATE LIMIT", "PAUSED"] {
        assert!(lines[0].contains(column), "{}", lines[0]);
    }
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(row, ["acme", "acct_1,acct_2", "100/10s", "no"]);

    // Set changes what it is given; without HUBSPOT_ACCESS_TOKEN the token stays.
    seen.portals(
        queue,
        None,
        &[
            "set",
            "acme",
            "--rate-limit",
            "50/10s",
            "--stripe-account",
            "acct_3",
        ],
    )
    .await
    .expect(0, &[]);
    assert_eq!(stored_token(queue, "acme").await, TOKEN);
    let run = seen.portals(queue, None, &["list"]).await;
    let row: Vec<&str> = run
        .stdout
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(row, ["acme", "acct_3", "50/10s", "no"]);
    seen.portals(queue, Some(ROTATED), &["set", "acme"])
        .await
        .expect(0, &[]);
    assert_eq!(stored_token(queue, "acme").await, ROTATED);
    seen.portals(queue, None, &["set", "acme"])
        .await
        .expect(2, &["nothing to change"]);
    seen.portals(queue, None, &["set", "nope", "--rate-limit", "10/1s"])
        .await
        .expect(2, &["\"nope\"", "portals list"]);
    seen.portals(queue, t, &["add", "beta", "--stripe-account", "acct_1"])
        .await
        .expect(0, &[]);
    seen.portals(queue, None, &["set", "beta", "--stripe-account", "acct_3"])
        .await
        .expect(2, &["acct_3", "\"acme\""]);

    // Remove frees the accounts; an unknown id exits 2.
    let run = seen.portals(queue, None, &["remove", "acme"]).await;
    run.expect(0, &[]);
    assert!(run.stdout.contains("acct_3"), "{}", run.stdout);
    seen.portals(queue, None, &["remove", "acme"])
        .await
        .expect(2, &["\"acme\""]);
    seen.portals(queue, None, &["set", "beta", "--stripe-account", "acct_3"])
        .await
        .expect(0, &[]);
    let run = seen.portals(queue, None, &["list"]).await;
    let rows: Vec<&str> = run.stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{}", run.stdout);
    assert!(rows[0].starts_with("beta"), "{}", run.stdout);

    for secret in [TOKEN, ROTATED, "SECRET"] {
        assert!(!seen.0.contains(secret), "a token was printed:\n{}", seen.0);
    }
}

#[tokio::test]
async fn portals_commands_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let queue = format!("sqlite://{}", dir.path().join("queue.db").display());
    scenario(&queue).await;
}

/// `remove --help` says the portal's data stays until `--purge` (issue 23).
#[tokio::test]
async fn portals_remove_help_says_the_data_stays_until_purge() {
    let run = Run::from(output(&["portals", "remove", "--help"], &[]).await);
    assert_eq!(run.code, Some(0));
    assert!(
        run.stdout.contains("--purge") && run.stdout.contains("stay"),
        "{}",
        run.stdout
    );
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn portals_commands_on_postgres() {
    use sqlx::Connection;
    let Ok(admin_url) = std::env::var("STRIPE2HUBSPOT_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("STRIPE2HUBSPOT_REQUIRE_POSTGRES").is_none(),
            "STRIPE2HUBSPOT_REQUIRE_POSTGRES is set but STRIPE2HUBSPOT_TEST_POSTGRES_URL is not"
        );
        eprintln!(
            "skipping the PostgreSQL portals test: STRIPE2HUBSPOT_TEST_POSTGRES_URL is not set"
        );
        return;
    };
    let name = format!("s2h_cli_portals_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    for statement in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::query(&statement).execute(&mut admin).await.unwrap();
    }
    let base = admin_url
        .rsplit_once('/')
        .map(|(base, _)| base)
        .unwrap_or(&admin_url);
    let queue = format!("{base}/{name}");
    // Run the scenario on a task of its own so the database is dropped even if it fails.
    let outcome = tokio::spawn(async move { scenario(&queue).await }).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}
