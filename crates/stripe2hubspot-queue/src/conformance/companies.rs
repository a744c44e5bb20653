//! The company and line-item work sets: noting members, dirtiness by generation and by pending
//! links, marks that keep later notes dirty, moves between companies, forgotten company ids,
//! erasure, and line-item work that pends only when the deal or its items change.

use stripe2hubspot_map::{
    CompanyKey, CustomerContact, CustomerFacts, MappingConfig, Personal, Stamp,
};

use super::ConformanceFailure;
use crate::{CompanyMember, CompanyWork, CompanyWritten, LineItemWork, Store};

const ACME: &str = "acme.com";
const BETA: &str = "beta.io";

fn member(
    contact_key: &str,
    company: Option<&str>,
    contact_id: &str,
    deals: &[&str],
) -> CompanyMember {
    CompanyMember {
        contact_key: contact_key.to_owned(),
        company: company.map(|domain| CompanyKey::Domain(domain.to_owned())),
        contact_id: contact_id.to_owned(),
        deal_ids: deals.iter().map(|d| (*d).to_owned()).collect(),
    }
}

/// What the engine reports after writing `work` to `hubspot_id`, every unlinked id linked.
fn written(work: &CompanyWork, hubspot_id: &str) -> CompanyWritten {
    CompanyWritten {
        key: work.key.value().to_owned(),
        generation: work.generation,
        hubspot_id: hubspot_id.to_owned(),
        linked_contacts: work.unlinked_contacts.clone(),
        linked_deals: work.unlinked_deals.clone(),
    }
}

fn keys(work: &[CompanyWork]) -> Vec<&str> {
    work.iter().map(|w| w.key.value()).collect()
}

async fn dirty(store: &Store) -> Result<Vec<CompanyWork>, ConformanceFailure> {
    Ok(store.state.dirty_companies(100).await?)
}

/// The dirty work of company `key`, failing when it is not dirty.
async fn dirty_one(store: &Store, key: &str) -> Result<CompanyWork, ConformanceFailure> {
    dirty(store)
        .await?
        .into_iter()
        .find(|w| w.key.value() == key)
        .ok_or_else(|| ConformanceFailure(format!("company {key} is not dirty")))
}

/// Writes every dirty company (to its id, else to `9<its key>`), all links made.
async fn write_all(store: &Store) -> Result<(), ConformanceFailure> {
    let marks: Vec<CompanyWritten> = dirty(store)
        .await?
        .iter()
        .map(|w| {
            let id = w.hubspot_id.clone();
            written(w, &id.unwrap_or_else(|| format!("9{}", w.key.value())))
        })
        .collect();
    store.state.mark_companies_written(&marks).await?;
    let left = dirty(store).await?;
    ensure!(
        left.is_empty(),
        "still dirty after writing all: {:?}",
        keys(&left)
    );
    Ok(())
}

