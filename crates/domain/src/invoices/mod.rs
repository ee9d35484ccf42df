//! Invoices (SPEC 5): the assembly that the invoice preview and finalization share.

pub mod assembly;
pub mod groups;
