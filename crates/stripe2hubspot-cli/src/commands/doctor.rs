//! `stripe2hubspot doctor`: checks what a first run needs, one line per check with what to
//! do when it fails. Reads only, unless `--fix` asks it to create missing properties.

use std::collections::BTreeSet;
use std::process::ExitCode;

use hubspot_crm::scopes::{
    AccessTokenInfo, COMPANY_SCHEMAS_WRITE, COMPANY_SCOPES, LINE_ITEM_PROPERTY_SCOPES,
    LINE_ITEM_SCOPES, PRODUCT_SCOPES, PROPERTY_BOOTSTRAP_SCOPES, SYNC_SCOPES,
};
use hubspot_crm::{Client, Error, ObjectType, PropertyCreate, PropertyOption, RetryPolicy};
use stripe2hubspot_map::{CompanyKeySource, MappingConfig, PropertySpec};

use stripe2hubspot::queue::DEFAULT_PORTAL;

use crate::config::{process_env, GDPR_DELETE, LINE_ITEMS, MERGE_CONTACTS, TOKEN_HELP};

/// Options of `doctor`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Checks: STRIPE_WEBHOOK_SECRET looks like whsec_; HubSpot accepts the \
token; the token has the sync scopes, and the scopes of companies and line items when they are \
on; every property the mapping writes (on contacts, deals, companies, line items and products) \
exists with the right type; the deal pipeline and stages exist; the queue is reachable and migrated. It also lists \
the HubSpot validation rules on properties the sync writes. Exits 1 if any check fails."
)]
pub struct Args {
    /// Create the properties the mapping writes that HubSpot lacks (needs the
    /// crm.schemas.contacts.write and crm.schemas.deals.write scopes; companies need
    /// crm.schemas.companies.write, line items and products e-commerce).
    #[arg(long)]
    fix: bool,
    /// Check the stored portal ID instead (its token, rate limit, host, API version, mapping
    /// and endpoint secret); `default` is the portal HUBSPOT_ACCESS_TOKEN configures. With a
    /// stored portal named, HUBSPOT_ACCESS_TOKEN need not be set.
    #[arg(long, value_name = "ID", conflicts_with = "all")]
    portal: Option<String>,
    /// Check every portal: `default` (when HUBSPOT_ACCESS_TOKEN is set) and every stored one,
    /// each in a section headed by its id. Exits with the worst section's code.
    #[arg(long)]
    all: bool,
}

/// The result lines, and whether any check failed.
#[derive(Debug, Default)]
struct Report {
    failed: bool,
    /// The stored portal whose token is checked (`None`: HUBSPOT_ACCESS_TOKEN's).
    portal: Option<String>,
}

impl Report {
    /// Where the checked token comes from, for messages.
    fn token_name(&self) -> String {
        match &self.portal {
            Some(id) => format!("the token of portal {id}"),
            None => "HUBSPOT_ACCESS_TOKEN".to_owned(),
        }
    }

    /// How to replace the checked token.
    fn token_help(&self) -> String {
        match &self.portal {
            Some(id) => format!(
                "{TOKEN_HELP}; then store it with `HUBSPOT_ACCESS_TOKEN=... stripe2hubspot portals set {id}`"
            ),
            None => TOKEN_HELP.to_owned(),
        }
    }
}

impl Report {
    fn ok(&mut self, check: &str, detail: impl std::fmt::Display) {
        println!("ok    {check}: {detail}");
    }

    fn fail(&mut self, check: &str, problem: impl std::fmt::Display, fix: impl std::fmt::Display) {
        self.failed = true;
        println!("FAIL  {check}: {problem}; fix: {fix}");
    }

    fn note(&mut self, check: &str, detail: impl std::fmt::Display) {
        println!("info  {check}: {detail}");
    }
}

