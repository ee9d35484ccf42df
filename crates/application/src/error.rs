//! The application layer's one error type. It knows no HTTP: the HTTP layer maps each variant
//! to a problem+json answer in one place (`crate::http::problem`).

use billing_domain::DomainError;
use billing_persistence::PersistenceError;
use serde::{Deserialize, Serialize};

/// Why a use case did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No such resource, or not one the caller may know about.
    #[error("not found")]
    NotFound,
    /// The caller is known but may not do this.
    #[error("forbidden")]
    Forbidden,
    /// A path or query parameter is invalid.
    #[error("invalid parameters")]
    InvalidParameters(Vec<FieldError>),
    /// Fields of the request are invalid.
    #[error("invalid fields")]
    Validation(Vec<FieldError>),
    /// The request is well formed but conflicts with the current state.
    #[error("conflict ({}): {detail}", kind.slug())]
    Conflict { kind: ConflictKind, detail: String },
    /// Too many failed attempts (at guessing a credit code): try again after this many seconds.
    #[error("too many attempts; retry after {retry_after_seconds} s")]
    TooManyAttempts { retry_after_seconds: u64 },
    /// A fault of ours (a database error, corrupt data): logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn conflict(kind: ConflictKind, detail: impl Into<String>) -> Self {
        AppError::Conflict {
            kind,
            detail: detail.into(),
        }
    }

    /// One field the domain refused.
    pub fn validation(field: &str, error: &DomainError) -> Self {
        AppError::Validation(vec![FieldError::domain(field, error)])
    }

    /// One parameter the domain refused.
    pub fn parameter(field: &str, error: &DomainError) -> Self {
        AppError::InvalidParameters(vec![FieldError::domain(field, error)])
    }
}

impl From<PersistenceError> for AppError {
    fn from(error: PersistenceError) -> Self {
        AppError::Internal(error.to_string())
    }
}

impl From<billing_persistence::DbErr> for AppError {
    fn from(error: billing_persistence::DbErr) -> Self {
        AppError::Internal(error.to_string())
    }
}

macro_rules! conflict_kinds {
    ($( $(#[$doc:meta])* $variant:ident => $slug:literal, $title:literal; )*) => {
        /// Every way a well-formed request can conflict with the current state. Each kind has
        /// its own stable problem `type` (`/problems/<slug>`) that clients branch on.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ConflictKind {
            $( $(#[$doc])* $variant, )*
        }

        impl ConflictKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [ConflictKind] = &[$(ConflictKind::$variant),*];

            /// The stable part of the problem `type`.
            pub fn slug(self) -> &'static str {
                match self { $(ConflictKind::$variant => $slug,)* }
            }

            /// Whether it answers 422 rather than 409: a request the server cannot take as
            /// sent (a key reused for another request, a card token the gateway does not know).
            pub fn is_unprocessable(self) -> bool {
                matches!(
                    self,
                    ConflictKind::IdempotencyKeyReused
                        | ConflictKind::UnknownCardToken
                        | ConflictKind::CreditCodeUnknown
                        | ConflictKind::PromotionCodeUnknown
                )
            }

            /// The problem's title: what the kind means, the same for every occurrence.
            pub fn title(self) -> &'static str {
                match self { $(ConflictKind::$variant => $title,)* }
            }
        }
    };
}