/// Noting members creates their companies, dirty with every member's contact and deal ids
/// unlinked; a member without a company is no member; pages are in key order and `limit`
/// long; the key kind round-trips; marking the written generation and links cleans a company,
/// a missing link keeps it dirty; a new contact id or deal is unlinked again, a repeated one
/// is not; unknown keys are ignored.
pub async fn company_members_and_dirtiness(store: &Store) -> Result<(), ConformanceFailure> {
    let state = &*store.state;
    ensure!(
        dirty(store).await?.is_empty(),
        "a fresh store has dirty companies"
    );
    state.note_company_members(&[]).await?;
    state
        .note_company_members(&[
            member("customer=cus_b", Some(ACME), "102", &["d2"]),
            member("customer=cus_a", Some(ACME), "101", &["d1"]),
            member("email=c@beta.io", Some(BETA), "103", &[]),
            member("customer=cus_d", None, "104", &["d4"]),
        ])
        .await?;
    let work = dirty(store).await?;
    ensure!(
        keys(&work) == [ACME, BETA],
        "dirty companies {:?}",
        keys(&work)
    );
    let acme = &work[0];
    ensure!(
        acme.key == CompanyKey::Domain(ACME.into()) && acme.hubspot_id.is_none(),
        "acme reads back as {:?} with id {:?}",
        acme.key,
        acme.hubspot_id
    );
    ensure!(
        acme.members == ["customer=cus_a", "customer=cus_b"]
            && acme.unlinked_contacts == ["101", "102"]
            && acme.unlinked_deals == ["d1", "d2"],
        "acme work {acme:?}"
    );
    let page = state.dirty_companies(1).await?;
    ensure!(
        keys(&page) == [ACME],
        "a page of one gave {:?}",
        keys(&page)
    );

    // beta is written but its contact not associated yet: it stays dirty for the link only.
    let mut beta = written(&work[1], "9002");
    beta.linked_contacts.clear();
    let unknown = CompanyWritten {
        key: "unknown.example".into(),
        generation: 5,
        hubspot_id: "1".into(),
        linked_contacts: Vec::new(),
        linked_deals: Vec::new(),
    };
    state
        .mark_companies_written(&[written(acme, "9001"), beta, unknown])
        .await?;
    let work = dirty(store).await?;
    ensure!(
        keys(&work) == [BETA],
        "after marking, dirty {:?}",
        keys(&work)
    );
    ensure!(
        work[0].hubspot_id.as_deref() == Some("9002")
            && work[0].unlinked_contacts == ["103"]
            && work[0].members == ["email=c@beta.io"],
        "beta work {:?}",
        work[0]
    );
    write_all(store).await?;

    // The same contact and deal again: the rollups changed, the associations stand.
    state
        .note_company_members(&[member("customer=cus_a", Some(ACME), "101", &["d1"])])
        .await?;
    let acme = dirty_one(store, ACME).await?;
    ensure!(
        acme.unlinked_contacts.is_empty() && acme.unlinked_deals.is_empty(),
        "a repeated note unlinked {:?} / {:?}",
        acme.unlinked_contacts,
        acme.unlinked_deals
    );
    ensure!(
        acme.hubspot_id.as_deref() == Some("9001"),
        "acme id {:?}",
        acme.hubspot_id
    );
    // A new contact id (the contact was merged in HubSpot) and a new deal are unlinked.
    state
        .note_company_members(&[member("customer=cus_a", Some(ACME), "111", &["d1", "d3"])])
        .await?;
    let acme = dirty_one(store, ACME).await?;
    ensure!(
        acme.unlinked_contacts == ["111"] && acme.unlinked_deals == ["d3"],
        "after a new contact id and deal: {:?} / {:?}",
        acme.unlinked_contacts,
        acme.unlinked_deals
    );
    write_all(store).await?;

    // A metadata key comes back as one.
    let key = CompanyKey::Metadata("ACME-42".into());
    state
        .note_company_members(&[CompanyMember {
            contact_key: "customer=cus_m".into(),
            company: Some(key.clone()),
            contact_id: "105".into(),
            deal_ids: Vec::new(),
        }])
        .await?;
    let work = dirty(store).await?;
    ensure!(
        work.len() == 1 && work[0].key == key,
        "a metadata company reads back as {:?}",
        work.iter().map(|w| &w.key).collect::<Vec<_>>()
    );
    Ok(())
}

/// A member noted while a company's write was in flight keeps it dirty after the older
/// generation is marked, with only the new member's contact unlinked.
pub async fn company_note_during_write_stays_dirty(
    store: &Store,
) -> Result<(), ConformanceFailure> {
    let state = &*store.state;
    state
        .note_company_members(&[member("customer=cus_a", Some(ACME), "101", &["d1"])])
        .await?;
    let in_flight = dirty_one(store, ACME).await?;
    state
        .note_company_members(&[member("customer=cus_b", Some(ACME), "102", &["d2"])])
        .await?;
    state
        .mark_companies_written(&[written(&in_flight, "9001")])
        .await?;
    let acme = dirty_one(store, ACME).await?;
    ensure!(
        acme.generation > in_flight.generation,
        "generation {} after a note during the write, {} before",
        acme.generation,
        in_flight.generation
    );
    ensure!(
        acme.unlinked_contacts == ["102"] && acme.unlinked_deals == ["d2"],
        "after the in-flight mark: {:?} / {:?}",
        acme.unlinked_contacts,
        acme.unlinked_deals
    );
    ensure!(
        acme.members == ["customer=cus_a", "customer=cus_b"],
        "members {:?}",
        acme.members
    );
    // A stale mark never lowers the written generation.
    state
        .mark_companies_written(&[written(&acme, "9001")])
        .await?;
    let mut stale = written(&in_flight, "9001");
    stale.linked_contacts.clear();
    stale.linked_deals.clear();
    state.mark_companies_written(&[stale]).await?;
    ensure!(
        dirty(store).await?.is_empty(),
        "a stale mark made the company dirty again"
    );
    Ok(())
}