/// Runs every check; exit 1 if any failed.
pub async fn run(args: Args) -> ExitCode {
    if args.portal.is_some() || args.all {
        return run_portals(args).await;
    }
    let env = process_env();
    let mut report = Report::default();
    let mapping = match env.mapping() {
        Ok(mapping) => mapping,
        Err(error) => return super::config_failure(&error),
    };
    let switches = match (env.merge_contacts(), env.gdpr_delete()) {
        (Ok(merge), Ok(gdpr)) => (merge, gdpr),
        (Err(error), _) | (_, Err(error)) => return super::config_failure(&error),
    };
    report_switches(switches, &mut report);
    report_features(&mapping, &mut report);

    match env.webhook_secrets() {
        Ok(secrets) => report.ok(
            "webhook secret",
            format!("{} signing secret(s) starting with whsec_", secrets.len()),
        ),
        Err(error) => report.fail(
            "webhook secret",
            format!("STRIPE_WEBHOOK_SECRET {}", error.problem),
            "copy the signing secret (whsec_...) of the endpoint from Stripe Dashboard -> Developers -> Webhooks",
        ),
    }

    match env.hubspot() {
        Ok(config) => {
            match stripe2hubspot::service::hubspot_client(&config, RetryPolicy::default()) {
                Ok(client) => hubspot_checks(&client, &mapping, args.fix, &mut report).await,
                Err(error) => report.fail("hubspot client", error, "check HUBSPOT_BASE_URL"),
            }
        }
        Err(error) => report.fail(
            "hubspot configuration",
            format!("{} {}", error.variable, error.problem),
            format!("set {} and run doctor again", error.variable),
        ),
    }

    queue_check(&env, &mut report).await;

    if report.failed {
        println!("some checks failed: fix them and run `stripe2hubspot doctor` again");
        ExitCode::FAILURE
    } else {
        println!("all checks passed: start the server with `stripe2hubspot serve`");
        ExitCode::SUCCESS
    }
}

/// `doctor --portal ID` and `doctor --all`: today's checks per portal, each section headed by
/// the portal's id; the exit code is the worst section's (2 for an unknown portal or a
/// malformed stored setting, 1 for a failed check).
async fn run_portals(args: Args) -> ExitCode {
    let env = process_env();
    let switches = match (env.merge_contacts(), env.gdpr_delete()) {
        (Ok(merge), Ok(gdpr)) => (merge, gdpr),
        (Err(error), _) | (_, Err(error)) => return super::config_failure(&error),
    };
    let store = match super::open_queue().await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let ids = match &args.portal {
        Some(id) => vec![id.clone()],
        None => {
            let mut ids = Vec::new();
            if std::env::var("HUBSPOT_ACCESS_TOKEN").is_ok_and(|t| !t.trim().is_empty()) {
                ids.push(DEFAULT_PORTAL.to_owned());
            }
            match store.portals.list().await {
                Ok(portals) => ids.extend(portals.into_iter().map(|p| p.id)),
                Err(error) => {
                    return super::failure(&format_args!("could not read the portals: {error}"))
                }
            }
            if ids.is_empty() {
                eprintln!("error: no portal to check: HUBSPOT_ACCESS_TOKEN is not set and no portal is stored (`stripe2hubspot portals add`)");
                return ExitCode::from(super::EXIT_CONFIG);
            }
            ids
        }
    };
    let mut worst: u8 = 0;
    for id in &ids {
        println!("== portal {id} ==");
        let code = check_portal(&store, id, switches, args.fix).await;
        worst = worst.max(code);
    }
    match worst {
        0 => {
            println!("all checks passed for {} portal(s)", ids.len());
            ExitCode::SUCCESS
        }
        code => {
            println!("some checks failed: fix them and run `stripe2hubspot doctor` again");
            ExitCode::from(code)
        }
    }
}

