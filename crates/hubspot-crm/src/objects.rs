//! CRM objects (contacts, deals, ...): types and calls.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use reqwest::Method;
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;

use crate::client::{Call, Client};
use crate::error::{lenient_batch_errors, BatchError, Error};
use crate::normalize_email;
use crate::paths;

/// The most inputs one batch call takes.
pub const MAX_BATCH_INPUTS: usize = 100;

/// The most results one search page holds.
pub const MAX_SEARCH_LIMIT: u32 = 200;

/// A CRM object type as it appears in API paths.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectType {
    /// `contacts`
    Contacts,
    /// `deals`
    Deals,
    /// `companies`
    Companies,
    /// `line_items` (type id `0-8`): what was sold on a deal.
    LineItems,
    /// `products` (type id `0-7`): the product library line items point at (`hs_product_id`).
    Products,
    /// Any other type, by its path name or id (e.g. `2-123456`).
    Other(String),
}

impl ObjectType {
    /// The name used in API paths.
    pub fn as_str(&self) -> &str {
        match self {
            ObjectType::Contacts => "contacts",
            ObjectType::Deals => "deals",
            ObjectType::Companies => "companies",
            ObjectType::LineItems => "line_items",
            ObjectType::Products => "products",
            ObjectType::Other(s) => s,
        }
    }
}

impl ObjectType {
    /// HubSpot's object type id (`0-1` contacts, `0-3` deals, `0-2` companies, `0-8` line
    /// items, `0-7` products); other types as given
    /// (<https://developers.hubspot.com/docs/guides/api/crm/understanding-the-crm#object-type-ids>).
    pub fn type_id(&self) -> &str {
        match self {
            ObjectType::Contacts => "0-1",
            ObjectType::Deals => "0-3",
            ObjectType::Companies => "0-2",
            ObjectType::LineItems => "0-8",
            ObjectType::Products => "0-7",
            ObjectType::Other(s) => s,
        }
    }
}

