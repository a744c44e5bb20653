//! Checks of portal leadership ([`PortalLeases`](crate::PortalLeases)) and of events waiting
//! for a portal ([`UnroutedEvents`](crate::UnroutedEvents)).
//!
//! Expiry is checked without waiting: a lease or announcement taken for a zero TTL has expired
//! by the next call.

use std::time::{Duration, SystemTime};

use super::{new_job, ConformanceFailure, LONG};
use crate::{Enqueued, Lease, Store};

fn holders(leases: &[Lease]) -> Vec<(&str, &str, u64)> {
    leases
        .iter()
        .map(|l| (l.portal.as_str(), l.holder.as_str(), l.generation))
        .collect()
}

/// Leases: a free lease is taken with generation 1; its holder renews it keeping the
/// generation; another process is refused while it lives; an expired lease (of another
/// process, or the holder's own) is taken with the generation raised; a release by a
/// non-holder changes nothing, by the holder frees it at once; `renew_leases` renews exactly
/// the caller's unexpired leases; `leave` frees every lease of the process. `leases` lists them all, sorted by portal.
pub async fn portal_leases(store: &Store) -> Result<(), ConformanceFailure> {
    let l = &*store.leases;
    ensure!(l.leases().await?.is_empty(), "a fresh store has leases");
    let before = SystemTime::now();
    let taken = l.acquire_lease("acme", "proc-1", LONG).await?;
    ensure!(
        taken == Some(1),
        "a free lease is taken with generation 1: {taken:?}"
    );
    let renewed = l.acquire_lease("acme", "proc-1", LONG).await?;
    ensure!(
        renewed == Some(1),
        "the holder's renewal keeps the generation: {renewed:?}"
    );
    let leases = l.leases().await?;
    ensure!(
        holders(&leases) == [("acme", "proc-1", 1)],
        "the lease lists its holder: {leases:?}"
    );
    ensure!(
        leases[0].expires_at >= before + LONG - Duration::from_secs(1),
        "the lease expires a TTL from now: {:?}",
        leases[0].expires_at
    );
    let refused = l.acquire_lease("acme", "proc-2", LONG).await?;
    ensure!(
        refused.is_none(),
        "another process took a live lease: {refused:?}"
    );

    // Zero TTL: expired by the next call.
    ensure!(
        l.acquire_lease("beta", "proc-2", Duration::ZERO).await? == Some(1),
        "a free lease is taken"
    );
    let taken_over = l.acquire_lease("beta", "proc-1", LONG).await?;
    ensure!(
        taken_over == Some(2),
        "an expired lease is taken by another process with the generation raised: {taken_over:?}"
    );
    ensure!(
        l.acquire_lease("gamma", "proc-1", Duration::ZERO).await? == Some(1),
        "a free lease is taken"
    );
    let again = l.acquire_lease("gamma", "proc-1", LONG).await?;
    ensure!(
        again == Some(2),
        "the holder's own expired lease is taken anew with the generation raised: {again:?}"
    );

    l.release_lease("acme", "proc-2").await?;
    ensure!(
        l.acquire_lease("acme", "proc-2", LONG).await?.is_none(),
        "a release by a process that does not hold the lease freed it"
    );
    l.release_lease("acme", "proc-1").await?;
    let after_release = l.acquire_lease("acme", "proc-2", LONG).await?;
    ensure!(
        after_release == Some(2),
        "a released lease is free at once, taken with the generation raised: {after_release:?}"
    );

    // Renewing all at once: only the caller's unexpired leases, generations kept.
    ensure!(
        l.acquire_lease("delta", "proc-1", Duration::ZERO).await? == Some(1),
        "a free lease is taken"
    );
    let renewed = l.renew_leases("proc-1", LONG).await?;
    ensure!(
        renewed == [("beta".to_owned(), 2), ("gamma".to_owned(), 2)],
        "renew_leases renews the caller's live leases, sorted, generations kept (not delta, expired; not acme, another's): {renewed:?}"
    );
    ensure!(
        l.acquire_lease("beta", "proc-2", LONG).await?.is_none(),
        "a lease renewed by renew_leases was taken by another process"
    );
    ensure!(
        l.renew_leases("proc-3", LONG).await?.is_empty(),
        "a process holding nothing renewed something"
    );
    l.release_lease("delta", "proc-1").await?;

    l.leave("proc-1").await?;
    for portal in ["beta", "gamma"] {
        let taken = l.acquire_lease(portal, "proc-2", LONG).await?;
        ensure!(
            taken == Some(3),
            "leave frees {portal}'s lease of the leaving process: {taken:?}"
        );
    }
    let leases = l.leases().await?;
    ensure!(
        holders(&leases)
            == [
                ("acme", "proc-2", 2),
                ("beta", "proc-2", 3),
                ("delta", "", 1),
                ("gamma", "proc-2", 3)
            ],
        "leases are listed sorted by portal with their holders: {leases:?}"
    );
    Ok(())
}

