//! The cluster: what makes a node an edge of an origin. An edge follows the origin's lineup
//! ([`follow`]) and runs each channel with the one source `origin://{id}`, so the hub relays the
//! origin's segments (`hub::relay`, `ingest::origin`); everything else — live serving, the
//! archive, catch-up, the player — is the same code as on an origin.

pub mod backfill;
pub mod dns;
pub mod dns_server;
pub mod follow;
pub mod nodes;
pub mod report;
