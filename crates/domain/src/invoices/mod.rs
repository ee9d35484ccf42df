//! Invoices (SPEC 5): the assembly that the invoice preview and finalization share, the
//! grouping of a preview, and which periods are due for finalization.

pub mod assembly;
pub mod finalization;
pub mod groups;
pub mod status;
