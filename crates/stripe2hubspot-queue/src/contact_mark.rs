//! What HubSpot last confirmed for a contact, so an unchanged contact is not written again.

/// The contact HubSpot holds for one contact key (as
/// [`contact_key_of`](crate::contact_key_of) spells it) and a fingerprint of the properties
/// HubSpot last confirmed writing to it
/// ([`PropertySet::fingerprint`](stripe2hubspot_map::PropertySet::fingerprint)).
///
/// The engine skips the contact upsert when the properties it derives now have the recorded
/// fingerprint, and uses [`contact_id`](Self::contact_id) for the deal's association.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactMark {
    /// The contact key the mark belongs to.
    pub contact_key: String,
    /// The HubSpot contact id.
    pub contact_id: String,
    /// The fingerprint of the properties HubSpot confirmed writing.
    pub properties_hash: String,
}
