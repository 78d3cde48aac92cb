//! The SDK against a real Vestibule server in-process, over real HTTP. One binary, one link.

mod harness;

mod passkeys;
mod sessions;
mod sign_in;
mod traffic;
mod web3;