impl From<&str> for ObjectType {
    fn from(s: &str) -> Self {
        match s {
            "contacts" | "contact" | "0-1" => ObjectType::Contacts,
            "deals" | "deal" | "0-3" => ObjectType::Deals,
            "companies" | "company" | "0-2" => ObjectType::Companies,
            "line_items" | "line_item" | "0-8" => ObjectType::LineItems,
            "products" | "product" | "0-7" => ObjectType::Products,
            other => ObjectType::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for ObjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A CRM object as HubSpot returns it. Property values are `None` when HubSpot sends `null`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimplePublicObject {
    /// The object id.
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    /// Property values.
    #[serde(default, deserialize_with = "lenient_props")]
    pub properties: BTreeMap<String, Option<String>>,
    /// Creation time.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub created_at: Option<OffsetDateTime>,
    /// Last update time.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
    /// Whether the object is archived.
    #[serde(default)]
    pub archived: bool,
    /// The [`UpdateInput::trace_id`](crate::UpdateInput::trace_id) of the batch-update input
    /// this result answers, when it had one (upserts carry theirs in
    /// [`UpsertedObject::object_write_trace_id`]).
    #[serde(default, rename = "objectWriteTraceId")]
    pub object_write_trace_id: Option<String>,
}

/// The property listing the ids merged into an object (`;`-separated), as HubSpot names it.
pub const MERGED_OBJECT_IDS: &str = "hs_merged_object_ids";

impl SimplePublicObject {
    /// A property value, if present and not null.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name).and_then(|v| v.as_deref())
    }

    /// The ids merged into this object ([`MERGED_OBJECT_IDS`]), when it was returned.
    pub fn merged_ids(&self) -> Vec<&str> {
        self.property(MERGED_OBJECT_IDS)
            .map(|ids| {
                ids.split(';')
                    .map(str::trim)
                    .filter(|id| !id.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether this object is the one HubSpot knows as `id`: its own id, or one merged into
    /// it (a merged record answers for the ids it replaced).
    ///
    /// ```
    /// let o: hubspot_crm::SimplePublicObject = serde_json::from_value(serde_json::json!({
    ///     "id": "9001", "properties": {"hs_merged_object_ids": "512;733"}
    /// })).unwrap();
    /// assert!(o.answers_id("9001") && o.answers_id("733") && !o.answers_id("1"));
    /// ```
    pub fn answers_id(&self, id: &str) -> bool {
        self.id == id || self.merged_ids().contains(&id)
    }
}

/// One result of a batch upsert: the object and whether HubSpot created it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UpsertedObject {
    /// The object as HubSpot returned it.
    #[serde(flatten)]
    pub object: SimplePublicObject,
    /// `true` when this upsert created the object, `false` when it updated one.
    #[serde(default)]
    pub new: bool,
    /// The [`UpsertInput::trace_id`] of the input this result answers, when it had one.
    #[serde(default, rename = "objectWriteTraceId")]
    pub object_write_trace_id: Option<String>,
}

/// The answer to a batch call: `results` for the inputs that succeeded and, on a 207,
/// one [`BatchError`] per failure (its `context` names the failed inputs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchResult<T> {
    /// HTTP status: 200/201 all succeeded, 207 some failed.
    pub http_status: u16,
    /// HubSpot's `status` (`COMPLETE`, ...).
    pub status: String,
    /// Successful results (order is not guaranteed to match the inputs).
    pub results: Vec<T>,
    /// Per-input failures.
    pub errors: Vec<BatchError>,
}

impl<T> BatchResult<T> {
    /// Whether some inputs failed.
    pub fn is_partial(&self) -> bool {
        !self.errors.is_empty()
    }
}

#[derive(Deserialize)]
#[serde(bound = "T: Deserialize<'de>")]
pub(crate) struct RawBatch<T> {
    #[serde(default)]
    status: Option<String>,
    #[serde(default = "Vec::new")]
    results: Vec<T>,
    #[serde(default, deserialize_with = "lenient_batch_errors")]
    errors: Vec<BatchError>,
}

impl<T> RawBatch<T> {
    pub(crate) fn into_result(self, http_status: u16) -> BatchResult<T> {
        BatchResult {
            http_status,
            status: self.status.unwrap_or_default(),
            results: self.results,
            errors: self.errors.into_iter().map(BatchError::redacted).collect(),
        }
    }
}

/// `{ "id": "..." }`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectId {
    /// The object id.
    #[serde(deserialize_with = "id_string")]
    pub id: String,
}

/// Who defined an association type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AssociationCategory {
    /// HubSpot's built-in types (deal -> contact is 3).
    HubspotDefined,
    /// Labels created in the portal.
    UserDefined,
    /// Types defined by an integrator app.
    IntegratorDefined,
}

/// An association type: category and numeric id.
///
/// # The default type ids
///
/// The constants below are HubSpot's default type ids, the same in every portal. Checked
/// against sources for issue 22; none changed:
/// - 279 contact -> company: confirmed on HubSpot's own page, the inline-association
///   example of <https://developers.hubspot.com/docs/api-reference/latest/crm/associations/overview>.
/// - 19 deal -> line item, 20 line item -> deal: not read on a HubSpot page in this pass;
///   they match HubSpot's v1 association definition ids (the legacy v1
///   overview, <https://developers.hubspot.com/docs/methods/crm-associations/crm-associations-overview>,
///   held the table), and every source seen agrees (client enums `DealToLineItem = 19`,
///   `LineItemToDeal = 20`; <https://linuxbeast.com/blog/how-to-use-hubspot-v4-associations-api-in-python>).
/// - 280 company -> contact, 341 deal -> company, 342 company -> deal: not confirmed on a
///   HubSpot page in this pass (its "association type ids" list,
///   <https://developers.hubspot.com/docs/reference/api/crm/associations/association-details>,
///   was not readable through the search tool); 341 as deal -> company is also what
///   <https://san.is/posts/association-type-ids-demystified> shows. A portal answers the
///   authoritative list at `GET /crm/associations/{version}/{from}/{to}/labels`.
/// - 1 and 5 (primary company) are the v1 ids and agree with the same third-party table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociationType {
    /// Who defined the type.
    pub association_category: AssociationCategory,
    /// The type id.
    pub association_type_id: u32,
}

impl AssociationType {
    /// Deal to contact, HubSpot-defined type 3.
    pub const DEAL_TO_CONTACT: AssociationType = AssociationType::hubspot_defined(3);
    /// Contact to deal, HubSpot-defined type 4.
    pub const CONTACT_TO_DEAL: AssociationType = AssociationType::hubspot_defined(4);
    /// Contact to company, unlabeled: HubSpot-defined type 279.
    pub const CONTACT_TO_COMPANY: AssociationType = AssociationType::hubspot_defined(279);
    /// Contact to its primary company: HubSpot-defined type 1.
    pub const CONTACT_TO_PRIMARY_COMPANY: AssociationType = AssociationType::hubspot_defined(1);
    /// Company to contact, unlabeled: HubSpot-defined type 280.
    pub const COMPANY_TO_CONTACT: AssociationType = AssociationType::hubspot_defined(280);
    /// Deal to company, unlabeled: HubSpot-defined type 341.
    pub const DEAL_TO_COMPANY: AssociationType = AssociationType::hubspot_defined(341);
    /// Deal to its primary company: HubSpot-defined type 5.
    pub const DEAL_TO_PRIMARY_COMPANY: AssociationType = AssociationType::hubspot_defined(5);
    /// Company to deal, unlabeled: HubSpot-defined type 342.
    pub const COMPANY_TO_DEAL: AssociationType = AssociationType::hubspot_defined(342);
    /// Line item to deal: HubSpot-defined type 20.
    pub const LINE_ITEM_TO_DEAL: AssociationType = AssociationType::hubspot_defined(20);
    /// Deal to line item: HubSpot-defined type 19.
    pub const DEAL_TO_LINE_ITEM: AssociationType = AssociationType::hubspot_defined(19);

