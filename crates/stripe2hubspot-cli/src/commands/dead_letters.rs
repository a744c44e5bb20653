//! `stripe2hubspot dead-letters list|replay`: events that failed for good, read straight from
//! the queue `STRIPE2HUBSPOT_QUEUE` names (a running server picks replayed events up).

use std::process::ExitCode;

use stripe2hubspot::admin::{self, DeadLetterView};

/// `dead-letters [--portal ID] list|replay`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The portal whose dead letters to list or replay (default: `default`, the one
    /// HUBSPOT_ACCESS_TOKEN configures).
    #[arg(long, value_name = "ID", global = true)]
    portal: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// The dead-letter commands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print every dead letter: event id, type, payment id, attempts, last error (redacted).
    List,
    /// Make dead letters ready again, with their attempts reset, so the engine syncs them.
    Replay(ReplayArgs),
}

/// What to replay.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["all", "event_ids"])))]
pub struct ReplayArgs {
    /// Replay every dead letter.
    #[arg(long)]
    all: bool,
    /// The Stripe event ids (evt_...) to replay.
    #[arg(value_name = "EVENT_ID")]
    event_ids: Vec<String>,
}

/// Runs one dead-letter command.
pub async fn run(args: Args) -> ExitCode {
    let store = match super::open_queue().await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let store = match &args.portal {
        None => store,
        Some(id) => match super::portal_target(&store, id).await {
            Ok(target) => target.store,
            Err(code) => return code,
        },
    };
    match args.command {
        Command::List => match admin::all_dead_letters(store.admin.as_ref()).await {
            Ok(list) => {
                let views: Vec<DeadLetterView> = list.iter().map(DeadLetterView::from).collect();
                print!("{}", table(&views));
                ExitCode::SUCCESS
            }
            Err(error) => super::failure(&error),
        },
        Command::Replay(args) => {
            let ids = (!args.all).then_some(args.event_ids);
            match admin::replay(store.admin.as_ref(), ids.as_deref()).await {
                Ok(replayed) => {
                    for id in &replayed {
                        println!("replayed {id}");
                    }
                    println!(
                        "{} dead letter(s) are ready again; a running server syncs them",
                        replayed.len()
                    );
                    ExitCode::SUCCESS
                }
                Err(error) => super::failure(&error),
            }
        }
    }
}

/// A fixed-width table with a header row; an empty list says so.
fn table(rows: &[DeadLetterView]) -> String {
    if rows.is_empty() {
        return "no dead letters\n".to_owned();
    }
    let header = ["EVENT ID", "TYPE", "PAYMENT ID", "ATTEMPTS", "LAST ERROR"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                r.event_id.clone(),
                r.event_type.clone(),
                r.payment_id.clone().unwrap_or_else(|| "-".to_owned()),
                r.attempts.to_string(),
                r.last_error.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |row: [&str; 5]| {
        let mut out = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(header);
    for row in &cells {
        out.push_str(&line([&row[0], &row[1], &row[2], &row[3], &row[4]]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_aligns_columns() {
        let row = |id: &str, error: &str| DeadLetterView {
            id: 1,
            event_id: id.into(),
            event_type: "charge.succeeded".into(),
            payment_id: Some("ch_1".into()),
            attempts: 8,
            last_error: error.into(),
            failed_at: 0,
        };
        let out = table(&[row("evt_1", "boom"), row("evt_long_id", "bad")]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3);
        let col = lines[0].find("TYPE").unwrap();
        assert_eq!(lines[1].find("charge.succeeded"), Some(col));
        assert_eq!(lines[2].find("charge.succeeded"), Some(col));
        assert_eq!(table(&[]), "no dead letters\n");
    }
}