/// Heartbeats: each announces its process and returns the live ones sorted by id; an
/// announcement that expired is forgotten by the next heartbeat; `leave` removes the process.
pub async fn process_heartbeats(store: &Store) -> Result<(), ConformanceFailure> {
    let l = &*store.leases;
    let ids = |live: &[crate::LiveProcess]| -> Vec<String> {
        live.iter().map(|p| p.id.clone()).collect()
    };
    let live = l.heartbeat("proc-b", LONG).await?;
    ensure!(ids(&live) == ["proc-b"], "one process: {live:?}");
    let before = SystemTime::now();
    let live = l.heartbeat("proc-a", LONG).await?;
    ensure!(
        ids(&live) == ["proc-a", "proc-b"],
        "the live processes, sorted by id: {live:?}"
    );
    ensure!(
        live[0].alive_until >= before + LONG - Duration::from_secs(1),
        "an announcement lasts its TTL: {:?}",
        live[0].alive_until
    );
    let live = l.heartbeat("proc-c", Duration::ZERO).await?;
    ensure!(
        ids(&live) == ["proc-a", "proc-b", "proc-c"],
        "a heartbeat lists its own process: {live:?}"
    );
    let live = l.heartbeat("proc-a", LONG).await?;
    ensure!(
        ids(&live) == ["proc-a", "proc-b"],
        "an expired announcement is forgotten: {live:?}"
    );
    l.leave("proc-b").await?;
    let live = l.heartbeat("proc-a", LONG).await?;
    ensure!(
        ids(&live) == ["proc-a"],
        "leave removes the process: {live:?}"
    );
    Ok(())
}

/// Many processes, spread over `stores` (handles on one backing store, for example one per
/// process), race to take 20 free leases: every lease ends with exactly one holder, at
/// generation 1, and `leases` names that holder.
pub async fn concurrent_lease_claims(stores: &[Store]) -> Result<(), ConformanceFailure> {
    ensure!(!stores.is_empty(), "give at least one store handle");
    let processes = 4;
    let mut tasks = Vec::new();
    for portal in 0..20 {
        for process in 0..processes {
            let store = stores[(portal + process) % stores.len()].clone();
            tasks.push(tokio::spawn(async move {
                let (portal, process) = (format!("portal-{portal:02}"), format!("proc-{process}"));
                let won = store.leases.acquire_lease(&portal, &process, LONG).await;
                (portal, process, won)
            }));
        }
    }
    let mut winners: std::collections::BTreeMap<String, Vec<(String, u64)>> = Default::default();
    for task in tasks {
        let (portal, process, won) = task
            .await
            .map_err(|e| ConformanceFailure(format!("a lease task failed: {e}")))?;
        let entry = winners.entry(portal).or_default();
        if let Some(generation) = won? {
            entry.push((process, generation));
        }
    }
    ensure!(winners.len() == 20, "every portal was contended");
    for (portal, won) in &winners {
        ensure!(
            won.len() == 1 && won[0].1 == 1,
            "portal {portal}: exactly one process takes a free lease, at generation 1: {won:?}"
        );
    }
    let leases = stores[0].leases.leases().await?;
    ensure!(leases.len() == 20, "20 leases stored: {leases:?}");
    for lease in &leases {
        let winner = winners.get(&lease.portal).and_then(|w| w.first());
        ensure!(
            winner.is_some_and(|(process, _)| process == &lease.holder),
            "portal {} is held by {}, not by the process that took it ({winner:?})",
            lease.portal,
            lease.holder
        );
    }
    Ok(())
}