    /// A HubSpot-defined type by id (the category every default type above has).
    pub const fn hubspot_defined(association_type_id: u32) -> AssociationType {
        AssociationType {
            association_category: AssociationCategory::HubspotDefined,
            association_type_id,
        }
    }
}

/// An association made while creating an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssociationInput {
    /// The object to associate with.
    pub to: ObjectId,
    /// The association types.
    pub types: Vec<AssociationType>,
}

/// The body of a create: properties and inline associations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ObjectInput {
    /// Property values.
    pub properties: BTreeMap<String, String>,
    /// Associations to create with the object.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub associations: Vec<AssociationInput>,
}

impl ObjectInput {
    /// An input with these properties.
    pub fn new(properties: BTreeMap<String, String>) -> Self {
        ObjectInput {
            properties,
            associations: Vec::new(),
        }
    }

    /// Sets one property.
    pub fn property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(name.into(), value.into());
        self
    }

    /// Associates the new object with `to_id`.
    pub fn associate(mut self, to_id: impl Into<String>, kind: AssociationType) -> Self {
        self.associations.push(AssociationInput {
            to: ObjectId { id: to_id.into() },
            types: vec![kind],
        });
        self
    }
}

/// One input of a batch upsert: the object is found by `id_property = id`, created if absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpsertInput {
    /// The value of `id_property` (an e-mail is normalized before sending).
    pub id: String,
    /// The unique property to match on, e.g. `email` or a custom unique property.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_property: Option<String>,
    /// Property values to write.
    pub properties: BTreeMap<String, String>,
    /// A caller-chosen tag HubSpot echoes on this input's result
    /// ([`UpsertedObject::object_write_trace_id`]), since results come back in any order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_write_trace_id: Option<String>,
}

impl UpsertInput {
    /// Tags the input so its result can be matched to it.
    pub fn trace_id(mut self, trace_id: impl Into<String>) -> Self {
        self.object_write_trace_id = Some(trace_id.into());
        self
    }

    /// Upsert by a unique property.
    pub fn new(
        id_property: impl Into<String>,
        id: impl Into<String>,
        properties: BTreeMap<String, String>,
    ) -> Self {
        UpsertInput {
            id: id.into(),
            id_property: Some(id_property.into()),
            properties,
            object_write_trace_id: None,
        }
    }

    /// Upsert a contact by e-mail (normalized).
    pub fn by_email(email: &str, properties: BTreeMap<String, String>) -> Self {
        UpsertInput::new("email", normalize_email(email), properties)
    }
}

/// How to find one object: by id or by a unique property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectRef {
    /// By HubSpot object id.
    Id(String),
    /// By a unique property (`?idProperty=name`).
    Property {
        /// The unique property.
        name: String,
        /// Its value.
        value: String,
    },
}

impl ObjectRef {
    /// By HubSpot object id.
    pub fn id(id: impl Into<String>) -> Self {
        ObjectRef::Id(id.into())
    }

    /// By e-mail (normalized).
    pub fn email(email: &str) -> Self {
        ObjectRef::Property {
            name: "email".into(),
            value: normalize_email(email),
        }
    }