/// One portal's section; its exit code.
async fn check_portal(
    store: &stripe2hubspot::queue::Store,
    id: &str,
    switches: (bool, bool),
    fix: bool,
) -> u8 {
    let target = match super::portal_target_code(store, id).await {
        Ok(target) => target,
        Err(code) => return code,
    };
    let portal = target.portal.as_ref();
    let mapping = match super::mapping(portal) {
        Ok(mapping) => mapping,
        Err(error) => {
            eprintln!("{error}");
            return super::EXIT_CONFIG;
        }
    };
    let mut report = Report {
        failed: false,
        portal: portal.map(|p| p.id.clone()),
    };
    report_switches(switches, &mut report);
    report_features(&mapping, &mut report);
    match portal.and_then(|p| p.webhook_secrets.as_ref()) {
        Some(secrets) => report.ok(
            "webhook secret",
            format!(
                "{} signing secret(s) of the portal's own endpoint /api/webhooks/stripe/{id}",
                secrets.expose().split(',').filter(|s| !s.trim().is_empty()).count()
            ),
        ),
        None => match process_env().webhook_secrets() {
            Ok(secrets) => report.ok(
                "webhook secret",
                format!("{} signing secret(s) starting with whsec_ (STRIPE_WEBHOOK_SECRET)", secrets.len()),
            ),
            Err(error) => report.fail(
                "webhook secret",
                format!("STRIPE_WEBHOOK_SECRET {}", error.problem),
                "copy the signing secret (whsec_...) of the endpoint from Stripe Dashboard -> Developers -> Webhooks",
            ),
        },
    }
    match super::hubspot_config(portal) {
        Ok(config) => {
            match stripe2hubspot::service::hubspot_client(&config, RetryPolicy::default()) {
                Ok(client) => hubspot_checks(&client, &mapping, fix, &mut report).await,
                Err(error) => report.fail(
                    "hubspot client",
                    error,
                    match portal {
                        Some(p) => format!("check the portal's host: `stripe2hubspot portals set {} --hubspot-base-url URL`", p.id),
                        None => "check HUBSPOT_BASE_URL".to_owned(),
                    },
                ),
            }
        }
        Err(error) => report.fail(
            "hubspot configuration",
            format!("{} {}", error.variable, error.problem),
            format!("set {} and run doctor again", error.variable),
        ),
    }
    match target.store.admin.stats().await {
        Ok(stats) => report.ok(
            "queue",
            format!(
                "the portal's queue is readable ({} ready, {} dead)",
                stats.ready, stats.dead
            ),
        ),
        Err(error) => report.fail(
            "queue",
            format!("the portal's queue cannot be read: {error}"),
            "check the database and its permissions",
        ),
    }
    u8::from(report.failed)
}

/// What the two contact switches make the sync do, so an operator sees it before a merge or a
/// deletion happens.
fn report_switches((merge, gdpr): (bool, bool), report: &mut Report) {
    report.note(
        "contact merges",
        if merge {
            format!("on ({MERGE_CONTACTS}=1): a contact holding a customer's new email is merged into the customer's contact; HubSpot's merge cannot be undone")
        } else {
            format!("off: a customer's new email that another contact holds is alerted and not written (set {MERGE_CONTACTS}=1 to merge them)")
        },
    );
    report.note(
        "GDPR deletion",
        if gdpr {
            format!("on ({GDPR_DELETE}=1): customer.deleted permanently deletes the customer's HubSpot contact and erases the person from the store")
        } else {
            format!("off: customer.deleted only marks the customer deleted (set {GDPR_DELETE}=1 to delete the contact and erase the person)")
        },
    );
}

/// What the company and line-item features will write, so an operator sees it before the
/// first sync.
fn report_features(mapping: &MappingConfig, report: &mut Report) {
    report.note(
        "companies",
        match &mapping.company_key {
            CompanyKeySource::EmailDomain => "on: payers are grouped into companies by their email domain (free-mail domains make none); set \"company_key\": \"none\" in the mapping to turn them off".to_owned(),
            CompanyKeySource::Metadata(key) => format!("on: payers are grouped into companies by the metadata value {key:?}"),
            CompanyKeySource::Disabled => "off (\"company_key\": \"none\" in the mapping)".to_owned(),
        },
    );
    let line_items = if !mapping.line_items {
        format!("off: set {LINE_ITEMS}=1 to write each deal's line items and products")
    } else if std::env::var_os("STRIPE_SECRET_KEY").is_some() {
        "on: invoice lines, and Checkout line items read from Stripe with STRIPE_SECRET_KEY"
            .to_owned()
    } else {
        "on: invoice lines only; Checkout sessions get none without STRIPE_SECRET_KEY (their events do not carry the items: set it to read them)".to_owned()
    };
    report.note("line items", line_items);
}

async fn hubspot_checks(client: &Client, mapping: &MappingConfig, fix: bool, report: &mut Report) {
    let Some(info) = token_check(client, report).await else {
        return;
    };
    let bootstrap_granted = scope_check(info.as_ref(), report);
    let (contact_specs, deal_specs) = mapping.custom_properties();
    for (object, specs) in [
        (ObjectType::Contacts, contact_specs),
        (ObjectType::Deals, deal_specs),
    ] {
        property_check(client, object, &specs, fix, bootstrap_granted, report).await;
    }
    for feature in features(mapping) {
        let granted = feature_scope_check(&feature, info.as_ref(), report);
        for (object, specs, can_create) in feature.objects {
            let can_create = can_create(info.as_ref());
            if granted {
                property_check(client, object, &specs, fix, can_create, report).await;
            }
        }
    }
    pipeline_check(client, mapping, report).await;
    validation_rules(client, report).await;
}

