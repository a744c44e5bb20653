//! Checks of the [`PortalStore`](crate::PortalStore): portals as data (issue 23).

use super::ConformanceFailure;
use crate::{Portal, PortalChange, PortalError, PortalToken, Store};

/// The token every portal of these checks is stored with; it must show in no `Debug` or
/// `Display` output.
pub const PORTAL_TOKEN: &str = "pat-na1-conformance-SECRET-7f3a";

fn token(text: &str) -> Result<PortalToken, ConformanceFailure> {
    PortalToken::new(text).map_err(|e| ConformanceFailure(format!("token refused: {e}")))
}

/// A portal `id` routing `accounts`, stored with [`PORTAL_TOKEN`] and the default settings.
pub fn portal(id: &str, accounts: &[&str]) -> Portal {
    Portal {
        id: id.to_owned(),
        // The constant passes `PortalToken::new`'s check (the unit tests hold it to that).
        token: PortalToken(PORTAL_TOKEN.to_owned()),
        accounts: accounts.iter().map(|a| (*a).to_owned()).collect(),
        rate_limit: "100/10s".to_owned(),
        hubspot_base_url: None,
        api_version: None,
        webhook_secrets: None,
        mapping: None,
        alert_url: None,
        paused: false,
    }
}

fn ids(portals: &[Portal]) -> Vec<&str> {
    portals.iter().map(|p| p.id.as_str()).collect()
}

async fn owner(store: &Store, account: &str) -> Result<Option<String>, ConformanceFailure> {
    Ok(store
        .portals
        .portal_for_account(account)
        .await
        .map_err(|e| ConformanceFailure(format!("portal_for_account: {e}")))?
        .map(|p| p.id))
}

impl From<PortalError> for ConformanceFailure {
    fn from(e: PortalError) -> Self {
        ConformanceFailure(format!("unexpected portal error: {e}"))
    }
}

