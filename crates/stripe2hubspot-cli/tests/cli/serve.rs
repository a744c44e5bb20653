//! `serve`: configuration errors, a webhook synced end to end, /healthz, /metrics, SIGTERM.

use hubspot_crm::fake::FakeHubSpot;
use stripe2hubspot::testkit::Payment;

use crate::common::{eventually, output, sample, server_env, until, Server, SECRET};

#[tokio::test]
async fn a_missing_variable_is_named_and_exits_with_2() {
    let out = output(&["serve"], &[("HUBSPOT_ACCESS_TOKEN", "pat-x")]).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("STRIPE_WEBHOOK_SECRET"), "{stderr}");

    let out = output(&["serve"], &[("STRIPE_WEBHOOK_SECRET", SECRET)]).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("HUBSPOT_ACCESS_TOKEN"), "{stderr}");
    assert!(stderr.contains("service key"), "{stderr}");

    let out = output(
        &["serve"],
        &[
            ("STRIPE_WEBHOOK_SECRET", SECRET),
            ("HUBSPOT_ACCESS_TOKEN", "pat-x"),
            ("BIND_ADDR", "not-an-address"),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("BIND_ADDR"));
}

#[tokio::test]
async fn a_malformed_api_version_is_named_with_the_accepted_ones() {
    let out = output(
        &["serve"],
        &[
            ("STRIPE_WEBHOOK_SECRET", SECRET),
            ("HUBSPOT_ACCESS_TOKEN", "pat-x"),
            ("HUBSPOT_API_VERSION", "2025-09"),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in ["HUBSPOT_API_VERSION", "2026-09", "2026-03", "legacy"] {
        assert!(
            stderr.contains(expected),
            "{expected} missing from {stderr}"
        );
    }
}

#[tokio::test]
async fn a_memory_queue_is_refused_unless_allowed() {
    let out = output(
        &["serve"],
        &[
            ("STRIPE_WEBHOOK_SECRET", SECRET),
            ("HUBSPOT_ACCESS_TOKEN", "pat-x"),
            ("STRIPE2HUBSPOT_QUEUE", "memory:"),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("STRIPE2HUBSPOT_QUEUE") && stderr.contains("restart"),
        "{stderr}"
    );
}

#[tokio::test]
async fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["doctor", "--help"],
        vec!["dead-letters", "--help"],
        vec!["dead-letters", "list", "--help"],
        vec!["dead-letters", "replay", "--help"],
        vec!["status", "--help"],
    ] {
        let out = output(&args, &[]).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}");
        assert!(
            stdout.contains("Usage: stripe2hubspot"),
            "{args:?}: {stdout}"
        );
    }
    // `replay` needs --all or event ids.
    let out = output(&["dead-letters", "replay"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_syncs_a_signed_webhook_counts_it_and_stops_on_sigterm() {
    let hubspot = FakeHubSpot::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&server_env(&hubspot, &dir)).await;

    let (status, health) = server.get("/healthz", None).await;
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    // A SQLite queue has one process: it leads as soon as its engine runs.
    eventually("the process to lead", || async {
        let text = server.get("/healthz", None).await.1;
        serde_json::from_str::<serde_json::Value>(&text).unwrap()
            == serde_json::json!({"status": "ok", "role": "leader"})
    })
    .await;
    // No admin token, no admin routes.
    assert_eq!(server.get("/admin/status", None).await.0, 404);

    let body = Payment::sample().charge_succeeded().to_string();
    assert_eq!(server.send(&body, SECRET).await, 200);
    assert_eq!(server.send(&body, SECRET).await, 200, "redelivery");
    assert_eq!(server.send(&body, "whsec_forged").await, 400);
    let mut other = Payment::sample().charge_succeeded();
    other["id"] = "evt_ignored_type".into();
    other["type"] = "payout.paid".into(); // never handled (customer.* are, since issue 21)
    assert_eq!(server.send(&other.to_string(), SECRET).await, 200);

    // The company pass follows the deal: wait until the company is linked to both.
    eventually("the deal and its company to reach HubSpot", || async {
        let deals = hubspot.deals();
        let companies = hubspot.companies();
        match (deals.first(), companies.first()) {
            (Some(deal), Some(company)) => hubspot
                .associated("companies", &company.id, "deals")
                .contains(&deal.id),
            _ => false,
        }
    })
    .await;
    let contact = hubspot
        .contact_by_email("tony@starkindustries.com")
        .unwrap();
    assert_eq!(contact.property("last_charge_amount"), Some("149.00"));
    assert_eq!(hubspot.deals()[0].property("dealstage"), Some("closedwon"));

    // The queue gauges are read at most once a second: wait for the one after the sync.
    let metrics = until("the synced counter and the done job", || async {
        let text = server.get("/metrics", None).await.1;
        // The client counts a request once its answer is read, a moment after the fake saw it.
        let counted: f64 = text
            .lines()
            .filter(|l| l.starts_with("stripe2hubspot_hubspot_requests_total{"))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum();
        (sample(&text, "stripe2hubspot_payments_synced_total") >= 1.0
            && sample(&text, "stripe2hubspot_queue_jobs{state=\"done\"}") >= 1.0
            && counted as usize == hubspot.total_requests())
        .then_some(text)
    })
    .await;
    let webhooks = |outcome: &str| {
        sample(
            &metrics,
            &format!("stripe2hubspot_webhooks_received_total{{outcome=\"{outcome}\"}}"),
        )
    };
    assert_eq!(webhooks("queued"), 1.0, "{metrics}");
    assert_eq!(webhooks("duplicate"), 1.0, "{metrics}");
    assert_eq!(webhooks("rejected"), 1.0, "{metrics}");
    assert_eq!(webhooks("ignored"), 1.0, "{metrics}");
    assert_eq!(
        sample(&metrics, "stripe2hubspot_payments_synced_total"),
        1.0,
        "{metrics}"
    );
    assert_eq!(sample(&metrics, "stripe2hubspot_paused"), 0.0, "{metrics}");
    assert_eq!(
        sample(&metrics, "stripe2hubspot_queue_jobs{state=\"done\"}"),
        1.0,
        "{metrics}"
    );
    let requests = |endpoint: &str| {
        sample(
            &metrics,
            &format!(
                "stripe2hubspot_hubspot_requests_total{{endpoint=\"{endpoint}\",status=\"2xx\"}}"
            ),
        )
    };
    // A new payment: its contact upserted, its deal created with the association inline;
    // then the company of starkindustries.com upserted by the company pass.
    assert_eq!(
        requests("objects.batch_upsert"),
        2.0,
        "the contact and the company upserts: {metrics}"
    );
    assert_eq!(
        requests("objects.batch_create"),
        1.0,
        "the deal create: {metrics}"
    );
    assert!(
        metrics.contains("stripe2hubspot_hubspot_request_duration_seconds_bucket"),
        "{metrics}"
    );
    // HubSpot's requests counted by the client match what the fake saw.
    let counted: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("stripe2hubspot_hubspot_requests_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    assert_eq!(counted as usize, hubspot.total_requests(), "{metrics}");

    assert_eq!(
        server.stop().await,
        Some(0),
        "SIGTERM shuts down gracefully"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_event_and_payment_ids_and_never_the_email_or_token() {
    let hubspot = FakeHubSpot::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut envs = server_env(&hubspot, &dir);
    envs.retain(|(k, _)| k != "RUST_LOG");
    envs.push(("RUST_LOG".into(), "info".into()));
    envs.push(("LOG_FORMAT".into(), "json".into()));
    let log = dir.path().join("server.log");
    let server = Server::start_logging_to(&envs, &log).await;
    let body = Payment::sample().charge_succeeded().to_string();
    assert_eq!(server.send(&body, SECRET).await, 200);
    eventually("the deal to reach HubSpot", || async {
        !hubspot.deals().is_empty()
    })
    .await;
    assert_eq!(server.stop().await, Some(0));

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let synced = lines
        .iter()
        .find(|l| l["fields"]["outcome"] == "synced")
        .unwrap_or_else(|| panic!("no synced line in {text}"));
    assert_eq!(
        synced["span"]["event_id"], "evt_1N3x9yLkdIwHu7ix241ad",
        "{synced}"
    );
    assert_eq!(
        synced["span"]["payment_id"], "pi_3Mv29vLkdIwHu7ix1b8sWq0T",
        "{synced}"
    );
    assert!(!text.contains("tony@starkindustries.com"), "{text}");
    assert!(!text.contains(&hubspot.token()), "{text}");
}