/// `Some(None)`: the token works but HubSpot did not list its scopes (a service key).
async fn token_check(client: &Client, report: &mut Report) -> Option<Option<AccessTokenInfo>> {
    let rejected = |report: &mut Report| {
        let (name, help) = (report.token_name(), report.token_help());
        report.fail("token", format!("HubSpot rejected {name} (401)"), help)
    };
    match client.access_token_info().await {
        Ok(info) => {
            report.ok(
                "token",
                format!(
                    "accepted by HubSpot (portal {})",
                    info.hub_id.as_deref().unwrap_or("unknown")
                ),
            );
            Some(Some(info))
        }
        // The token-info call is documented for private-app tokens; a service key may get a
        // 4xx there and still work, so a read decides.
        Err(error) if error.status().is_some_and(|s| (400..500).contains(&s)) => {
            match client.properties(ObjectType::Contacts).list().await {
                Ok(_) => {
                    report.ok(
                        "token",
                        "accepted by HubSpot (confirmed with a read of contact properties)",
                    );
                    Some(None)
                }
                Err(Error::Unauthorized { .. }) => {
                    rejected(report);
                    None
                }
                Err(error) => {
                    let help = report.token_help();
                    report.fail(
                        "token",
                        format!("a read with the token failed: {error}"),
                        help,
                    );
                    None
                }
            }
        }
        Err(error) => {
            report.fail(
                "token",
                format!("could not ask HubSpot about the token: {error}"),
                "check HUBSPOT_BASE_URL and the network, then run doctor again",
            );
            None
        }
    }
}

/// Whether a token (its scopes, when HubSpot lists them) may create an object type's
/// properties.
type CanCreate = fn(Option<&AccessTokenInfo>) -> bool;

/// A feature beside payments and contacts that needs scopes of its own.
struct Feature {
    name: &'static str,
    scopes: Vec<&'static str>,
    /// How to turn it off, for the fix of a missing scope.
    off: String,
    /// Each object type it writes, with its custom properties.
    objects: Vec<(ObjectType, Vec<PropertySpec>, CanCreate)>,
}

fn granted(info: Option<&AccessTokenInfo>, scopes: &[&str]) -> bool {
    info.is_none_or(|info| info.missing(scopes).is_empty())
}

/// The features the mapping turns on.
fn features(mapping: &MappingConfig) -> Vec<Feature> {
    let mut out = Vec::new();
    if mapping.company_key != CompanyKeySource::Disabled {
        out.push(Feature {
            name: "companies",
            scopes: COMPANY_SCOPES.to_vec(),
            off: "set \"company_key\": \"none\" in the mapping".to_owned(),
            objects: vec![(
                ObjectType::Companies,
                mapping.company_custom_properties(),
                |info| granted(info, &[COMPANY_SCHEMAS_WRITE]),
            )],
        });
    }
    if mapping.line_items {
        let can_create = |info: Option<&AccessTokenInfo>| granted(info, &LINE_ITEM_PROPERTY_SCOPES);
        out.push(Feature {
            name: "line items",
            scopes: LINE_ITEM_SCOPES
                .iter()
                .chain(&PRODUCT_SCOPES)
                .copied()
                .collect(),
            off: format!("unset {LINE_ITEMS}"),
            objects: vec![
                (
                    ObjectType::LineItems,
                    mapping.line_item_custom_properties(),
                    can_create,
                ),
                (
                    ObjectType::Products,
                    mapping.product_custom_properties(),
                    can_create,
                ),
            ],
        });
    }
    out
}

/// Whether the token holds a feature's scopes (unknown counts as granted). A missing one
/// fails the check: that feature would stay paused while payments and contacts sync.
fn feature_scope_check(
    feature: &Feature,
    info: Option<&AccessTokenInfo>,
    report: &mut Report,
) -> bool {
    let check = format!("{} scopes", feature.name);
    let Some(info) = info else {
        report.note(
            &check,
            format!(
                "HubSpot does not list this key's scopes; {} need {}",
                feature.name,
                feature.scopes.join(", ")
            ),
        );
        return true;
    };
    let missing = info.missing(&feature.scopes);
    if missing.is_empty() {
        report.ok(&check, format!("granted: {}", feature.scopes.join(", ")));
        return true;
    }
    report.fail(
        &check,
        format!(
            "the token lacks {}: {} will pause while payments and contacts sync",
            missing.join(", "),
            feature.name
        ),
        format!(
            "add {} to the service key or the private app, or {} to turn {} off",
            missing.join(", "),
            feature.off,
            feature.name
        ),
    );
    false
}

