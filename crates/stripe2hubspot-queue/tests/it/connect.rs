//! `queue::connect` URL handling, reopening a SQLite file, schema versions, redacted Debug.

use stripe2hubspot_queue::{conformance::new_job, connect, Enqueued, QueueError};

#[tokio::test]
async fn memory_url_gives_a_working_queue() {
    let q = connect("memory:").await.expect("memory queue");
    assert!(matches!(
        q.queue.enqueue(new_job("evt_1")).await,
        Ok(Enqueued::Inserted(_))
    ));
}

#[tokio::test]
async fn unknown_scheme_is_a_config_error_without_the_url() {
    let Err(err) = connect("redis://user:hunter2@cache/0").await else {
        panic!("redis:// accepted");
    };
    let msg = err.to_string();
    assert!(matches!(err, QueueError::Config { .. }), "{err:?}");
    assert!(
        msg.contains("\"redis\"") && msg.contains("sqlite://"),
        "{msg}"
    );
    assert!(!msg.contains("hunter2"), "URL secret leaked: {msg}");
}

#[test]
fn debug_hides_payloads() {
    let mut job = new_job("evt_1");
    job.payload = b"{\"email\":\"jane@example.com\"}".to_vec();
    let shown = format!("{job:?}");
    assert!(
        shown.contains("evt_1") && !shown.contains("jane@example.com"),
        "{shown}"
    );
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use std::time::Duration;
    use stripe2hubspot_queue::SqliteQueue;

    #[tokio::test]
    async fn sqlite_url_creates_the_file_and_keeps_jobs_across_reopen() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sub.db");
        let url = format!("sqlite://{}", path.display());
        let id = {
            let q = connect(&url).await.expect("open");
            q.queue
                .enqueue(new_job("evt_kept"))
                .await
                .expect("enqueue")
                .id()
        };
        assert!(path.exists());
        let q = connect(&format!("sqlite:{}", path.display()))
            .await
            .expect("reopen");
        assert_eq!(
            q.queue.enqueue(new_job("evt_kept")).await.expect("enqueue"),
            Enqueued::Duplicate(id)
        );
        let jobs = q
            .queue
            .reserve(5, Duration::from_secs(60))
            .await
            .expect("reserve");
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].payload, new_job("evt_kept").payload);
    }

    #[tokio::test]
    async fn sqlite_url_without_a_file_is_rejected() {
        for url in ["sqlite:", "sqlite://", "sqlite::memory:"] {
            let err = SqliteQueue::connect(url).await.expect_err(url);
            assert!(matches!(err, QueueError::Config { .. }), "{url}: {err:?}");
            assert!(err.to_string().contains("memory:"), "{err}");
        }
    }

    #[tokio::test]
    async fn unwritable_location_is_a_config_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("missing-dir").join("q.db");
        let err = SqliteQueue::open(&path)
            .await
            .expect_err("opened in a missing directory");
        assert!(matches!(err, QueueError::Config { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn newer_schema_version_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("q.db");
        SqliteQueue::open(&path).await.expect("open").close().await;
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
            .await
            .expect("raw open");
        sqlx::query("INSERT INTO stripe2hubspot_schema_version (version) VALUES (99)")
            .execute(&pool)
            .await
            .expect("bump version");
        pool.close().await;
        let err = SqliteQueue::open(&path)
            .await
            .expect_err("opened a newer schema");
        assert!(matches!(err, QueueError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("upgrade"), "{err}");
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use stripe2hubspot_queue::{PostgresOptions, PostgresQueue};

    #[tokio::test]
    async fn bad_postgres_url_is_a_config_error_without_the_password() {
        let err = PostgresQueue::connect("postgres://app:hunter2@db:notaport/app")
            .await
            .expect_err("bad port accepted");
        assert!(matches!(err, QueueError::Config { .. }), "{err:?}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[tokio::test]
    async fn schema_must_be_a_plain_identifier() {
        let options = PostgresOptions {
            schema: Some("x\"; DROP TABLE y; --".into()),
            ..Default::default()
        };
        let err = PostgresQueue::connect_with("postgres://app@127.0.0.1:1/app", options)
            .await
            .expect_err("accepted");
        assert!(matches!(err, QueueError::Config { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn unreachable_database_is_unavailable() {
        let err = PostgresQueue::connect("postgres://app@127.0.0.1:1/app")
            .await
            .expect_err("connected to port 1");
        assert!(err.is_transient(), "{err:?}");
    }
}
