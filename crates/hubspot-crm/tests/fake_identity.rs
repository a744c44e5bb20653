//! Update by id, email conflicts, merges (by the API and by a user), user deletes and GDPR
//! deletes against `FakeHubSpot`, over real loopback HTTP.
#![cfg(feature = "fake")]

use std::collections::BTreeMap;

use hubspot_crm::fake::FakeHubSpot;
use hubspot_crm::{
    AssociationType, Error, ObjectInput, ObjectRef, Objects, PropertyCreate, UpdateInput,
    UpdateRefusal, UpsertInput,
};

const UPDATE: &str = "/crm/objects/2026-09/contacts/batch/update";
const MERGE: &str = "/crm/objects/2026-09/contacts/merge";
const GDPR: &str = "/crm/objects/2026-09/contacts/gdpr-delete";

async fn contact(contacts: &Objects, email: &str) -> String {
    contacts
        .create(&ObjectInput::default().property("email", email))
        .await
        .unwrap()
        .id
}

async fn deal_for(fake: &FakeHubSpot, contact_id: &str, name: &str) -> String {
    fake.client()
        .unwrap()
        .deals()
        .create(
            &ObjectInput::default()
                .property("dealname", name)
                .associate(contact_id, AssociationType::DEAL_TO_CONTACT),
        )
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn update_by_id_writes_and_validates_like_upserts() {
    let fake = FakeHubSpot::start().await;
    let contacts = fake.client().unwrap().contacts();
    let id = contact(&contacts, "ada@example.com").await;

    let answer = contacts
        .batch_update(&[UpdateInput::new(&id, BTreeMap::new())
            .property("email", "Ada.New@Example.com")
            .property("firstname", "Ada")
            .trace_id("cus_1")])
        .await
        .unwrap();
    assert_eq!(answer.http_status, 200);
    assert_eq!(answer.results[0].id, id);
    assert_eq!(
        answer.results[0].object_write_trace_id.as_deref(),
        Some("cus_1")
    );
    let stored = fake.object("contacts", &id).unwrap();
    assert_eq!(stored.property("email"), Some("ada.new@example.com"));
    assert_eq!(stored.property("firstname"), Some("Ada"));
    // The old email is free again; the new one finds the same contact.
    assert!(fake.contact_by_email("ada@example.com").is_none());
    assert_eq!(
        fake.contact_by_email("ada.new@example.com").map(|c| c.id),
        Some(id.clone())
    );

    // One bad value rejects the whole batch, as for upserts: nothing is written.
    let err = contacts
        .batch_update(&[
            UpdateInput::new(&id, BTreeMap::new()).property("firstname", "Changed"),
            UpdateInput::new(&id, BTreeMap::new()).property("no_such_property", "x"),
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidInput(_)),
        "duplicate ids: {err:?}"
    );
    let err = contacts
        .batch_update(&[UpdateInput::new(&id, BTreeMap::new())
            .property("firstname", "Changed")
            .property("no_such_property", "x")])
        .await
        .unwrap_err();
    let Error::Validation {
        unknown_properties, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(unknown_properties, &vec!["no_such_property".to_owned()]);
    assert_eq!(
        fake.object("contacts", &id).unwrap().property("firstname"),
        Some("Ada")
    );
    assert_eq!(fake.request_count("POST", UPDATE), 2);
}

#[tokio::test]
async fn an_email_another_contact_holds_is_refused_naming_that_contact() {
    let fake = FakeHubSpot::start().await;
    let contacts = fake.client().unwrap().contacts();
    let ada = contact(&contacts, "ada@example.com").await;
    let bob = contact(&contacts, "bob@example.com").await;
    let cy = contact(&contacts, "cy@example.com").await;

    let answer = contacts
        .batch_update(&[
            UpdateInput::new(&ada, BTreeMap::new()).property("email", "BOB@example.com"),
            UpdateInput::new(&cy, BTreeMap::new()).property("firstname", "Cy"),
        ])
        .await
        .unwrap();
    assert_eq!(answer.http_status, 207);
    assert_eq!(answer.results.len(), 1, "the other input is written");
    assert_eq!(answer.results[0].id, cy);
    let [error] = answer.errors.as_slice() else {
        panic!("{:?}", answer.errors)
    };
    assert_eq!(error.ids(), vec![ada.as_str()]);
    match error.update_refusal() {
        Some(UpdateRefusal::Taken(conflict)) => {
            assert_eq!(conflict.existing_id.as_deref(), Some(bob.as_str()))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        fake.object("contacts", &ada).unwrap().property("email"),
        Some("ada@example.com"),
        "the refused input changed nothing"
    );
    // Writing its own email again is no conflict.
    let answer = contacts
        .batch_update(&[
            UpdateInput::new(&bob, BTreeMap::new()).property("email", "bob@example.com")
        ])
        .await
        .unwrap();
    assert_eq!(answer.http_status, 200);
}

#[tokio::test]
async fn deals_update_by_id_and_clash_on_their_unique_property() {
    let fake = FakeHubSpot::builder()
        .property(
            "deals",
            PropertyCreate::text("stripe_payment_id", "Stripe payment", "dealinformation")
                .unique(true),
        )
        .start()
        .await;
    let deals = fake.client().unwrap().deals();
    let mut ids = Vec::new();
    for pi in ["pi_1", "pi_2"] {
        let created = deals
            .create(&ObjectInput::default().property("stripe_payment_id", pi))
            .await
            .unwrap();
        ids.push(created.id);
    }
    let answer = deals
        .batch_update(&[
            UpdateInput::new(&ids[0], BTreeMap::new()).property("dealname", "Renewal"),
            UpdateInput::new(&ids[1], BTreeMap::new()).property("stripe_payment_id", "pi_1"),
        ])
        .await
        .unwrap();
    assert_eq!(answer.http_status, 207);
    assert_eq!(answer.results[0].property("dealname"), Some("Renewal"));
    match answer.errors[0].update_refusal() {
        Some(UpdateRefusal::Taken(c)) => {
            assert_eq!(c.existing_id.as_deref(), Some(ids[0].as_str()))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_merge_makes_a_new_record_that_the_old_ids_reach() {
    let fake = FakeHubSpot::start().await;
    let client = fake.client().unwrap();
    let contacts = client.contacts();
    let ada = contact(&contacts, "ada@example.com").await;
    let bob = contact(&contacts, "bob@example.com").await;
    contacts
        .batch_update(&[UpdateInput::new(&bob, BTreeMap::new())
            .property("firstname", "Bob")
            .property("lastname", "Smith")])
        .await
        .unwrap();
    contacts
        .batch_update(&[UpdateInput::new(&ada, BTreeMap::new()).property("firstname", "Ada")])
        .await
        .unwrap();
    let ada_deal = deal_for(&fake, &ada, "A").await;
    let bob_deal = deal_for(&fake, &bob, "B").await;

    let merged = contacts.merge(&ada, &bob).await.unwrap();
    assert_ne!(merged.id, ada);
    assert_ne!(merged.id, bob);
    assert_eq!(
        merged.property("email"),
        Some("ada@example.com"),
        "the primary's email"
    );
    assert_eq!(
        merged.property("firstname"),
        Some("Ada"),
        "the primary's value wins"
    );
    assert_eq!(
        merged.property("lastname"),
        Some("Smith"),
        "gaps filled from the other"
    );
    assert_eq!(
        merged.property("hs_additional_emails"),
        Some("bob@example.com")
    );
    let mut merged_ids = merged.merged_ids();
    merged_ids.sort_unstable();
    let mut old = vec![ada.as_str(), bob.as_str()];
    old.sort_unstable();
    assert_eq!(merged_ids, old);
    assert_eq!(fake.contacts().len(), 1);
    for deal in [&ada_deal, &bob_deal] {
        assert!(fake.are_associated("deals", deal, "contacts", &merged.id));
    }

    // Reads by an old id answer with the merged record.
    let read = contacts
        .get(&ObjectRef::id(&bob), &["email"])
        .await
        .unwrap();
    assert_eq!(read.id, merged.id);
    // Updates by an old id write it; the result carries the new id and the trace id.
    let answer = contacts
        .batch_update(&[UpdateInput::new(&bob, BTreeMap::new())
            .property("firstname", "Robert")
            .trace_id("cus_bob")])
        .await
        .unwrap();
    assert_eq!(answer.http_status, 200);
    let result = &answer.results[0];
    assert_eq!(result.id, merged.id);
    assert_eq!(result.object_write_trace_id.as_deref(), Some("cus_bob"));
    assert!(result.answers_id(&bob));
    assert_eq!(
        fake.object("contacts", &merged.id)
            .unwrap()
            .property("firstname"),
        Some("Robert")
    );
    // The other's email is no longer unique to anyone: a new contact may take it.
    let again = contacts
        .batch_upsert(&[UpsertInput::by_email("bob@example.com", BTreeMap::new())])
        .await
        .unwrap();
    assert!(again.results[0].new);
    assert_eq!(fake.request_count("POST", MERGE), 1);

    // Merging an id with itself, or with an unknown id, is refused.
    let err = contacts.merge(&merged.id, &ada).await.unwrap_err();
    assert!(matches!(err, Error::Validation { .. }), "{err:?}");
    let err = contacts.merge(&merged.id, "999999").await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn merges_of_merged_records_and_the_older_keep_primary_behaviour() {
    let fake = FakeHubSpot::builder()
        .merge_keeps_primary_id(true)
        .start()
        .await;
    let contacts = fake.client().unwrap().contacts();
    let a = contact(&contacts, "a@example.com").await;
    let b = contact(&contacts, "b@example.com").await;
    let c = contact(&contacts, "c@example.com").await;
    let first = contacts.merge(&a, &b).await.unwrap();
    assert_eq!(first.id, a, "the primary keeps its id");
    assert_eq!(first.merged_ids(), vec![b.as_str()]);
    // Merging the merged record into another carries the ids it replaced along.
    let second = contacts.merge(&c, &a).await.unwrap();
    assert_eq!(second.id, c);
    for old in [&a, &b] {
        assert!(second.answers_id(old));
        assert_eq!(fake.object("contacts", old).map(|o| o.id), Some(c.clone()));
    }
    let mut extra: Vec<&str> = second
        .property("hs_additional_emails")
        .unwrap_or_default()
        .split(';')
        .collect();
    extra.sort_unstable();
    assert_eq!(extra, vec!["a@example.com", "b@example.com"]);
}

#[tokio::test]
async fn a_user_merge_is_followed_and_a_user_delete_is_not_found() {
    let fake = FakeHubSpot::start().await;
    let contacts = fake.client().unwrap().contacts();
    let ada = contact(&contacts, "ada@example.com").await;
    let dup = contact(&contacts, "ada.dup@example.com").await;
    fake.clear_requests();

    let survivor = fake.merge_contacts(&dup, &ada).unwrap();
    assert_eq!(fake.total_requests(), 0, "a user's merge is no API request");
    assert!(fake.merge_contacts(&survivor, "424242").is_none());
    let answer = contacts
        .batch_update(&[UpdateInput::new(&ada, BTreeMap::new()).property("firstname", "Ada")])
        .await
        .unwrap();
    assert_eq!(answer.results[0].id, survivor);

    assert!(fake.delete_contact(&survivor));
    let answer = contacts
        .batch_update(&[UpdateInput::new(&ada, BTreeMap::new()).property("firstname", "Ada")])
        .await
        .unwrap();
    assert_eq!(answer.http_status, 207);
    assert_eq!(
        answer.errors[0].update_refusal(),
        Some(UpdateRefusal::NotFound)
    );
    assert_eq!(answer.errors[0].ids(), vec![ada.as_str()]);
    let err = contacts
        .update(&ObjectRef::id(&survivor), &BTreeMap::new())
        .await
        .unwrap_err();
    assert_eq!(err.update_refusal(), Some(UpdateRefusal::NotFound));
    assert!(contacts.get(&ObjectRef::id(&dup), &[]).await.is_err());
    assert_eq!(fake.request_count("POST", UPDATE), 2);
}

#[tokio::test]
async fn gdpr_delete_by_id_and_by_email_forgets_the_contact() {
    let fake = FakeHubSpot::start().await;
    let contacts = fake.client().unwrap().contacts();
    let ada = contact(&contacts, "ada@example.com").await;
    let bob = contact(&contacts, "bob@example.com").await;
    let deal = deal_for(&fake, &ada, "A").await;

    contacts.gdpr_delete(&ObjectRef::id(&ada)).await.unwrap();
    assert!(fake.object("contacts", &ada).is_none());
    assert!(!fake.are_associated("deals", &deal, "contacts", &ada));
    assert_eq!(fake.deals().len(), 1, "deals stay");
    contacts
        .gdpr_delete(&ObjectRef::email(" BOB@example.com"))
        .await
        .unwrap();
    assert!(fake.contacts().is_empty());
    // An email no contact has still succeeds (HubSpot blocklists it).
    contacts
        .gdpr_delete(&ObjectRef::email("nobody@example.com"))
        .await
        .unwrap();
    let err = contacts
        .gdpr_delete(&ObjectRef::id(&ada))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");

    let log = fake.gdpr_deletions();
    let seen: Vec<(Option<&str>, Option<&str>)> = log
        .iter()
        .map(|d| (d.id_property.as_deref(), d.deleted_id.as_deref()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (None, Some(ada.as_str())),
            (Some("email"), Some(bob.as_str())),
            (Some("email"), None)
        ]
    );
    assert_eq!(log[1].object_id, "bob@example.com");
    assert!(
        !format!("{log:?}").contains("bob@example.com"),
        "Debug hides emails"
    );
    assert_eq!(fake.request_count("POST", GDPR), 4);

    // The email is forgotten: a later write creates a new contact without a conflict.
    let again = contacts
        .batch_upsert(&[UpsertInput::by_email("ada@example.com", BTreeMap::new())])
        .await
        .unwrap();
    assert!(again.results[0].new);
    assert_ne!(again.results[0].object.id, ada);
}

#[tokio::test]
async fn merge_and_gdpr_delete_need_the_contacts_write_scope() {
    let fake = FakeHubSpot::builder()
        .missing_scopes([hubspot_crm::scopes::CONTACTS_WRITE])
        .start()
        .await;
    let contacts = fake.client().unwrap().contacts();
    let err = contacts.merge("1", "2").await.unwrap_err();
    let Error::Forbidden { missing_scopes, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        missing_scopes,
        &hubspot_crm::scopes::MERGE_CONTACTS_SCOPES.map(str::to_owned)
    );
    let err = contacts.gdpr_delete(&ObjectRef::id("1")).await.unwrap_err();
    let Error::Forbidden { missing_scopes, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        missing_scopes,
        &hubspot_crm::scopes::GDPR_DELETE_SCOPES.map(str::to_owned)
    );
    let err = contacts
        .batch_update(&[UpdateInput::new("1", BTreeMap::new())])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }));
}