/// Returns whether the property-creation scopes are granted (unknown counts as granted).
fn scope_check(info: Option<&AccessTokenInfo>, report: &mut Report) -> bool {
    let Some(info) = info else {
        report.note(
            "scopes",
            format!(
                "HubSpot does not list this key's scopes; it needs {} (and {} to create properties)",
                SYNC_SCOPES.join(", "),
                PROPERTY_BOOTSTRAP_SCOPES.join(", ")
            ),
        );
        return true;
    };
    let missing = info.missing(&SYNC_SCOPES);
    if missing.is_empty() {
        report.ok("scopes", format!("granted: {}", SYNC_SCOPES.join(", ")));
    } else {
        report.fail(
            "scopes",
            format!("the token lacks {}", missing.join(", ")),
            format!(
                "add {} to the service key (Development > Keys > Service keys > your key > Scopes) or the private app, then run doctor again",
                missing.join(", ")
            ),
        );
    }
    let missing_bootstrap = info.missing(&PROPERTY_BOOTSTRAP_SCOPES);
    if missing_bootstrap.is_empty() {
        report.ok(
            "property scopes",
            format!("granted: {}", PROPERTY_BOOTSTRAP_SCOPES.join(", ")),
        );
    } else {
        report.note(
            "property scopes",
            format!(
                "{} not granted: missing properties cannot be created automatically",
                missing_bootstrap.join(", ")
            ),
        );
    }
    missing_bootstrap.is_empty()
}

async fn property_check(
    client: &Client,
    object: ObjectType,
    specs: &[PropertySpec],
    fix: bool,
    can_create: bool,
    report: &mut Report,
) {
    let check = format!("{} properties", object.as_str());
    let properties = client.properties(object.clone());
    let existing = match properties.list().await {
        Ok(list) => list,
        Err(error) => {
            report.fail(
                &check,
                format!("could not list them: {error}"),
                format!("grant the crm.objects.{}.read scope", object.as_str()),
            );
            return;
        }
    };
    let mut fine = Vec::new();
    for spec in specs {
        let name = &spec.name;
        match existing.iter().find(|p| &p.name == name) {
            Some(found) if found.type_ != spec.type_ => report.fail(
                &check,
                format!("{name} is of type {} in HubSpot but the sync writes {}", found.type_, spec.type_),
                format!(
                    "in HubSpot (Settings > Properties > {}) delete or rename {name}, then run `stripe2hubspot doctor --fix` to create it as {}",
                    object.as_str(),
                    spec.type_
                ),
            ),
            Some(found) if spec.has_unique_value && !found.has_unique_value => report.fail(
                &check,
                format!("{name} exists but does not require unique values, so it cannot be an upsert key"),
                format!("delete {name} in HubSpot and run `stripe2hubspot doctor --fix` to create it unique"),
            ),
            Some(_) => fine.push(name.as_str()),
            None if fix => match properties.create(&create_request(spec)).await {
                Ok(_) | Err(Error::Conflict { .. }) => {
                    report.ok(&check, format!("created {name} ({})", spec.type_))
                }
                Err(error) => report.fail(
                    &check,
                    format!("could not create {name}: {error}"),
                    format!(
                        "grant crm.schemas.{}.write, or create {name} ({}) in HubSpot by hand",
                        object.as_str(),
                        spec.type_
                    ),
                ),
            },
            None => report.fail(
                &check,
                format!("{name} ({}) does not exist", spec.type_),
                if can_create {
                    "run `stripe2hubspot doctor --fix` to create it (the server also creates it on its first sync)".to_owned()
                } else {
                    format!(
                        "grant crm.schemas.{}.write and run `stripe2hubspot doctor --fix`, or create it in HubSpot by hand",
                        object.as_str()
                    )
                },
            ),
        }
    }
    if !fine.is_empty() {
        report.ok(
            &check,
            format!("present with the right type: {}", fine.join(", ")),
        );
    }
}

