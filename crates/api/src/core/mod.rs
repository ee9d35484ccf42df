//! Use cases: each one authorizes, loads through repositories, applies domain rules, stores the
//! result and commits, in one transaction when it writes. Handlers call exactly one of these.

pub mod accounts;
pub mod catalog;
pub mod idempotency;
pub mod metering;
pub mod projects;
pub mod usage;

use billing_domain::DomainError;

use crate::error::{ApiError, FieldError};

/// Collects field errors while converting a request into domain values, so one response names
/// every invalid field.
#[derive(Default)]
pub struct FieldCheck(Vec<FieldError>);

impl FieldCheck {
    pub fn check<T>(&mut self, field: &str, result: Result<T, DomainError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.0.push(FieldError::domain(field, &error));
                None
            }
        }
    }

    pub fn optional<T>(
        &mut self,
        field: &str,
        value: Option<&str>,
        parse: impl Fn(&str) -> Result<T, DomainError>,
    ) -> Option<Option<T>> {
        match value {
            None => Some(None),
            Some(text) => self.check(field, parse(text)).map(Some),
        }
    }

    /// `Err` with every collected field error, or `Ok` when there was none.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}

/// A value `FieldCheck` vouched for: present whenever `finish` returned `Ok`.
pub fn checked<T>(value: Option<T>) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::Internal("a checked field was missing".into()))
}
