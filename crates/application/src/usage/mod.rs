//! Usage: ingestion of events ([`ingest`]), the customer's reads of it ([`reads`]) and the
//! rollups of plan runs a plan change cuts again ([`runs`]).

pub mod ingest;
pub mod reads;
pub mod runs;
