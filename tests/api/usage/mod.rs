//! Usage: ingestion of events (`ingest`) and the reads of it (`reads`), as in the application
//! and HTTP layers.

mod ingest;
mod reads;
mod runs;