/// Add, get, list (sorted by id), route, change and remove portals; every write raises the
/// revision and `portals_changed_since` tells a reader that polls.
pub async fn portal_crud(store: &Store) -> Result<(), ConformanceFailure> {
    let p = &*store.portals;
    ensure!(p.list().await?.is_empty(), "a fresh store has portals");
    ensure!(p.get("acme").await?.is_none(), "a fresh store has acme");
    let r0 = p.portals_revision().await?;
    ensure!(
        p.portals_changed_since(r0).await?.is_none(),
        "nothing changed since the revision just read"
    );

    let stored = p
        .add(portal("acme", &["acct_2", "acct_1", "acct_2"]))
        .await?;
    ensure!(
        stored.accounts == ["acct_1", "acct_2"],
        "accounts are stored sorted without repeats: {:?}",
        stored.accounts
    );
    let read = p.get("acme").await?;
    ensure!(
        read.as_ref() == Some(&stored),
        "get returns the portal as stored: {read:?}"
    );
    ensure!(
        read.as_ref().map(|r| r.token.expose()) == Some(PORTAL_TOKEN),
        "the token reads back as given"
    );
    let r1 = p.portals_revision().await?;
    ensure!(r1 > r0, "an add raises the revision ({r0} -> {r1})");
    ensure!(
        p.portals_changed_since(r0).await? == Some(r1),
        "changed_since the old revision gives the new one"
    );

    let mut beta = portal("beta", &["acct_3"]);
    beta.hubspot_base_url = Some("http://127.0.0.1:9/".to_owned());
    beta.api_version = Some("legacy".to_owned());
    beta.rate_limit = "50/10s".to_owned();
    beta.paused = true;
    p.add(beta.clone()).await?;
    p.add(portal("0-first", &[])).await?;
    let list = p.list().await?;
    ensure!(
        ids(&list) == ["0-first", "acme", "beta"],
        "list is sorted by id: {:?}",
        ids(&list)
    );
    ensure!(
        list.get(2) == Some(&beta),
        "every field reads back as stored: {:?}",
        list.get(2)
    );
    ensure!(
        owner(store, "acct_1").await?.as_deref() == Some("acme")
            && owner(store, "acct_3").await?.as_deref() == Some("beta")
            && owner(store, "acct_9").await?.is_none(),
        "accounts route to their portal, unknown ones to none"
    );

    let r2 = p.portals_revision().await?;
    let changed = p
        .set(
            "acme",
            PortalChange {
                rate_limit: Some("10/1s".to_owned()),
                api_version: Some("2026-03".to_owned()),
                paused: Some(true),
                ..PortalChange::default()
            },
        )
        .await?;
    ensure!(
        changed.rate_limit == "10/1s"
            && changed.api_version.as_deref() == Some("2026-03")
            && changed.paused,
        "set changes the given fields: {changed:?}"
    );
    ensure!(
        changed.accounts == stored.accounts
            && changed.token == stored.token
            && changed.hubspot_base_url.is_none(),
        "set leaves the other fields: {changed:?}"
    );
    ensure!(
        p.get("acme").await?.as_ref() == Some(&changed),
        "set returns what is stored"
    );
    let r3 = p.portals_revision().await?;
    ensure!(r3 > r2, "a set raises the revision");
    let resumed = p
        .set(
            "acme",
            PortalChange {
                paused: Some(false),
                token: Some(token("pat-na1-rotated")?),
                ..PortalChange::default()
            },
        )
        .await?;
    ensure!(
        !resumed.paused && resumed.token.expose() == "pat-na1-rotated",
        "set resumes and replaces the token"
    );
    let r4 = p.portals_revision().await?;
    let same = p.set("acme", PortalChange::default()).await?;
    ensure!(
        same == resumed,
        "an empty change returns the portal as it is"
    );
    ensure!(
        p.portals_revision().await? == r4,
        "an empty change writes nothing"
    );

    let removed = p.remove("beta").await?;
    ensure!(removed == beta, "remove returns the portal as it was");
    ensure!(p.get("beta").await?.is_none(), "a removed portal is gone");
    ensure!(
        ids(&p.list().await?) == ["0-first", "acme"],
        "a removed portal is not listed"
    );
    ensure!(
        p.portals_revision().await? > r4,
        "a remove raises the revision"
    );
    let r5 = p.portals_revision().await?;
    for outcome in [
        p.remove("beta").await.err(),
        p.set(
            "beta",
            PortalChange {
                paused: Some(true),
                ..PortalChange::default()
            },
        )
        .await
        .err(),
        p.set("beta", PortalChange::default()).await.err(),
    ] {
        ensure!(
            matches!(&outcome, Some(PortalError::NotFound { id }) if id == "beta"),
            "an unknown id is NotFound: {outcome:?}"
        );
    }
    ensure!(
        p.portals_revision().await? == r5,
        "a failed write does not raise the revision"
    );
    Ok(())
}

/// A second portal with a used id is refused and changes nothing: the first portal stays as it
/// was and the second's accounts are not routed.
pub async fn portal_id_taken(store: &Store) -> Result<(), ConformanceFailure> {
    let p = &*store.portals;
    let first = p.add(portal("acme", &["acct_1"])).await?;
    let revision = p.portals_revision().await?;
    let mut again = portal("acme", &["acct_2"]);
    again.rate_limit = "1/1s".to_owned();
    let outcome = p.add(again).await;
    ensure!(
        matches!(&outcome, Err(PortalError::IdTaken { id }) if id == "acme"),
        "a used id is IdTaken: {outcome:?}"
    );
    ensure!(
        p.get("acme").await?.as_ref() == Some(&first),
        "the first portal is unchanged"
    );
    ensure!(
        owner(store, "acct_2").await?.is_none(),
        "the refused portal's account is not routed"
    );
    ensure!(
        p.portals_revision().await? == revision,
        "a refused add does not raise the revision"
    );
    Ok(())
}

