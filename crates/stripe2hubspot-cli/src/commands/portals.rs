//! `stripe2hubspot portals add|list|set|remove`: the HubSpot portals stored in the queue
//! `STRIPE2HUBSPOT_QUEUE` names, and the Stripe accounts routed to each (issue 23).
//!
//! A portal's token comes from `HUBSPOT_ACCESS_TOKEN`, never from an argument: arguments show
//! in the process list to every user of the machine. No command prints a token back.
//!
//! Exit codes: 0 done; 2 for what the operator must fix (an id already used, an account routed
//! to another portal, an unknown id, a malformed value, a missing token); 1 when the store
//! cannot be read or written.

use std::process::ExitCode;

use stripe2hubspot::queue::{
    validate_account, validate_portal_id, Portal, PortalChange, PortalError, PortalToken,
};

use crate::config::{ConfigError, Env};

/// The portal commands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Store a portal: its token from HUBSPOT_ACCESS_TOKEN, the Stripe accounts routed to it.
    ///
    /// Exits 2 naming what is wrong: an id already used, an account routed to another portal,
    /// a malformed value, HUBSPOT_ACCESS_TOKEN not set.
    Add(AddArgs),
    /// Print the portals: id, Stripe accounts, rate limit, paused or not (never the token).
    List,
    /// Change a portal: each flag given replaces that setting; --stripe-account replaces the
    /// whole account list; the token is replaced only if HUBSPOT_ACCESS_TOKEN is set.
    Set(SetArgs),
    /// Remove a portal and free its Stripe accounts.
    ///
    /// Its stored events, ledgers and dead letters stay in the store (a portal added again
    /// under the same id finds them) until --purge deletes them.
    Remove(RemoveArgs),
}

/// `portals add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The portal's id: lowercase letters, digits and `-` (e.g. acme-eu).
    #[arg(value_name = "ID")]
    id: String,
    #[command(flatten)]
    settings: Settings,
}

/// `portals set`.
#[derive(Debug, clap::Args)]
pub struct SetArgs {
    /// The id of the portal to change.
    #[arg(value_name = "ID")]
    id: String,
    #[command(flatten)]
    settings: Settings,
}

/// `portals remove`.
#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    /// The id of the portal to remove.
    #[arg(value_name = "ID")]
    id: String,
    /// Also delete the portal's stored events, ledgers, identities and dead letters (cannot
    /// be undone). For a portal removed earlier without it, deletes what was left.
    #[arg(long)]
    purge: bool,
}

/// The settings `add` and `set` take.
#[derive(Debug, clap::Args)]
pub struct Settings {
    /// A Stripe account routed to the portal (acct_...); repeat for several. Required by add;
    /// for set, the accounts given replace all the portal's accounts.
    #[arg(long = "stripe-account", value_name = "ACCOUNT")]
    stripe_accounts: Vec<String>,
    /// The portal's HubSpot requests per window, as HUBSPOT_RATE_LIMIT reads it (add's
    /// default: 100/10s).
    #[arg(long, value_name = "N/WINDOW")]
    rate_limit: Option<String>,
    /// The portal's HubSpot API host, as HUBSPOT_BASE_URL reads it (default: HubSpot's).
    #[arg(long, value_name = "URL")]
    hubspot_base_url: Option<String>,
    /// The portal's HubSpot API version, as HUBSPOT_API_VERSION reads it: 2026-09 (the
    /// default), 2026-03 or legacy.
    #[arg(long, value_name = "VERSION")]
    api_version: Option<String>,
    /// Store the value of STRIPE_WEBHOOK_SECRET (whsec_..., comma-separated during a
    /// rotation) as the signing secret(s) of the portal's own Stripe endpoint
    /// (/api/webhooks/stripe/ID). Read from the environment: a secret never goes in an
    /// argument, and it is never printed.
    #[arg(long)]
    webhook_secret: bool,
    /// Store the value of SLACK_WEBHOOK_URL as the portal's alert target (default: the
    /// deployment's SLACK_WEBHOOK_URL). Never printed.
    #[arg(long)]
    slack: bool,
    /// The portal's mapping: a JSON mapping file, as STRIPE2HUBSPOT_MAPPING reads it
    /// (default: the deployment's mapping). Its content is stored: a later edit of the file
    /// needs `portals set ID --mapping FILE` again.
    #[arg(long, value_name = "FILE")]
    mapping: Option<String>,
}