    /// By a unique property.
    pub fn property(name: impl Into<String>, value: impl Into<String>) -> Self {
        ObjectRef::Property {
            name: name.into(),
            value: value.into(),
        }
    }

    pub(crate) fn parts(&self) -> (String, Option<&str>) {
        match self {
            ObjectRef::Id(id) => (id.clone(), None),
            ObjectRef::Property { name, value } if name == "email" => {
                (normalize_email(value), Some(name))
            }
            ObjectRef::Property { name, value } => (value.clone(), Some(name)),
        }
    }
}

/// The most characters a search body may hold: HubSpot answers a longer one with a 400
/// ("A query can contain a maximum of 3,000 characters. If the body of your request exceeds
/// 3,000 characters, a 400 error will be returned",
/// <https://developers.hubspot.com/docs/api-reference/latest/crm/search-the-crm>,
/// "Limitations"). [`Objects::search`] refuses such a body before sending it;
/// [`SearchRequest::split_in`] pages a long `IN` list into searches that fit.
pub const MAX_SEARCH_BODY_CHARS: usize = 3000;

/// A search: one group of filters (ANDed), the properties to return, paging.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    filter_groups: Vec<FilterGroup>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    properties: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    after: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
struct FilterGroup {
    filters: Vec<Filter>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    property_name: String,
    operator: &'static str,
    /// The operand of the one-value operators (`EQ`, `HAS_PROPERTY`); absent for `IN`.
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    /// The list of `IN` (HubSpot's `values` array); absent for the other operators.
    #[serde(skip_serializing_if = "Option::is_none")]
    values: Option<Vec<String>>,
}

impl SearchRequest {
    /// An empty search.
    pub fn new() -> Self {
        SearchRequest::default()
    }

    /// Adds `property == value` (ANDed with the other filters; e-mails are normalized).
    pub fn filter_eq(mut self, property: impl Into<String>, value: impl Into<String>) -> Self {
        let property = property.into();
        let mut value = value.into();
        if property == "email" {
            value = normalize_email(&value);
        }
        if self.filter_groups.is_empty() {
            self.filter_groups.push(FilterGroup::default());
        }
        self.push_filter(Filter {
            property_name: property,
            operator: "EQ",
            value: Some(value),
            values: None,
        });
        self
    }

    /// Adds "`property` is one of `values`" (HubSpot's `IN` operator, ANDed with the other
    /// filters), so one search finds the objects of many values, e.g. the companies of up to
    /// 100 domains.
    ///
    /// HubSpot matches `IN` exactly and documents that "when searching a string property
    /// with this operator, values must be lowercase" (`EQ` is case-insensitive, `IN` is not:
    /// <https://developers.hubspot.com/docs/api-reference/latest/crm/search-the-crm>, "Filter
    /// search results"), so the values are lowercased here (e-mails normalized as
    /// [`normalize_email`] does). Repeated values are sent once. An empty list matches
    /// nothing and [`Objects::search`] refuses it rather than send it.
    ///
    /// A long list can overflow [`MAX_SEARCH_BODY_CHARS`]; see [`SearchRequest::split_in`].
    ///
    /// ```
    /// let search = hubspot_crm::SearchRequest::new().filter_in("domain", ["Acme.com", "b.io"]);
    /// let body = serde_json::to_value(&search).unwrap();
    /// assert_eq!(
    ///     body["filterGroups"][0]["filters"][0],
    ///     serde_json::json!({"propertyName": "domain", "operator": "IN", "values": ["acme.com", "b.io"]})
    /// );
    /// ```
    pub fn filter_in<I, S>(mut self, property: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let property = property.into();
        let mut list: Vec<String> = Vec::new();
        for value in values {
            let value = value.into();
            let value = if property == "email" {
                normalize_email(&value)
            } else {
                value.to_lowercase()
            };
            if !list.contains(&value) {
                list.push(value);
            }
        }
        self.push_filter(Filter {
            property_name: property,
            operator: "IN",
            value: None,
            values: Some(list),
        });
        self
    }

