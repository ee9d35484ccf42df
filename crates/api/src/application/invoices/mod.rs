//! Invoices (SPEC 5, docs/invoices.md): the preview of a period ([`preview`]), computed with the
//! domain's one assembly from the same rated charges as the billing table.

pub mod preview;