/// An account routed to one portal cannot be claimed by another, by add or by set; the refused
/// write changes nothing at all (not the other accounts it named, not the other fields).
pub async fn portal_account_claimed(store: &Store) -> Result<(), ConformanceFailure> {
    let p = &*store.portals;
    p.add(portal("acme", &["acct_1"])).await?;
    let outcome = p.add(portal("beta", &["acct_0", "acct_1", "acct_2"])).await;
    ensure!(
        matches!(&outcome, Err(PortalError::AccountClaimed { account, portal })
            if account == "acct_1" && portal == "acme"),
        "a claimed account names its portal: {outcome:?}"
    );
    ensure!(
        p.get("beta").await?.is_none(),
        "the refused portal is not stored"
    );
    ensure!(
        owner(store, "acct_0").await?.is_none() && owner(store, "acct_2").await?.is_none(),
        "no account of the refused portal is routed"
    );

    let gamma = p.add(portal("gamma", &["acct_3"])).await?;
    let revision = p.portals_revision().await?;
    let outcome = p
        .set(
            "gamma",
            PortalChange {
                accounts: Some(vec!["acct_4".to_owned(), "acct_1".to_owned()]),
                rate_limit: Some("1/1s".to_owned()),
                ..PortalChange::default()
            },
        )
        .await;
    ensure!(
        matches!(&outcome, Err(PortalError::AccountClaimed { account, portal })
            if account == "acct_1" && portal == "acme"),
        "set with a claimed account names its portal: {outcome:?}"
    );
    ensure!(
        p.get("gamma").await?.as_ref() == Some(&gamma),
        "the refused set changed nothing, not even its other fields"
    );
    ensure!(
        owner(store, "acct_3").await?.as_deref() == Some("gamma")
            && owner(store, "acct_4").await?.is_none()
            && owner(store, "acct_1").await?.as_deref() == Some("acme"),
        "the routes are as before the refused set"
    );
    ensure!(
        p.portals_revision().await? == revision,
        "a refused set does not raise the revision"
    );
    // A portal may name an account it already holds.
    let kept = p
        .set(
            "acme",
            PortalChange {
                accounts: Some(vec!["acct_1".to_owned(), "acct_5".to_owned()]),
                ..PortalChange::default()
            },
        )
        .await?;
    ensure!(
        kept.accounts == ["acct_1", "acct_5"],
        "a portal keeps its own account in a new list: {:?}",
        kept.accounts
    );
    Ok(())
}

/// A given account list replaces the old one: dropped accounts are freed (another portal may
/// claim them), new ones routed, an empty list routes none.
pub async fn portal_set_replaces_accounts(store: &Store) -> Result<(), ConformanceFailure> {
    let p = &*store.portals;
    p.add(portal("acme", &["acct_1", "acct_2"])).await?;
    let set = p
        .set(
            "acme",
            PortalChange {
                accounts: Some(vec!["acct_3".to_owned(), "acct_2".to_owned()]),
                ..PortalChange::default()
            },
        )
        .await?;
    ensure!(
        set.accounts == ["acct_2", "acct_3"],
        "the new list replaces the old: {:?}",
        set.accounts
    );
    ensure!(
        owner(store, "acct_1").await?.is_none()
            && owner(store, "acct_2").await?.as_deref() == Some("acme")
            && owner(store, "acct_3").await?.as_deref() == Some("acme"),
        "routes follow the new list"
    );
    p.add(portal("beta", &["acct_1"])).await?;
    ensure!(
        owner(store, "acct_1").await?.as_deref() == Some("beta"),
        "a dropped account can be claimed by another portal"
    );
    let none = p
        .set(
            "acme",
            PortalChange {
                accounts: Some(Vec::new()),
                ..PortalChange::default()
            },
        )
        .await?;
    ensure!(none.accounts.is_empty(), "an empty list routes none");
    ensure!(
        owner(store, "acct_2").await?.is_none() && owner(store, "acct_3").await?.is_none(),
        "an empty list frees every account"
    );
    ensure!(
        p.get("acme").await?.map(|a| a.accounts.len()) == Some(0),
        "the portal stays, with no account"
    );
    Ok(())
}

