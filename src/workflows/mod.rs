//! Workflows: what a change does, each in the caller's transaction.

pub mod webhooks;
