//! HTTP integration tests: a real server in-process, real HTTP, on SQLite and (when configured)
//! PostgreSQL. One binary, one link.

mod harness;

mod account;
mod bapi;
mod client_identity;
mod codes;
mod errors;
mod multi_node;
mod one_tap;
mod passkeys;
mod previous_release;
mod protection;
mod reverification;
mod second_factors;
mod sessions;
mod sign_in;
mod tickets;
mod web3;
