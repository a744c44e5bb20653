//! A balance transaction: what Stripe settled for a charge, in the account's settlement
//! currency. The type lives in `stripe-events`, where a charge's expanded
//! `balance_transaction` is read too.

pub use stripe_events::BalanceTransaction;
