//! Crash safety: every enqueue acknowledged before a SIGKILL is in the SQLite file afterwards.
//!
//! The parent test re-runs this test binary as a child that only enqueues (selected by an
//! environment variable) and prints each acknowledged event id; it kills the child mid-stream.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::Arc;

use stripe2hubspot_queue::{conformance::new_job, Enqueued, Queue, SqliteQueue};

const CHILD_DB: &str = "STRIPE2HUBSPOT_QUEUE_CRASH_CHILD_DB";
const KILL_AFTER: usize = 500;

/// The child's test name as the harness knows it: its module path without the crate.
fn child_test_name() -> String {
    let module = module_path!().split_once("::").map_or("", |(_, rest)| rest);
    format!("{module}::crash_child")
}

/// The child: does nothing unless started by `acknowledged_enqueues_survive_sigkill`.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_DB) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async move {
        let q = Arc::new(SqliteQueue::open(path).await.expect("open queue"));
        let mut tasks = Vec::new();
        for p in 0..16 {
            let q = q.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..1_000_000 {
                    let id = format!("evt_{p}_{i}");
                    q.enqueue(new_job(&id)).await.expect("enqueue");
                    // Written straight to the pipe (not the test harness's capture) and flushed,
                    // so the parent sees exactly the acknowledged ids.
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ACK {id}").expect("stdout");
                    out.flush().expect("stdout");
                }
            }));
        }
        for t in tasks {
            t.await.expect("producer");
        }
    });
}

#[tokio::test]
async fn acknowledged_enqueues_survive_sigkill() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("queue.db");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            &child_test_name(),
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("child stdout");

    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read child output");
        if let Some(id) = line.strip_prefix("ACK ") {
            acked.push(id.to_owned());
            if acked.len() == KILL_AFTER {
                child.kill().expect("SIGKILL child");
            }
        }
        // After the kill, keep reading: acknowledgements already in the pipe count too.
    }
    let status = child.wait().expect("wait for child");
    assert_eq!(
        status.signal(),
        Some(9),
        "child should die by SIGKILL mid-stream, got {status:?} after {} acks",
        acked.len()
    );
    assert!(acked.len() >= KILL_AFTER, "only {} acks", acked.len());

    let q = SqliteQueue::open(&path).await.expect("reopen after crash");
    let mut missing = Vec::new();
    for id in &acked {
        if let Enqueued::Inserted(_) = q.enqueue(new_job(id)).await.expect("enqueue") {
            missing.push(id.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged events lost, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    // The file is usable after recovery: stored jobs can still be claimed.
    assert!(!q
        .reserve(10, std::time::Duration::from_secs(60))
        .await
        .expect("reserve")
        .is_empty());
}