conflict_kinds! {
    /// A product with this code exists.
    ProductExists => "product-exists", "A product with this code exists";
    /// A plan with this code exists.
    PlanExists => "plan-exists", "A plan with this code exists";
    /// A plan prices a product the catalog does not have.
    UnknownProduct => "unknown-product", "The catalog has no such product";
    /// A project was put on a plan the catalog does not have.
    UnknownPlan => "unknown-plan", "The catalog has no such plan";
    /// A plan bills in another currency than the account.
    CurrencyMismatch => "currency-mismatch", "The plan bills in another currency than the account";
    /// The project already changes plan at that instant.
    PlanChangeExists => "plan-change-exists", "The project already changes plan at that instant";
    /// Usage sums past the largest quantity the product can hold.
    UsageOutOfRange => "usage-out-of-range", "The usage exceeds the largest supported quantity";
    /// Charges sum past the largest amount the product can hold.
    AmountOutOfRange => "amount-out-of-range", "The charges exceed the largest supported amount";
    /// A closed project cannot be reopened.
    ProjectClosed => "project-closed", "The project is closed";
    /// Only members of the project's account can take part in it.
    NotAMember => "not-a-member", "The user is not a member of the project's account";
    /// The account has usage, cut in its billing offset: the offset can no longer change.
    BillingOffsetLocked => "billing-offset-locked", "The account's billing offset can no longer change";
    /// A request with this Idempotency-Key is still running.
    IdempotencyKeyInProgress => "idempotency-key-in-progress", "A request with this Idempotency-Key is still running";
    /// The Idempotency-Key was used for a different request.
    IdempotencyKeyReused => "idempotency-key-reused", "The Idempotency-Key was used for a different request";
    /// The invoice owes nothing: it is paid.
    InvoicePaid => "invoice-paid", "The invoice owes nothing";
    /// A payment of the invoice is under way: its outcome is not known yet.
    PaymentInProgress => "payment-in-progress", "A payment of this invoice is under way";
    /// No credit code is like the one given.
    CreditCodeUnknown => "credit-code-unknown", "No such credit code";
    /// The credit code was revoked.
    CreditCodeRevoked => "credit-code-revoked", "The credit code was revoked";
    /// The credit code expired.
    CreditCodeExpired => "credit-code-expired", "The credit code has expired";
    /// The credit code was registered as many times as it allows.
    CreditCodeUsedUp => "credit-code-used-up", "The credit code is used up";
    /// The account registered the credit code already.
    CreditCodeAlreadyRegistered => "credit-code-already-registered", "The account registered this credit code already";
    /// The credit code is in another currency than the account.
    CreditCodeCurrencyMismatch => "credit-code-currency-mismatch", "The credit code is in another currency than the account";
    /// A promotion with this code exists.
    PromotionCodeExists => "promotion-code-exists", "A promotion with this code exists";
    /// No promotion has the code given.
    PromotionCodeUnknown => "promotion-code-unknown", "No such promotion code";
    /// Promotion codes apply only once a payment method is registered.
    PaymentMethodRequired => "payment-method-required", "Register a payment method first";
    /// The promotion's last day to apply has passed.
    PromotionExpired => "promotion-expired", "The promotion can no longer be applied";
    /// The promotion was applied as many times as it allows.
    PromotionLimitReached => "promotion-limit-reached", "The promotion was applied as many times as it allows";
    /// The account applied the promotion already.
    PromotionAlreadyApplied => "promotion-already-applied", "The account applied this promotion already";
    /// The promotion takes off an amount in another currency.
    PromotionCurrencyMismatch => "promotion-currency-mismatch", "The promotion is in another currency than the account";
    /// The gateway knows no such card token.
    UnknownCardToken => "unknown-card-token", "The payment gateway knows no such card token";
    /// A sender is sending the webhook delivery now.
    DeliveryInProgress => "delivery-in-progress", "A sender is sending this webhook delivery now";
}

/// One offending input field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Path of the field (`name`, `tax_rate`, `events[3].quantity`, `limit`).
    pub field: String,
    /// Stable machine-readable reason (`length`, `pattern`, `invalid`, `required`, ...).
    pub code: String,
    pub message: String,
}

impl FieldError {
    pub fn new(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }
    }

    /// A field whose value the domain refused.
    pub fn domain(field: impl Into<String>, error: &DomainError) -> Self {
        Self::new(field, "invalid", error.to_string())
    }
}

/// Collects field errors while converting a request into domain values, so one answer names
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
    pub fn finish(self) -> Result<(), AppError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(AppError::Validation(self.0))
        }
    }
}

/// A value `FieldCheck` vouched for: present whenever `finish` returned `Ok`.
pub fn checked<T>(value: Option<T>) -> Result<T, AppError> {
    value.ok_or_else(|| AppError::Internal("a checked field was missing".into()))
}

/// What a domain rule's refusal means where a sum is computed: usage or amounts summing past
/// the largest quantity or amount are the customer's data (a conflict with its own type, 409);
/// anything else (a plan missing from the catalog, amounts in two currencies) is corrupt
/// data, an internal error.
pub fn out_of_range(error: DomainError) -> AppError {
    match error {
        DomainError::QuantityOutOfRange => AppError::conflict(
            ConflictKind::UsageOutOfRange,
            "the usage exceeds the largest supported quantity",
        ),
        DomainError::AmountOutOfRange => AppError::conflict(
            ConflictKind::AmountOutOfRange,
            "the charges exceed the largest supported amount",
        ),
        other => AppError::Internal(format!("a stored sum: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_conflict_kind_has_its_own_type() {
        let mut slugs: Vec<&str> = ConflictKind::ALL.iter().map(|k| k.slug()).collect();
        let count = slugs.len();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), count, "two conflict kinds share a type");
        assert!(ConflictKind::ALL.len() >= 13);
    }

    #[test]
    fn each_read_error_keeps_its_own_kind() {
        let usage = out_of_range(DomainError::QuantityOutOfRange);
        assert!(matches!(
            usage,
            AppError::Conflict {
                kind: ConflictKind::UsageOutOfRange,
                ..
            }
        ));
        let amount = out_of_range(DomainError::AmountOutOfRange);
        assert!(matches!(
            amount,
            AppError::Conflict {
                kind: ConflictKind::AmountOutOfRange,
                ..
            }
        ));
        // A plan missing from the catalog is corrupt data: ours to fix, not a conflict.
        let corrupt = out_of_range(DomainError::UnknownPlan);
        assert!(matches!(corrupt, AppError::Internal(_)));
    }
}