/// Removing a portal frees its accounts for another portal.
pub async fn portal_remove_frees_accounts(store: &Store) -> Result<(), ConformanceFailure> {
    let p = &*store.portals;
    p.add(portal("acme", &["acct_1", "acct_2"])).await?;
    p.remove("acme").await?;
    ensure!(
        owner(store, "acct_1").await?.is_none() && owner(store, "acct_2").await?.is_none(),
        "a removed portal's accounts route nowhere"
    );
    let beta = p.add(portal("beta", &["acct_2", "acct_1"])).await?;
    ensure!(
        beta.accounts == ["acct_1", "acct_2"],
        "another portal claims the freed accounts"
    );
    // The id is free again too.
    p.add(portal("acme", &[])).await?;
    Ok(())
}

/// Malformed fields are refused, naming the field, and nothing is stored.
pub async fn portal_validation(store: &Store) -> Result<(), ConformanceFailure> {
    let p = &*store.portals;
    let cases: Vec<(&str, Portal)> = vec![
        ("id", portal("Acme", &[])),
        ("id", portal("-acme", &[])),
        ("id", portal("acme_eu", &[])),
        ("id", portal(&"a".repeat(64), &[])),
        ("id", portal("", &[])),
        ("account", portal("acme", &["acct_1", "cus_1"])),
        ("account", portal("acme", &["acct_"])),
        ("account", portal("acme", &["acct_1-2"])),
        (
            "rate_limit",
            Portal {
                rate_limit: String::new(),
                ..portal("acme", &[])
            },
        ),
        (
            "hubspot_base_url",
            Portal {
                hubspot_base_url: Some("http://a b".to_owned()),
                ..portal("acme", &[])
            },
        ),
    ];
    for (field, bad) in cases {
        let outcome = p.add(bad).await;
        ensure!(
            matches!(&outcome, Err(PortalError::Invalid { field: f, .. }) if *f == field),
            "a malformed {field} is refused naming it: {outcome:?}"
        );
    }
    ensure!(
        p.list().await?.is_empty() && owner(store, "acct_1").await?.is_none(),
        "nothing malformed was stored"
    );
    ensure!(
        matches!(
            PortalToken::new(""),
            Err(PortalError::Invalid { field: "token", .. })
        ),
        "an empty token is refused"
    );
    p.add(portal("acme", &["acct_1"])).await?;
    let outcome = p
        .set(
            "acme",
            PortalChange {
                accounts: Some(vec!["acct_2".to_owned(), "nope".to_owned()]),
                ..PortalChange::default()
            },
        )
        .await;
    ensure!(
        matches!(
            &outcome,
            Err(PortalError::Invalid {
                field: "account",
                ..
            })
        ),
        "set refuses a malformed account: {outcome:?}"
    );
    ensure!(
        owner(store, "acct_1").await?.as_deref() == Some("acme")
            && owner(store, "acct_2").await?.is_none(),
        "the refused set changed no route"
    );
    Ok(())
}

/// The token shows in the `Debug` of no portal type, nor in the store's, nor in any error
/// about the portal.
pub async fn portal_token_never_shown(store: &Store) -> Result<(), ConformanceFailure> {
    let p = &*store.portals;
    let stored = p.add(portal("acme", &["acct_1"])).await?;
    let listed = p.list().await?;
    let got = p.get("acme").await?;
    let routed = p.portal_for_account("acct_1").await?;
    let change = PortalChange {
        token: Some(token(PORTAL_TOKEN)?),
        ..PortalChange::default()
    };
    let set = p.set("acme", change.clone()).await?;
    let errors = [
        p.add(portal("acme", &[])).await.err(),
        p.add(portal("beta", &["acct_1"])).await.err(),
        p.set("nope", change.clone()).await.err(),
    ];
    let shown = format!(
        "{stored:?} {stored:#?} {listed:?} {got:?} {routed:?} {change:?} {set:?} {store:?} {} {:?} {errors:?} {}",
        stored.token,
        stored.token,
        errors
            .iter()
            .flatten()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    );
    ensure!(
        !shown.contains(PORTAL_TOKEN) && !shown.contains("SECRET"),
        "the token shows in Debug or Display output: {shown}"
    );
    ensure!(
        errors.iter().all(Option::is_some),
        "the writes meant to fail did not: {errors:?}"
    );
    ensure!(
        set.token.expose() == PORTAL_TOKEN,
        "expose gives the token to the HubSpot client"
    );
    Ok(())
}