/// The settings, checked with the parsers of the environment variables they mirror and put in
/// their canonical form.
#[derive(Debug, Default)]
struct Checked {
    accounts: Option<Vec<String>>,
    rate_limit: Option<String>,
    hubspot_base_url: Option<String>,
    api_version: Option<String>,
    webhook_secrets: Option<PortalToken>,
    alert_url: Option<PortalToken>,
    mapping: Option<String>,
}

/// A flag's value read by the parser of `variable`, as if the environment held only it.
fn as_variable(variable: &'static str, value: &str) -> Env<impl Fn(&str) -> Option<String>> {
    let value = value.to_owned();
    Env::new(move |name: &str| (name == variable).then(|| value.clone()))
}

/// The parser's error, naming the flag instead of the variable.
fn flag_error(flag: &'static str) -> impl Fn(ConfigError) -> ConfigError {
    move |error| ConfigError {
        variable: flag,
        problem: error.problem,
    }
}

fn not_empty(flag: &'static str, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        return Err(ConfigError {
            variable: flag,
            problem: "is empty: give a value or leave the flag out".into(),
        });
    }
    Ok(())
}

impl Settings {
    fn check(&self) -> Result<Checked, ConfigError> {
        let mut checked = Checked::default();
        if !self.stripe_accounts.is_empty() {
            for account in &self.stripe_accounts {
                validate_account(account)
                    .map_err(|e| portal_config_error("--stripe-account", &e))?;
            }
            checked.accounts = Some(self.stripe_accounts.clone());
        }
        if let Some(limit) = &self.rate_limit {
            not_empty("--rate-limit", limit)?;
            let parsed = as_variable("HUBSPOT_RATE_LIMIT", limit)
                .rate_limit()
                .map_err(flag_error("--rate-limit"))?;
            checked.rate_limit = Some(parsed.to_string());
        }
        if let Some(url) = &self.hubspot_base_url {
            not_empty("--hubspot-base-url", url)?;
            let parsed = as_variable("HUBSPOT_BASE_URL", url)
                .hubspot_base_url()
                .map_err(flag_error("--hubspot-base-url"))?;
            checked.hubspot_base_url = Some(parsed);
        }
        if let Some(version) = &self.api_version {
            not_empty("--api-version", version)?;
            let parsed = as_variable("HUBSPOT_API_VERSION", version)
                .hubspot_api_version()
                .map_err(flag_error("--api-version"))?;
            checked.api_version = Some(parsed.to_string());
        }
        let env = crate::config::process_env();
        if self.webhook_secret {
            // Checked as serve checks it: every entry a whsec_ secret.
            let secrets = env.webhook_secrets()?;
            let token = PortalToken::new(secrets.join(","))
                .map_err(|e| portal_config_error("STRIPE_WEBHOOK_SECRET", &e))?;
            checked.webhook_secrets = Some(token);
        }
        if self.slack {
            let url = env.slack_webhook_url()?.ok_or_else(|| ConfigError {
                variable: "SLACK_WEBHOOK_URL",
                problem: "is not set: --slack stores its value (https://hooks.slack.com/services/...) as the portal's alert target".into(),
            })?;
            let token =
                PortalToken::new(url).map_err(|e| portal_config_error("SLACK_WEBHOOK_URL", &e))?;
            checked.alert_url = Some(token);
        }
        if let Some(path) = &self.mapping {
            not_empty("--mapping", path)?;
            checked.mapping = Some(crate::config::mapping_file_json("--mapping", path)?);
        }
        Ok(checked)
    }
}

/// A validation error of the queue crate, as a configuration error of `flag`.
fn portal_config_error(flag: &'static str, error: &PortalError) -> ConfigError {
    let problem = match error {
        PortalError::Invalid { problem, .. } => problem.clone(),
        other => other.to_string(),
    };
    ConfigError {
        variable: flag,
        problem,
    }
}

/// `HUBSPOT_ACCESS_TOKEN` as a portal token: required by add, optional for set.
fn token_from_env(required: bool) -> Result<Option<PortalToken>, ConfigError> {
    let env = crate::config::process_env();
    let set = std::env::var("HUBSPOT_ACCESS_TOKEN").is_ok_and(|v| !v.trim().is_empty());
    if !required && !set {
        return Ok(None);
    }
    let token = env.hubspot_token()?;
    PortalToken::new(token)
        .map(Some)
        .map_err(|e| portal_config_error("HUBSPOT_ACCESS_TOKEN", &e))
}

