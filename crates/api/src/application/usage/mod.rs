//! Usage: ingestion of events ([`ingest`]) and the customer's reads of it ([`reads`]).

pub mod ingest;
pub mod reads;
