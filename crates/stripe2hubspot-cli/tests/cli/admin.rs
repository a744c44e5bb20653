//! The admin API of `serve`, and the `dead-letters` and `status` commands beside it.

use hubspot_crm::fake::{FakeHubSpot, ValidationRule};
use serde_json::{json, Value};
use stripe2hubspot::testkit::Payment;

use crate::common::{eventually, output, sample, server_env, until, Server, ADMIN_TOKEN, SECRET};

const ROUTES: [(&str, &str); 6] = [
    ("GET", "/admin/status"),
    ("GET", "/admin/dead-letters"),
    ("GET", "/admin/waiting"),
    ("POST", "/admin/dead-letters/replay"),
    ("POST", "/admin/pause"),
    ("POST", "/admin/resume"),
];

async fn call(
    server: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (u16, String) {
    match method {
        "GET" => server.get(path, token).await,
        _ => server.post(path, token, body).await,
    }
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_need_the_token_and_replay_syncs_a_dead_letter() {
    let hubspot = FakeHubSpot::start().await;
    // The portal refuses closed-won deals, so the first payment is dead-lettered.
    hubspot.add_validation_rule(ValidationRule::forbidden_value(
        "deals",
        "dealstage",
        "closedwon",
        "Deals cannot be closed won by an integration",
    ));
    let dir = tempfile::tempdir().unwrap();
    let mut envs = server_env(&hubspot, &dir);
    envs.push(("ADMIN_TOKEN".into(), ADMIN_TOKEN.into()));
    let server = Server::start(&envs).await;

    for (method, path) in ROUTES {
        let none = call(&server, method, path, None, json!({"all": true})).await;
        assert_eq!(none.0, 401, "{method} {path} without a token");
        let wrong = call(
            &server,
            method,
            path,
            Some("admin-token-for-the-cli-tests-0124"),
            json!({"all": true}),
        )
        .await;
        assert_eq!(wrong.0, 401, "{method} {path} with a wrong token");
    }

    let payment = Payment::sample();
    assert_eq!(
        server
            .send(&payment.charge_succeeded().to_string(), SECRET)
            .await,
        200
    );
    let dead = until("the payment to be dead-lettered", || async {
        let (status, text) = server.get("/admin/dead-letters", Some(ADMIN_TOKEN)).await;
        assert_eq!(status, 200, "{text}");
        let dead = json_of(&text);
        dead["dead_letters"]
            .as_array()
            .is_some_and(|l| !l.is_empty())
            .then_some(dead)
    })
    .await;
    let letter = &dead["dead_letters"][0];
    assert_eq!(letter["event_id"], payment.event_id.as_str());
    assert_eq!(letter["event_type"], "charge.succeeded");
    assert_eq!(letter["payment_id"], "pi_3Mv29vLkdIwHu7ix1b8sWq0T");
    assert!(
        !letter.to_string().contains("tony@starkindustries.com"),
        "{letter}"
    );

    // The command line reads the same queue.
    let queue = envs
        .iter()
        .find(|(k, _)| k == "STRIPE2HUBSPOT_QUEUE")
        .unwrap()
        .1
        .clone();
    let listed = output(
        &["dead-letters", "list"],
        &[("STRIPE2HUBSPOT_QUEUE", &queue)],
    )
    .await;
    let table = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{table}");
    assert!(
        table.starts_with("EVENT ID") && table.contains(&payment.event_id),
        "{table}"
    );
    assert!(table.contains("pi_3Mv29vLkdIwHu7ix1b8sWq0T"), "{table}");

    let (status, text) = server.get("/admin/status", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200);
    let report = json_of(&text);
    assert_eq!(
        (report["status"].as_str(), report["queue"]["dead"].as_u64()),
        (Some("ok"), Some(1)),
        "{report}"
    );
    assert!(report["last_sync"].is_null(), "{report}");
    assert_eq!(report["role"], "leader", "{report}");
    assert_eq!(report["waiting"], 0, "{report}");

    let (status, text) = server
        .post("/admin/pause", Some(ADMIN_TOKEN), json!({}))
        .await;
    assert_eq!(
        (status, json_of(&text)["status"].as_str()),
        (200, Some("paused"))
    );
    assert_eq!(
        json_of(&server.get("/healthz", None).await.1),
        json!({"status": "paused", "role": "leader"})
    );
    let metrics = server.get("/metrics", None).await.1;
    assert_eq!(sample(&metrics, "stripe2hubspot_paused"), 1.0, "{metrics}");
    assert_eq!(
        sample(&metrics, "stripe2hubspot_dead_letters_total"),
        1.0,
        "{metrics}"
    );
    let report = json_of(&server.get("/admin/status", Some(ADMIN_TOKEN)).await.1);
    assert_eq!(report["paused"], "paused by the operator", "{report}");
    let status_cmd = output(
        &["status", "--server", &server.base],
        &[
            ("STRIPE2HUBSPOT_QUEUE", &queue),
            ("ADMIN_TOKEN", ADMIN_TOKEN),
        ],
    )
    .await;
    let printed = String::from_utf8_lossy(&status_cmd.stdout);
    assert!(status_cmd.status.success(), "{printed}");
    assert!(
        printed.contains("dead=1") && printed.contains("paused: yes: paused by the operator"),
        "{printed}"
    );
    assert!(
        printed.contains("role: leader") && printed.contains("waiting in the ledger: 0"),
        "{printed}"
    );

    let (status, _) = server
        .post("/admin/resume", Some(ADMIN_TOKEN), json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        json_of(&server.get("/healthz", None).await.1),
        json!({"status": "ok", "role": "leader"})
    );

    // The portal's admin drops the rule; the replayed payment syncs.
    hubspot.clear_validation_rules();
    let (status, text) = server
        .post(
            "/admin/dead-letters/replay",
            Some(ADMIN_TOKEN),
            json!({"event_ids": ["evt_not_dead"]}),
        )
        .await;
    assert_eq!(status, 404, "{text}");
    let (status, text) = server
        .post(
            "/admin/dead-letters/replay",
            Some(ADMIN_TOKEN),
            json!({"event_ids": [payment.event_id]}),
        )
        .await;
    assert_eq!(
        (status, json_of(&text)["replayed"].clone()),
        (200, json!([payment.event_id]))
    );
    eventually("the replayed payment to reach HubSpot", || async {
        !hubspot.deals().is_empty()
    })
    .await;
    assert_eq!(hubspot.deals()[0].property("dealstage"), Some("closedwon"));
    eventually("the queue to show it done", || async {
        let report = json_of(&server.get("/admin/status", Some(ADMIN_TOKEN)).await.1);
        report["queue"]["done"] == 1
            && report["queue"]["dead"] == 0
            && report["last_sync"].is_string()
    })
    .await;
    assert_eq!(server.stop().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_without_an_email_is_listed_as_waiting_counted_and_gauged() {
    let hubspot = FakeHubSpot::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut envs = server_env(&hubspot, &dir);
    envs.push(("ADMIN_TOKEN".into(), ADMIN_TOKEN.into()));
    let server = Server::start(&envs).await;
    let mut payment = Payment::numbered(7, "unused@example.com", 2_500, "usd", 1_700_000_000);
    payment.email = None;
    assert_eq!(
        server
            .send(&payment.charge_succeeded().to_string(), SECRET)
            .await,
        200
    );
    let waiting = until("the payment to wait", || async {
        let (status, text) = server.get("/admin/waiting", Some(ADMIN_TOKEN)).await;
        assert_eq!(status, 200, "{text}");
        let listed = json_of(&text);
        listed["waiting"]
            .as_array()
            .is_some_and(|l| !l.is_empty())
            .then_some(listed)
    })
    .await;
    assert_eq!(
        waiting,
        json!({"waiting": [{
            "payment_id": "pi_test_000007",
            "waiting_for": "awaiting_contact",
            "version": waiting["waiting"][0]["version"],
        }]})
    );
    let report = json_of(&server.get("/admin/status", Some(ADMIN_TOKEN)).await.1);
    assert_eq!(report["waiting"], 1, "{report}");
    // The waiting gauge is read at most once a second: wait for the one after the merge.
    let metrics = until("the waiting gauge", || async {
        let text = server.get("/metrics", None).await.1;
        (sample(&text, "stripe2hubspot_ledger_waiting") == 1.0).then_some(text)
    })
    .await;
    assert_eq!(sample(&metrics, "stripe2hubspot_leader"), 1.0, "{metrics}");
    assert!(hubspot.deals().is_empty(), "a waiting payment has no deal");
    assert_eq!(server.stop().await, Some(0));
}