    /// Splits `values` over as few searches as keep each body within
    /// [`MAX_SEARCH_BODY_CHARS`]: each is this search plus
    /// [`filter_in(property, chunk)`](Self::filter_in), in the order of `values`. Empty
    /// `values` give no search. A value that does not fit even alone is
    /// [`Error::InvalidInput`].
    ///
    /// ```
    /// use hubspot_crm::{SearchRequest, MAX_SEARCH_BODY_CHARS};
    /// let domains: Vec<String> = (0..100).map(|i| format!("{}-{i}.example.com", "x".repeat(30))).collect();
    /// let base = SearchRequest::new().properties(["domain"]).limit(100);
    /// let searches = base.split_in("domain", &domains).unwrap();
    /// assert!(searches.len() > 1);
    /// for s in &searches {
    ///     assert!(s.body_chars() <= MAX_SEARCH_BODY_CHARS);
    /// }
    /// ```
    pub fn split_in<I, S>(&self, property: &str, values: I) -> Result<Vec<SearchRequest>, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let fits = |chunk: &[String]| {
            self.clone().filter_in(property, chunk).body_chars() <= MAX_SEARCH_BODY_CHARS
        };
        let mut out: Vec<SearchRequest> = Vec::new();
        let mut chunk: Vec<String> = Vec::new();
        for value in values {
            chunk.push(value.as_ref().to_owned());
            if fits(&chunk) {
                continue;
            }
            // The value that overflowed starts the next search; it must fit there alone.
            let overflow = chunk.split_off(chunk.len() - 1);
            if chunk.is_empty() || !fits(&overflow) {
                return Err(Error::InvalidInput(format!(
                    "one {property} value of {} characters makes a search body longer than \
                     HubSpot's {MAX_SEARCH_BODY_CHARS}",
                    overflow[0].chars().count()
                )));
            }
            out.push(self.clone().filter_in(property, &chunk));
            chunk = overflow;
        }
        if !chunk.is_empty() {
            out.push(self.clone().filter_in(property, &chunk));
        }
        Ok(out)
    }

    /// The length in characters of the JSON body this search sends, to check against
    /// [`MAX_SEARCH_BODY_CHARS`].
    pub fn body_chars(&self) -> usize {
        serde_json::to_string(self).map_or(usize::MAX, |body| body.chars().count())
    }

    fn push_filter(&mut self, filter: Filter) {
        if self.filter_groups.is_empty() {
            self.filter_groups.push(FilterGroup::default());
        }
        if let Some(group) = self.filter_groups.last_mut() {
            group.filters.push(filter);
        }
    }

    /// An `IN` filter with no values: HubSpot has nothing to match it against.
    fn empty_in_filter(&self) -> Option<&str> {
        self.filter_groups
            .iter()
            .flat_map(|g| &g.filters)
            .find(|f| f.values.as_ref().is_some_and(Vec::is_empty))
            .map(|f| f.property_name.as_str())
    }

    /// Adds "`property` has a value" (`HAS_PROPERTY`, ANDed with the other filters): every
    /// object on which the property is set.
    pub fn filter_has_property(mut self, property: impl Into<String>) -> Self {
        self.push_filter(Filter {
            property_name: property.into(),
            operator: "HAS_PROPERTY",
            value: Some(String::new()),
            values: None,
        });
        self
    }

    /// The properties to return.
    pub fn properties<I, S>(mut self, properties: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.properties = properties.into_iter().map(Into::into).collect();
        self
    }

    /// Page size (HubSpot allows up to 200).
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The paging cursor from [`SearchResult::next_after`].
    pub fn after(mut self, after: impl Into<String>) -> Self {
        self.after = Some(after.into());
        self
    }
}

/// A page of search results.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SearchResult {
    /// Total matches.
    #[serde(default)]
    pub total: u64,
    /// This page.
    #[serde(default)]
    pub results: Vec<SimplePublicObject>,
    /// Paging cursor.
    #[serde(default)]
    pub paging: Option<Paging>,
}

impl SearchResult {
    /// The cursor for the next page, if there is one.
    pub fn next_after(&self) -> Option<&str> {
        self.paging
            .as_ref()?
            .next
            .as_ref()
            .map(|n| n.after.as_str())
    }
}

/// Paging information.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Paging {
    /// The next page.
    #[serde(default)]
    pub next: Option<NextPage>,
}

/// The cursor of the next page.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NextPage {
    /// Pass to [`SearchRequest::after`].
    #[serde(deserialize_with = "id_string")]
    pub after: String,
}

#[derive(Serialize)]
struct Inputs<'a, T> {
    inputs: &'a [T],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BatchRead<'a> {
    inputs: Vec<ObjectId>,
    properties: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    id_property: Option<&'a str>,
}