/// A store answer: what the operator must fix exits 2, a store failure 1.
fn portal_failure(error: &PortalError) -> ExitCode {
    match error {
        PortalError::Store(store) => {
            super::failure(&format_args!("the portal store failed: {store}"))
        }
        other => {
            eprintln!("error: {other}");
            ExitCode::from(super::EXIT_CONFIG)
        }
    }
}

/// Runs one portal command.
pub async fn run(command: Command) -> ExitCode {
    // Everything the arguments and environment can get wrong is reported before the store is
    // opened (or created).
    let prepared = match prepare(&command) {
        Ok(prepared) => prepared,
        Err(error) => return super::config_failure(&error),
    };
    let store = match super::open_queue().await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let portals = store.portals.as_ref();
    match (command, prepared) {
        (Command::Add(_), Prepared::Add(portal)) => match portals.add(portal).await {
            Ok(portal) => {
                println!(
                    "added portal {}: Stripe account(s) {}, rate limit {}",
                    portal.id,
                    portal.accounts.join(", "),
                    portal.rate_limit
                );
                ExitCode::SUCCESS
            }
            Err(error) => portal_failure(&error),
        },
        (Command::List, _) => match portals.list().await {
            Ok(list) => {
                print!("{}", table(&list));
                ExitCode::SUCCESS
            }
            Err(error) => portal_failure(&error),
        },
        (Command::Set(args), Prepared::Set(change)) => match portals.set(&args.id, change).await {
            Ok(portal) => {
                println!("changed portal {}", portal.id);
                print!("{}", table(std::slice::from_ref(&portal)));
                ExitCode::SUCCESS
            }
            Err(error) => portal_failure(&error),
        },
        (Command::Remove(args), _) => match portals.remove(&args.id).await {
            Ok(portal) => {
                let freed = if portal.accounts.is_empty() {
                    "it routed no Stripe account".to_owned()
                } else {
                    format!(
                        "Stripe account(s) {} are routed to no portal now",
                        portal.accounts.join(", ")
                    )
                };
                println!("removed portal {}; {freed}", portal.id);
                if args.purge {
                    purge(&store, &portal.id).await
                } else {
                    println!(
                        "its stored events, ledgers and dead letters stay in the store: `stripe2hubspot portals remove {} --purge` deletes them",
                        portal.id
                    );
                    ExitCode::SUCCESS
                }
            }
            // A portal removed earlier without --purge: what was left of it can still go.
            Err(PortalError::NotFound { .. }) if args.purge => {
                println!("no portal {} is stored", args.id);
                purge(&store, &args.id).await
            }
            Err(error) => portal_failure(&error),
        },
        // `prepare` gives each command its own kind.
        (_, _) => super::failure(&"internal error: the command and its checked arguments differ"),
    }
}

/// Deletes portal `id`'s stored data (`--purge`).
async fn purge(store: &stripe2hubspot::queue::Store, id: &str) -> ExitCode {
    match store.portals.drop_namespace(id).await {
        Ok(()) => {
            println!("purged portal {id}: its stored events, ledgers and dead letters are deleted");
            ExitCode::SUCCESS
        }
        Err(error) => super::failure(&format_args!(
            "could not purge the data of portal {id}: {error} (run the command again)"
        )),
    }
}

/// A command's arguments and environment, checked.
enum Prepared {
    Add(Portal),
    Set(PortalChange),
    Nothing,
}