/// Many concurrent adds of distinct portals claiming one account, spread over `stores`
/// (handles on one backing store, for example one per process): exactly one wins, every other
/// is refused naming the winner, and only the winner is stored. Then the same for one id.
pub async fn concurrent_portal_claims(stores: &[Store]) -> Result<(), ConformanceFailure> {
    ensure!(!stores.is_empty(), "give at least one store handle");
    let contenders = 16;
    let mut tasks = Vec::new();
    for n in 0..contenders {
        let store = stores[n % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("contender-{n:02}");
            let own = format!("acct_own{n:02}");
            let outcome = store
                .portals
                .add(portal(&id, &[own.as_str(), "acct_contested"]))
                .await;
            (id, outcome)
        }));
    }
    let mut winners = Vec::new();
    let mut refused = Vec::new();
    for task in tasks {
        let (id, outcome) = task
            .await
            .map_err(|e| ConformanceFailure(format!("an add task failed: {e}")))?;
        match outcome {
            Ok(_) => winners.push(id),
            Err(PortalError::AccountClaimed { account, portal }) => {
                ensure!(
                    account == "acct_contested",
                    "refused for another account: {account}"
                );
                refused.push(portal);
            }
            Err(other) => {
                return Err(ConformanceFailure(format!(
                    "a concurrent add failed otherwise: {other}"
                )))
            }
        }
    }
    ensure!(
        winners.len() == 1,
        "exactly one concurrent add may win, {} did: {winners:?}",
        winners.len()
    );
    let winner = &winners[0];
    ensure!(
        refused.iter().all(|p| p == winner),
        "every refusal names the winner {winner}: {refused:?}"
    );
    let store = &stores[0];
    ensure!(
        ids(&store.portals.list().await?) == [winner.as_str()],
        "only the winner is stored"
    );
    ensure!(
        owner(store, "acct_contested").await?.as_ref() == Some(winner),
        "the contested account routes to the winner"
    );

    let mut tasks = Vec::new();
    for n in 0..contenders {
        let store = stores[n % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            let own = format!("acct_same{n:02}");
            store.portals.add(portal("same-id", &[own.as_str()])).await
        }));
    }
    let mut won = 0;
    for task in tasks {
        match task
            .await
            .map_err(|e| ConformanceFailure(format!("an add task failed: {e}")))?
        {
            Ok(_) => won += 1,
            Err(PortalError::IdTaken { .. }) => {}
            Err(other) => {
                return Err(ConformanceFailure(format!(
                    "a concurrent add of one id failed otherwise: {other}"
                )))
            }
        }
    }
    ensure!(won == 1, "exactly one add of one id may win, {won} did");
    let same = store.portals.get("same-id").await?;
    ensure!(
        same.map(|p| p.accounts.len()) == Some(1),
        "the id holds the winner's one account"
    );
    Ok(())
}

/// The endpoint secrets every portal of [`portal_fields_round_trip`] is stored with.
const WEBHOOK_SECRETS: &str = "whsec_conformanceSECRETone,whsec_conformanceSECRETtwo";
/// The Slack URL of [`portal_fields_round_trip`]; as secret as a token.
const ALERT_URL: &str = "https://hooks.slack.com/services/T000/B000/conformanceSECRETslack";