/// Calls on one object type; get it from [`Client::contacts`], [`Client::deals`] or
/// [`Client::objects`].
#[derive(Debug, Clone)]
pub struct Objects {
    client: Client,
    object_type: ObjectType,
}

impl Objects {
    pub(crate) fn new(client: Client, object_type: ObjectType) -> Self {
        Objects {
            client,
            object_type,
        }
    }

    /// The object type these calls address.
    pub fn object_type(&self) -> &ObjectType {
        &self.object_type
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn path(&self, rest: &[&str]) -> Vec<String> {
        paths::objects(self.client.api_version(), self.object_type.as_str(), rest)
    }

    /// Creates one object (`POST /crm/objects/{version}/{type}`), with inline associations.
    ///
    /// A contact whose e-mail exists fails with [`Error::Conflict`] naming the existing id.
    pub async fn create(&self, input: &ObjectInput) -> Result<SimplePublicObject, Error> {
        let mut input = input.clone();
        normalize_email_property(&self.object_type, &mut input.properties);
        let mut call = Call::new(Method::POST, "objects.create", self.path(&[])).json(&input)?;
        call.creates = true;
        Ok(self.client.execute(call).await?.body)
    }

    /// Reads one object by id or unique property, with the given properties.
    pub async fn get(
        &self,
        object: &ObjectRef,
        properties: &[&str],
    ) -> Result<SimplePublicObject, Error> {
        let (id, id_property) = object.parts();
        check_id(&id)?;
        let mut call = Call::new(Method::GET, "objects.get", self.path(&[&id]));
        if !properties.is_empty() {
            call = call.query("properties", properties.join(","));
        }
        if let Some(p) = id_property {
            call = call.query("idProperty", p);
        }
        Ok(self.client.execute(call).await?.body)
    }

    /// Updates one object by id or unique property (`PATCH`).
    pub async fn update(
        &self,
        object: &ObjectRef,
        properties: &BTreeMap<String, String>,
    ) -> Result<SimplePublicObject, Error> {
        let (id, id_property) = object.parts();
        check_id(&id)?;
        let mut properties = properties.clone();
        normalize_email_property(&self.object_type, &mut properties);
        #[derive(Serialize)]
        struct Body<'a> {
            properties: &'a BTreeMap<String, String>,
        }
        let mut call =
            Call::new(Method::PATCH, "objects.update", self.path(&[&id])).json(&Body {
                properties: &properties,
            })?;
        if let Some(p) = id_property {
            call = call.query("idProperty", p);
        }
        Ok(self.client.execute(call).await?.body)
    }

    /// Searches (`POST /crm/objects/{version}/{type}/search`), paced by the search limiter.
    ///
    /// Search lags behind writes by seconds: a miss does not prove absence. Create and
    /// treat [`Error::Conflict`] as "exists", or use [`Objects::batch_upsert`].
    pub async fn search(&self, request: &SearchRequest) -> Result<SearchResult, Error> {
        if request.limit.is_some_and(|l| l > MAX_SEARCH_LIMIT) {
            return Err(Error::InvalidInput(format!(
                "search limit is at most {MAX_SEARCH_LIMIT}"
            )));
        }
        if let Some(property) = request.empty_in_filter() {
            return Err(Error::InvalidInput(format!(
                "the IN filter on {property} has no values"
            )));
        }
        let chars = request.body_chars();
        if chars > MAX_SEARCH_BODY_CHARS {
            return Err(Error::InvalidInput(format!(
                "the search body has {chars} characters, HubSpot takes at most \
                 {MAX_SEARCH_BODY_CHARS}: split the IN list (SearchRequest::split_in)"
            )));
        }
        let mut call =
            Call::new(Method::POST, "objects.search", self.path(&["search"])).json(request)?;
        call.search = true;
        Ok(self.client.execute(call).await?.body)
    }

