#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod archive;
mod associations;
mod client;
mod error;
mod gdpr;
mod limit;
mod merge;
mod objects;
mod paths;
mod pipelines;
mod properties;
mod redact;
mod retry;
pub mod scopes;
pub mod telemetry;
mod unique;
mod update;
mod version;

#[cfg(feature = "fake")]
#[cfg_attr(docsrs, doc(cfg(feature = "fake")))]
pub mod fake;

pub use associations::{AssociationSpec, Associations, DefaultAssociation};
pub use client::{Client, ClientBuilder, DEFAULT_BASE_URL};
pub use error::{
    BatchError, Error, ErrorDetail, ErrorDetails, PropertyError, RateLimitPolicy, TransportKind,
    ViolatedRule,
};
pub use limit::{Limiter, RateLimit, RateLimitParseError, SlidingLog, MAX_SKEW_MARGIN};
pub use objects::{
    AssociationCategory, AssociationInput, AssociationType, BatchResult, NextPage, ObjectId,
    ObjectInput, ObjectRef, ObjectType, Objects, Paging, SearchRequest, SearchResult,
    SimplePublicObject, UpsertInput, UpsertedObject, MAX_BATCH_INPUTS, MAX_SEARCH_BODY_CHARS,
    MAX_SEARCH_LIMIT, MERGED_OBJECT_IDS,
};
pub use pipelines::{Pipeline, PipelineStage, Pipelines};
pub use properties::{
    Properties, Property, PropertyCreate, PropertyOption, PropertyValidation,
    PropertyValidationRule,
};
pub use redact::redact;
pub use retry::{parse_retry_after, RetryPolicy, MAX_HOLD};
pub use scopes::AccessTokenInfo;
pub use unique::{UniqueConflict, UniqueCreateResult};
pub use update::{UpdateInput, UpdateRefusal};
pub use version::{ApiVersion, ApiVersionParseError, DatedVersion};

/// Normalizes an e-mail address the way HubSpot matches it: trimmed and lowercased.
///
/// ```
/// assert_eq!(hubspot_crm::normalize_email("  Ada@Example.COM "), "ada@example.com");
/// ```
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}