/// Unrouted events: stored deduplicated by event id (the second store is a `Duplicate` of the
/// first), listed per account oldest first up to a limit with their payload byte for byte,
/// counted per account, and forgotten by event id (unknown ids are ignored; a forgotten event
/// stored again is new). They are not jobs of the store's queue.
pub async fn unrouted_events(store: &Store) -> Result<(), ConformanceFailure> {
    let u = &*store.unrouted;
    ensure!(
        u.unrouted_accounts().await?.is_empty(),
        "a fresh store has unrouted events"
    );
    let before = SystemTime::now() - Duration::from_millis(1);
    let first = u.store_unrouted("acct_x", new_job("evt_1")).await?;
    let Enqueued::Inserted(id) = first else {
        return Err(ConformanceFailure(format!(
            "the first store of an event gave {first:?}"
        )));
    };
    let mut changed = new_job("evt_1");
    changed.payload = b"other".to_vec();
    let second = u.store_unrouted("acct_x", changed).await?;
    ensure!(
        second == Enqueued::Duplicate(id),
        "a second store of one event gave {second:?}, want Duplicate({id})"
    );
    for (account, event) in [
        ("acct_x", "evt_2"),
        ("acct_y", "evt_3"),
        ("acct_x", "evt_4"),
    ] {
        let stored = u.store_unrouted(account, new_job(event)).await?;
        ensure!(
            matches!(stored, Enqueued::Inserted(other) if other != id),
            "storing {event} gave {stored:?}"
        );
    }
    let events = u.unrouted("acct_x", 10).await?;
    let ids: Vec<&str> = events.iter().map(|j| j.event_id.as_str()).collect();
    ensure!(
        ids == ["evt_1", "evt_2", "evt_4"],
        "an account's events, oldest first: {ids:?}"
    );
    ensure!(
        {
            let (kept, given) = (&events[0], new_job("evt_1"));
            kept.payload == given.payload
                && kept.event_type == given.event_type
                && kept.event_created == given.event_created
        },
        "the first stored event is kept as stored, payload byte for byte"
    );
    let page = u.unrouted("acct_x", 2).await?;
    ensure!(
        page.iter().map(|j| j.event_id.as_str()).collect::<Vec<_>>() == ["evt_1", "evt_2"],
        "the limit keeps the oldest"
    );
    ensure!(
        u.unrouted("acct_z", 10).await?.is_empty(),
        "an account without events lists none"
    );
    let accounts = u.unrouted_accounts().await?;
    let counts: Vec<(&str, u64)> = accounts
        .iter()
        .map(|a| (a.account.as_str(), a.events))
        .collect();
    ensure!(
        counts == [("acct_x", 3), ("acct_y", 1)],
        "counts per account, sorted by account: {counts:?}"
    );
    ensure!(
        accounts
            .iter()
            .all(|a| a.oldest >= before && a.oldest <= SystemTime::now()),
        "the oldest event's arrival is stamped with the time it was stored: {accounts:?}"
    );
    ensure!(
        store.queue.reserve(10, LONG).await?.is_empty(),
        "unrouted events are not jobs of the store's queue"
    );

    u.forget_unrouted(&["evt_2".into(), "evt_1".into(), "evt_unknown".into()])
        .await?;
    let left: Vec<String> = u
        .unrouted("acct_x", 10)
        .await?
        .into_iter()
        .map(|j| j.event_id)
        .collect();
    ensure!(left == ["evt_4"], "forgotten events are gone: {left:?}");
    u.forget_unrouted(&[]).await?;
    u.forget_unrouted(&["evt_3".into(), "evt_4".into()]).await?;
    ensure!(
        u.unrouted_accounts().await?.is_empty(),
        "no account is listed once its events are forgotten"
    );
    let again = u.store_unrouted("acct_x", new_job("evt_1")).await?;
    ensure!(
        matches!(again, Enqueued::Inserted(_)),
        "a forgotten event stored again is new: {again:?}"
    );
    Ok(())
}