    /// Creates or updates up to 100 objects by a unique property in one request
    /// (`POST /crm/objects/{version}/{type}/batch/upsert`).
    ///
    /// A 207 answer is `Ok` with [`BatchResult::errors`] naming the failed inputs; a 400
    /// (HubSpot rejects the whole batch for one bad value) is [`Error::Validation`].
    pub async fn batch_upsert(
        &self,
        inputs: &[UpsertInput],
    ) -> Result<BatchResult<UpsertedObject>, Error> {
        check_batch(inputs.len())?;
        let mut inputs = inputs.to_vec();
        let mut seen = BTreeSet::new();
        for input in &mut inputs {
            if input.id_property.as_deref() == Some("email") {
                input.id = normalize_email(&input.id);
            }
            normalize_email_property(&self.object_type, &mut input.properties);
            check_id(&input.id)?;
            if !seen.insert((input.id_property.clone(), input.id.clone())) {
                return Err(Error::InvalidInput(format!(
                    "the batch holds the id {:?} twice; HubSpot rejects duplicate ids, merge them",
                    input.id
                )));
            }
        }
        let call = Call::new(
            Method::POST,
            "objects.batch_upsert",
            self.path(&["batch", "upsert"]),
        )
        .json(&Inputs { inputs: &inputs })?;
        let answer = self
            .client
            .execute::<RawBatch<UpsertedObject>>(call)
            .await?;
        Ok(answer.body.into_result(answer.status))
    }

    /// Reads up to 100 objects in one request (`POST /crm/objects/{version}/{type}/batch/read`),
    /// by HubSpot id or, with `id_property`, by a unique property's values, returning
    /// `properties`. Ids HubSpot does not know come back as a 207 with an `OBJECT_NOT_FOUND`
    /// [`BatchError`] naming them, not as an error.
    pub async fn batch_read(
        &self,
        id_property: Option<&str>,
        ids: &[String],
        properties: &[String],
    ) -> Result<BatchResult<SimplePublicObject>, Error> {
        check_batch(ids.len())?;
        let mut inputs = Vec::with_capacity(ids.len());
        for id in ids {
            check_id(id)?;
            inputs.push(ObjectId { id: id.clone() });
        }
        let call = Call::new(
            Method::POST,
            "objects.batch_read",
            self.path(&["batch", "read"]),
        )
        .json(&BatchRead {
            inputs,
            properties,
            id_property,
        })?;
        let answer = self
            .client
            .execute::<RawBatch<SimplePublicObject>>(call)
            .await?;
        Ok(answer.body.into_result(answer.status))
    }

    /// Creates up to 100 objects in one request (`POST /crm/objects/{version}/{type}/batch/create`).
    pub async fn batch_create(
        &self,
        inputs: &[ObjectInput],
    ) -> Result<BatchResult<SimplePublicObject>, Error> {
        check_batch(inputs.len())?;
        let mut inputs = inputs.to_vec();
        for input in &mut inputs {
            normalize_email_property(&self.object_type, &mut input.properties);
        }
        let mut call = Call::new(
            Method::POST,
            "objects.batch_create",
            self.path(&["batch", "create"]),
        )
        .json(&Inputs { inputs: &inputs })?;
        call.creates = true;
        let answer = self
            .client
            .execute::<RawBatch<SimplePublicObject>>(call)
            .await?;
        Ok(answer.body.into_result(answer.status))
    }
}

pub(crate) fn normalize_email_property(
    object_type: &ObjectType,
    properties: &mut BTreeMap<String, String>,
) {
    if *object_type == ObjectType::Contacts {
        if let Some(email) = properties.get_mut("email") {
            *email = normalize_email(email);
        }
    }
}

pub(crate) fn check_batch(len: usize) -> Result<(), Error> {
    if len > MAX_BATCH_INPUTS {
        return Err(Error::TooManyInputs {
            max: MAX_BATCH_INPUTS,
            got: len,
        });
    }
    if len == 0 {
        return Err(Error::InvalidInput(
            "a batch needs at least one input".into(),
        ));
    }
    Ok(())
}

pub(crate) fn check_id(id: &str) -> Result<(), Error> {
    if id.trim().is_empty() {
        return Err(Error::InvalidInput(
            "an object id or idProperty value is empty".into(),
        ));
    }
    Ok(())
}

pub(crate) fn id_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected an id string, found {}",
            kind(&other)
        ))),
    }
}

fn lenient_props<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Option<String>>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    let mut out = BTreeMap::new();
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let v = match v {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(s) => Some(s),
                    other => Some(other.to_string()),
                };
                out.insert(k, v);
            }
        }
        serde_json::Value::Null => {}
        other => {
            return Err(serde::de::Error::custom(format!(
                "expected properties to be an object, found {}",
                kind(&other)
            )))
        }
    }
    Ok(out)
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