fn prepare(command: &Command) -> Result<Prepared, ConfigError> {
    match command {
        Command::Add(args) => {
            validate_portal_id(&args.id).map_err(|e| portal_config_error("ID", &e))?;
            let checked = args.settings.check()?;
            let Some(accounts) = checked.accounts else {
                return Err(ConfigError {
                    variable: "--stripe-account",
                    problem: "is missing: give at least one Stripe account (acct_...) whose events go to this portal".into(),
                });
            };
            let token = token_from_env(true)?.ok_or_else(|| ConfigError {
                variable: "HUBSPOT_ACCESS_TOKEN",
                problem: format!("is not set: {}", crate::config::TOKEN_HELP),
            })?;
            Ok(Prepared::Add(Portal {
                id: args.id.clone(),
                token,
                accounts,
                rate_limit: checked
                    .rate_limit
                    .unwrap_or_else(|| hubspot_crm::RateLimit::default().to_string()),
                hubspot_base_url: checked.hubspot_base_url,
                api_version: checked.api_version,
                webhook_secrets: checked.webhook_secrets,
                mapping: checked.mapping,
                alert_url: checked.alert_url,
                paused: false,
            }))
        }
        Command::Set(args) => {
            validate_portal_id(&args.id).map_err(|e| portal_config_error("ID", &e))?;
            let checked = args.settings.check()?;
            let change = PortalChange {
                token: token_from_env(false)?,
                accounts: checked.accounts,
                rate_limit: checked.rate_limit,
                hubspot_base_url: checked.hubspot_base_url,
                api_version: checked.api_version,
                paused: None,
                webhook_secrets: checked.webhook_secrets,
                mapping: checked.mapping,
                alert_url: checked.alert_url,
            };
            if change.is_empty() {
                return Err(ConfigError {
                    variable: "portals set",
                    problem: "was given nothing to change: pass --stripe-account, --rate-limit, --hubspot-base-url, --api-version, --webhook-secret, --slack or --mapping, or set HUBSPOT_ACCESS_TOKEN to replace the token".into(),
                });
            }
            Ok(Prepared::Set(change))
        }
        Command::List | Command::Remove(_) => Ok(Prepared::Nothing),
    }
}

/// A fixed-width table of the portals (never their tokens); an empty list says so.
fn table(portals: &[Portal]) -> String {
    if portals.is_empty() {
        return "no portals\n".to_owned();
    }
    let header = ["ID", "STRIPE ACCOUNTS", "RATE LIMIT", "PAUSED"];
    let cells: Vec<[String; 4]> = portals
        .iter()
        .map(|p| {
            [
                p.id.clone(),
                if p.accounts.is_empty() {
                    "-".to_owned()
                } else {
                    p.accounts.join(",")
                },
                p.rate_limit.clone(),
                if p.paused { "yes" } else { "no" }.to_owned(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |row: [&str; 4]| {
        let mut out = String::new();
        for (cell, w) in row.iter().zip(widths) {
            out.push_str(&format!("{cell:<w$}  "));
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(header);
    for row in &cells {
        out.push_str(&line([&row[0], &row[1], &row[2], &row[3]]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(rate: Option<&str>, url: Option<&str>, version: Option<&str>) -> Settings {
        Settings {
            stripe_accounts: vec!["acct_1".into()],
            rate_limit: rate.map(Into::into),
            hubspot_base_url: url.map(Into::into),
            api_version: version.map(Into::into),
            webhook_secret: false,
            slack: false,
            mapping: None,
        }
    }

    #[test]
    fn flags_are_read_by_the_variables_parsers_and_name_the_flag() {
        let checked = settings(
            Some("100/10000ms"),
            Some("http://127.0.0.1:9"),
            Some("legacy"),
        )
        .check()
        .unwrap();
        assert_eq!(checked.rate_limit.as_deref(), Some("100/10s"));
        assert_eq!(checked.api_version.as_deref(), Some("legacy"));
        assert_eq!(
            checked.hubspot_base_url.as_deref(),
            Some("http://127.0.0.1:9")
        );
        for (bad, flag) in [
            (settings(Some("fast"), None, None), "--rate-limit"),
            (settings(Some(" "), None, None), "--rate-limit"),
            (settings(None, Some("ftp://x"), None), "--hubspot-base-url"),
            (settings(None, None, Some("v3")), "--api-version"),
        ] {
            assert_eq!(bad.check().unwrap_err().variable, flag);
        }
        let mut bad_account = settings(None, None, None);
        bad_account.stripe_accounts.push("cus_1".into());
        let error = bad_account.check().unwrap_err();
        assert_eq!(error.variable, "--stripe-account");
        assert!(error.problem.contains("cus_1"), "{error}");
    }

    #[test]
    fn the_table_shows_id_accounts_limit_and_pause_but_no_token() {
        let portal = Portal {
            id: "acme".into(),
            token: PortalToken::new("pat-secret-in-table").unwrap(),
            accounts: vec!["acct_1".into(), "acct_2".into()],
            rate_limit: "100/10s".into(),
            hubspot_base_url: None,
            api_version: None,
            webhook_secrets: None,
            mapping: None,
            alert_url: None,
            paused: true,
        };
        let out = table(&[portal]);
        assert_eq!(out.lines().count(), 2);
        assert!(out.contains("acme") && out.contains("acct_1,acct_2") && out.contains("yes"));
        assert!(!out.contains("pat-secret"));
        assert_eq!(table(&[]), "no portals\n");
    }
}