/// A member moving to another company bumps both; its deals go with it, unlinked; a member
/// losing its company leaves with its deals; a deal taken over by another company bumps the
/// one it left.
pub async fn company_moves_bump_both(store: &Store) -> Result<(), ConformanceFailure> {
    let state = &*store.state;
    state
        .note_company_members(&[
            member("customer=cus_a", Some(ACME), "101", &["d1"]),
            member("customer=cus_b", Some(ACME), "102", &["d2"]),
            member("customer=cus_c", Some(BETA), "103", &[]),
        ])
        .await?;
    write_all(store).await?;

    state
        .note_company_members(&[member("customer=cus_a", Some(BETA), "101", &[])])
        .await?;
    let work = dirty(store).await?;
    ensure!(
        keys(&work) == [ACME, BETA],
        "after a move, dirty {:?}",
        keys(&work)
    );
    ensure!(
        work[0].members == ["customer=cus_b"]
            && work[0].unlinked_contacts.is_empty()
            && work[0].unlinked_deals.is_empty(),
        "the company left: {:?}",
        work[0]
    );
    ensure!(
        work[1].members == ["customer=cus_a", "customer=cus_c"]
            && work[1].unlinked_contacts == ["101"]
            && work[1].unlinked_deals == ["d1"],
        "the company joined: {:?}",
        work[1]
    );
    write_all(store).await?;

    // cus_a's payment d1 is now written as cus_b's (payments merged): acme takes the deal.
    state
        .note_company_members(&[member("customer=cus_b", Some(ACME), "102", &["d1"])])
        .await?;
    let work = dirty(store).await?;
    ensure!(
        keys(&work) == [ACME, BETA],
        "after a deal moved, dirty {:?}",
        keys(&work)
    );
    ensure!(
        work[0].unlinked_deals == ["d1"],
        "acme's deals {:?}",
        work[0].unlinked_deals
    );
    write_all(store).await?;

    // No company any more (a free-mail address now): cus_b leaves acme with its deals.
    state
        .note_company_members(&[member("customer=cus_b", None, "102", &["d1"])])
        .await?;
    let acme = dirty_one(store, ACME).await?;
    ensure!(
        acme.members.is_empty(),
        "acme keeps members {:?}",
        acme.members
    );
    write_all(store).await?;
    // Its deals are gone with it: forgetting acme's id leaves nothing to link.
    state.forget_company(ACME).await?;
    let acme = dirty_one(store, ACME).await?;
    ensure!(
        acme.unlinked_contacts.is_empty() && acme.unlinked_deals.is_empty(),
        "a member that left still has links: {:?} / {:?}",
        acme.unlinked_contacts,
        acme.unlinked_deals
    );
    // Leaving twice, or leaving without having joined, changes nothing else.
    state
        .note_company_members(&[member("customer=cus_z", None, "199", &[])])
        .await?;
    Ok(())
}

/// Forgetting a company's id makes it dirty, without an id, with every link pending; writing
/// it to a new id cleans it. Marking another id than the one linked leaves the links not
/// listed pending. Forgetting an unknown key changes nothing.
pub async fn company_links_pending_after_forget(store: &Store) -> Result<(), ConformanceFailure> {
    let state = &*store.state;
    state
        .note_company_members(&[
            member("customer=cus_a", Some(ACME), "101", &["d1"]),
            member("customer=cus_b", Some(BETA), "102", &["d2"]),
        ])
        .await?;
    write_all(store).await?;
    let before = state.dirty_companies(100).await?;
    ensure!(before.is_empty(), "dirty before forgetting");

    state.forget_company("unknown.example").await?;
    ensure!(
        dirty(store).await?.is_empty(),
        "forgetting an unknown key made work"
    );
    state.forget_company(ACME).await?;
    let work = dirty(store).await?;
    ensure!(
        keys(&work) == [ACME],
        "after forgetting acme, dirty {:?}",
        keys(&work)
    );
    let acme = &work[0];
    ensure!(
        acme.hubspot_id.is_none()
            && acme.unlinked_contacts == ["101"]
            && acme.unlinked_deals == ["d1"],
        "forgotten acme: {acme:?}"
    );
    state
        .mark_companies_written(&[written(acme, "7001")])
        .await?;
    ensure!(
        dirty(store).await?.is_empty(),
        "acme dirty after writing it anew"
    );

    // HubSpot merged acme into another company: written to the new id with no link made yet,
    // the old links are pending again.
    let acme_now = CompanyWritten {
        key: ACME.into(),
        generation: acme.generation,
        hubspot_id: "7002".into(),
        linked_contacts: Vec::new(),
        linked_deals: Vec::new(),
    };
    state.mark_companies_written(&[acme_now]).await?;
    let acme = dirty_one(store, ACME).await?;
    ensure!(
        acme.hubspot_id.as_deref() == Some("7002")
            && acme.unlinked_contacts == ["101"]
            && acme.unlinked_deals == ["d1"],
        "after a new id: {acme:?}"
    );
    write_all(store).await?;
    Ok(())
}