/// The creation request for a property the mapping writes.
fn create_request(spec: &PropertySpec) -> PropertyCreate {
    let mut create = PropertyCreate::text(&spec.name, &spec.label, &spec.group_name)
        .unique(spec.has_unique_value)
        .description(spec.description.clone());
    create.type_ = spec.type_.clone();
    create.field_type = spec.field_type.clone();
    create.options = spec
        .options
        .iter()
        .map(|o| PropertyOption {
            label: o.label.clone(),
            value: o.value.clone(),
            display_order: Some(o.display_order),
            hidden: o.hidden,
        })
        .collect();
    create
}

async fn pipeline_check(client: &Client, mapping: &MappingConfig, report: &mut Report) {
    let check = "deal pipeline";
    let pipelines = match client.pipelines(ObjectType::Deals).list().await {
        Ok(list) => list,
        Err(error) => {
            report.fail(
                check,
                format!("could not list deal pipelines: {error}"),
                "grant crm.objects.deals.read",
            );
            return;
        }
    };
    let Some(pipeline) = pipelines.iter().find(|p| p.id == mapping.pipeline) else {
        let ids: Vec<&str> = pipelines.iter().map(|p| p.id.as_str()).collect();
        report.fail(
            check,
            format!("pipeline {:?} does not exist (HubSpot has: {})", mapping.pipeline, ids.join(", ")),
            "set the mapping's pipeline to one of those ids, or create the pipeline in HubSpot (Settings > Objects > Deals > Pipelines)",
        );
        return;
    };
    let mut all_there = true;
    for stage in BTreeSet::from([&mapping.deal_stage, &mapping.lost_deal_stage]) {
        if pipeline.stage(stage).is_none() {
            all_there = false;
            report.fail(
                check,
                format!("stage {stage:?} is missing from pipeline {:?}", pipeline.id),
                format!(
                    "add a stage with id {stage} to the pipeline in HubSpot (Settings > Objects > Deals > Pipelines), or point the mapping at an existing stage"
                ),
            );
        }
    }
    if all_there {
        report.ok(
            check,
            format!(
                "pipeline {:?} has stages {:?} and {:?}",
                pipeline.id, mapping.deal_stage, mapping.lost_deal_stage
            ),
        );
    }
}

/// Lists the validation rules HubSpot reports on contact and deal properties: the sync writes
/// both objects, and from API version 2026-09 a write that breaks a rule is rejected and its
/// payment dead-lettered. Informational: a rule is not a failure.
async fn validation_rules(client: &Client, report: &mut Report) {
    for object in [ObjectType::Contacts, ObjectType::Deals] {
        let check = format!("{} validation rules", object.as_str());
        match client.properties(object).validation_rules().await {
            Ok(rules) => {
                let listed: Vec<String> = rules
                    .iter()
                    .flat_map(|r| {
                        r.property_validation_rules.iter().map(move |rule| {
                            format!(
                                "{} {} {}",
                                r.property_name,
                                rule.rule_type,
                                rule.rule_arguments.join(" ")
                            )
                            .trim_end()
                            .to_owned()
                        })
                    })
                    .collect();
                if listed.is_empty() {
                    report.ok(&check, "none");
                } else {
                    report.note(
                        &check,
                        format!(
                            "a write breaking one is rejected and its payment dead-lettered: {}",
                            listed.join("; ")
                        ),
                    );
                }
            }
            Err(error) => report.note(&check, format!("HubSpot did not list them ({error})")),
        }
    }
}

async fn queue_check<F: Fn(&str) -> Option<String>>(
    env: &crate::config::Env<F>,
    report: &mut Report,
) {
    let url = match env.queue_url() {
        Ok(url) => url,
        Err(error) => {
            report.fail(
                "queue",
                format!("STRIPE2HUBSPOT_QUEUE {}", error.problem),
                "set STRIPE2HUBSPOT_QUEUE to sqlite://path or postgres://...",
            );
            return;
        }
    };
    let shown = stripe2hubspot::config::redact_url(&url);
    match stripe2hubspot::queue::connect(&url).await {
        Ok(store) => match store.admin.stats().await {
            Ok(stats) => report.ok(
                "queue",
                format!("{shown} is reachable and migrated ({} ready, {} dead)", stats.ready, stats.dead),
            ),
            Err(error) => report.fail("queue", format!("{shown} cannot be read: {error}"), "check the database and its permissions"),
        },
        Err(error) => report.fail(
            "queue",
            format!("cannot open {shown}: {error}"),
            "check STRIPE2HUBSPOT_QUEUE, that the database is up, and that this build has its feature (sqlite or postgres)",
        ),
    }
}