/// A portal's own endpoint secrets, mapping and Slack URL are stored, read back by `get`,
/// `list` and `portal_for_account`, changed by `set` (fields not given stay), and the secrets
/// show in no `Debug` output.
pub async fn portal_fields_round_trip(store: &Store) -> Result<(), ConformanceFailure> {
    let p = &*store.portals;
    let mapping = r#"{"deal_pipeline":"default","deal_name":"{description}"}"#;
    let mut given = portal("acme", &["acct_1"]);
    given.webhook_secrets = Some(token(WEBHOOK_SECRETS)?);
    given.mapping = Some(mapping.to_owned());
    given.alert_url = Some(token(ALERT_URL)?);
    let stored = p.add(given.clone()).await?;
    ensure!(
        stored == given,
        "add returns the portal as given: {stored:?}"
    );
    p.add(portal("plain", &["acct_2"])).await?;
    let got = p.get("acme").await?;
    ensure!(
        got.as_ref() == Some(&given),
        "get reads the portal's own fields back: {got:?}"
    );
    let got = got.ok_or_else(|| ConformanceFailure("acme is gone".into()))?;
    ensure!(
        got.webhook_secrets.as_ref().map(PortalToken::expose) == Some(WEBHOOK_SECRETS)
            && got.alert_url.as_ref().map(PortalToken::expose) == Some(ALERT_URL),
        "the secrets read back exactly as given"
    );
    let listed = p.list().await?;
    ensure!(
        listed.first() == Some(&given),
        "list reads the portal's own fields back: {listed:?}"
    );
    let plain = listed.get(1);
    ensure!(
        plain.is_some_and(|p| p.webhook_secrets.is_none()
            && p.mapping.is_none()
            && p.alert_url.is_none()),
        "a portal stored without them has none: {plain:?}"
    );
    let routed = p.portal_for_account("acct_1").await?;
    ensure!(
        routed.as_ref() == Some(&given),
        "portal_for_account reads them back: {routed:?}"
    );

    let change = PortalChange {
        mapping: Some("{}".to_owned()),
        ..PortalChange::default()
    };
    let set = p.set("acme", change).await?;
    ensure!(
        set.mapping.as_deref() == Some("{}")
            && set.webhook_secrets == given.webhook_secrets
            && set.alert_url == given.alert_url,
        "set changes the given field only: {set:?}"
    );
    let change = PortalChange {
        webhook_secrets: Some(token("whsec_rotatedSECRET")?),
        alert_url: Some(token("https://hooks.slack.com/services/T1/B1/otherSECRET")?),
        ..PortalChange::default()
    };
    let set = p.set("plain", change).await?;
    let read = p.get("plain").await?;
    ensure!(
        read.as_ref() == Some(&set)
            && set.webhook_secrets.as_ref().map(PortalToken::expose) == Some("whsec_rotatedSECRET")
            && set.mapping.is_none(),
        "set stores new secrets on a portal that had none: {read:?}"
    );
    let shown = format!("{given:?} {got:#?} {listed:?} {routed:?} {set:?} {read:?}");
    ensure!(
        !shown.contains("SECRET"),
        "a portal secret shows in Debug output: {shown}"
    );
    Ok(())
}

/// `record_paused` shows in `get` and `list` without raising the revision (a server polling
/// it does not restart the portal over its own report), and ignores an unknown id.
pub async fn portal_record_paused(store: &Store) -> Result<(), ConformanceFailure> {
    let p = &*store.portals;
    p.add(portal("acme", &["acct_1"])).await?;
    p.add(portal("beta", &["acct_2"])).await?;
    let revision = p.portals_revision().await?;
    p.record_paused("acme", true).await?;
    let paused: Vec<(String, bool)> = p
        .list()
        .await?
        .into_iter()
        .map(|p| (p.id, p.paused))
        .collect();
    ensure!(
        paused == [("acme".to_owned(), true), ("beta".to_owned(), false)],
        "list shows the recorded pause of acme alone: {paused:?}"
    );
    ensure!(
        p.get("acme").await?.is_some_and(|p| p.paused),
        "get shows the recorded pause"
    );
    ensure!(
        p.portals_changed_since(revision).await?.is_none(),
        "a recorded pause is no change of configuration"
    );
    p.record_paused("nope", true).await?;
    p.record_paused("acme", false).await?;
    ensure!(
        p.get("acme").await?.is_some_and(|p| !p.paused),
        "a recorded resume shows"
    );
    ensure!(
        p.portals_revision().await? == revision,
        "recorded pauses leave the revision alone"
    );
    Ok(())
}