/// Erasing a customer removes the memberships (and deals) of its contact keys, its own and
/// its emails', and bumps their company; other members and their links stay.
pub async fn company_membership_erased(store: &Store) -> Result<(), ConformanceFailure> {
    let state = &*store.state;
    let config = MappingConfig::default();
    let customer = CustomerFacts {
        stamp: Stamp {
            created: 100,
            event_id: "evt_c".into(),
        },
        customer_id: "cus_e".into(),
        contact: Some(CustomerContact {
            email: Some(Personal::new("eve@acme.com")),
            name: None,
            phone: None,
            business_name: None,
        }),
        deleted: false,
        subscription: None,
    };
    state.merge_customer_facts(&[customer], &config).await?;
    state
        .note_company_members(&[
            member("customer=cus_e", Some(ACME), "101", &["d1"]),
            member("email=eve@acme.com", Some(ACME), "102", &["d2"]),
            member("customer=cus_o", Some(ACME), "103", &["d3"]),
        ])
        .await?;
    write_all(store).await?;
    state.erase_customer("cus_e", &config).await?;
    let acme = dirty_one(store, ACME).await?;
    ensure!(
        acme.members == ["customer=cus_o"],
        "after the erasure acme has members {:?}",
        acme.members
    );
    ensure!(
        acme.unlinked_contacts.is_empty() && acme.unlinked_deals.is_empty(),
        "the other member's links were undone"
    );
    write_all(store).await?;
    state.forget_company(ACME).await?;
    let acme = dirty_one(store, ACME).await?;
    ensure!(
        acme.unlinked_contacts == ["103"] && acme.unlinked_deals == ["d3"],
        "the erased person's contacts or deals remain: {:?} / {:?}",
        acme.unlinked_contacts,
        acme.unlinked_deals
    );
    Ok(())
}

fn work_items(work: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    work.iter()
        .map(|(p, d, f)| ((*p).to_owned(), (*d).to_owned(), (*f).to_owned()))
        .collect()
}

fn pending_keys(work: &[LineItemWork]) -> Vec<&str> {
    work.iter().map(|w| w.payment_key.as_str()).collect()
}

/// Line-item work pends when noted, in payment key order and `limit` long; marking its
/// generation clears it; a redelivery (same deal, same fingerprint) pends nothing, a new
/// fingerprint or deal pends again; a note during the write keeps it pending after the older
/// generation is marked; a stale mark changes nothing.
pub async fn line_items_pend_on_change_only(store: &Store) -> Result<(), ConformanceFailure> {
    let state = &*store.state;
    ensure!(
        state.pending_line_items(100).await?.is_empty(),
        "a fresh store has line-item work"
    );
    state.note_line_items(&[]).await?;
    state
        .note_line_items(&work_items(&[("ch_2", "d2", "f1"), ("ch_1", "d1", "f1")]))
        .await?;
    let pending = state.pending_line_items(100).await?;
    ensure!(
        pending_keys(&pending) == ["ch_1", "ch_2"] && pending[0].deal_id == "d1",
        "pending {pending:?}"
    );
    ensure!(
        pending_keys(&state.pending_line_items(1).await?) == ["ch_1"],
        "a page of one"
    );
    let first = pending[0].generation;
    state
        .mark_line_items_written(&[("ch_1".into(), first), ("ch_unknown".into(), 3)])
        .await?;
    ensure!(
        pending_keys(&state.pending_line_items(100).await?) == ["ch_2"],
        "after marking ch_1"
    );

    state
        .note_line_items(&work_items(&[("ch_1", "d1", "f1")]))
        .await?;
    ensure!(
        pending_keys(&state.pending_line_items(100).await?) == ["ch_2"],
        "a redelivery made ch_1 pending"
    );
    state
        .note_line_items(&work_items(&[("ch_1", "d1", "f2")]))
        .await?;
    let pending = state.pending_line_items(100).await?;
    ensure!(
        pending_keys(&pending) == ["ch_1", "ch_2"] && pending[0].generation > first,
        "a new fingerprint: {pending:?}"
    );
    state
        .mark_line_items_written(&[("ch_1".into(), pending[0].generation)])
        .await?;
    state
        .note_line_items(&work_items(&[("ch_1", "d9", "f2")]))
        .await?;
    let pending = state.pending_line_items(100).await?;
    ensure!(
        pending_keys(&pending) == ["ch_1", "ch_2"] && pending[0].deal_id == "d9",
        "a new deal: {pending:?}"
    );

    // ch_2 changes while its write is in flight.
    let in_flight = pending[1].generation;
    state
        .note_line_items(&work_items(&[("ch_2", "d2", "f3")]))
        .await?;
    state
        .mark_line_items_written(&[
            ("ch_2".into(), in_flight),
            ("ch_1".into(), pending[0].generation),
        ])
        .await?;
    let pending = state.pending_line_items(100).await?;
    ensure!(
        pending_keys(&pending) == ["ch_2"] && pending[0].generation > in_flight,
        "after marking the in-flight generation: {pending:?}"
    );
    state
        .mark_line_items_written(&[("ch_2".into(), pending[0].generation)])
        .await?;
    state
        .mark_line_items_written(&[("ch_2".into(), in_flight)])
        .await?;
    ensure!(
        state.pending_line_items(100).await?.is_empty(),
        "a stale mark made work pending again"
    );
    Ok(())
}
