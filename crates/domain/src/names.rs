//! Validated names and identifiers: once you hold one, it is valid.

use std::fmt;

use uuid::Uuid;
use validator::ValidateEmail;

use crate::error::DomainError;

/// Defines a bounded human-readable name: 1..=MAX characters, no control characters, not only
/// spaces. Stored exactly as given (the OpenAPI pattern of names states the same rule).
macro_rules! bounded_name {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, Debug)]
        pub struct $name(String);

        impl $name {
            pub const MAX_CHARS: usize = $max;

            pub fn parse(text: &str) -> Result<Self, DomainError> {
                let chars = text.chars().count();
                let blank = text.chars().all(|c| c == ' ');
                if chars == 0 || chars > Self::MAX_CHARS || blank || text.chars().any(char::is_control) {
                    return Err(DomainError::InvalidName { what: $what, min: 1, max: Self::MAX_CHARS });
                }
                Ok(Self(text.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The name as a case-insensitive search matches it: see [`search_key`].
            pub fn search_key(&self) -> String {
                search_key(&self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// Text folded for a case-insensitive search: Unicode lower case (`Ä` and `ä` match; scripts
/// without case, such as Hangul, match as they are).
pub fn search_key(text: &str) -> String {
    text.to_lowercase()
}

bounded_name!(
    /// An account's display name.
    AccountName,
    "an account name",
    200
);
bounded_name!(
    /// A project's display name.
    ProjectName,
    "a project name",
    200
);
bounded_name!(
    /// A product's or a plan's display name.
    CatalogName,
    "a product or plan name",
    200
);

/// The identity of a person or a service: the `sub` of its token. 1..=255 visible ASCII
/// characters (no spaces), so it can stand in a path segment.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct UserId(String);

impl UserId {
    pub const MAX_CHARS: usize = 255;
    /// The characters a user id may hold after its first, which is a letter or a digit.
    pub const PUNCTUATION: &'static [u8] = b"._~@+:|=-";

    /// A user id, the `sub` of its tokens (docs/access.md): 1 to 255 characters, a letter or a
    /// digit first, then letters, digits and `. _ ~ @ + : | = -`. That admits e-mail
    /// addresses, UUIDs, `auth0|...` and `svc:name`, and never `/`, `%`, `.` or `..` alone,
    /// spaces or control characters: an id is one path segment that means itself.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let bytes = text.as_bytes();
        let ok = bytes.len() <= Self::MAX_CHARS
            && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || Self::PUNCTUATION.contains(b));
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(DomainError::InvalidId("user"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The address invoices and receipts are mailed to.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let trimmed = text.trim();
        if trimmed.len() <= 254 && trimmed.validate_email() {
            Ok(Self(trimmed.to_owned()))
        } else {
            Err(DomainError::InvalidEmail)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Defines a prefixed, opaque resource id: `<prefix>_<32 lowercase hex>` built from a UUID.
/// Ids made from UUIDv7 sort by creation time, which keyset pagination relies on.
macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;
            /// The id's shape, for documentation and request validation.
            pub const PATTERN: &'static str = concat!("^", $prefix, "_[0-9a-f]{32}$");

            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(format!("{}_{}", $prefix, uuid.simple()))
            }

            pub fn parse(text: &str) -> Result<Self, DomainError> {
                let hex = text
                    .strip_prefix($prefix)
                    .and_then(|rest| rest.strip_prefix('_'))
                    .filter(|hex| {
                        hex.len() == 32
                            && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                    });
                match hex {
                    Some(_) => Ok(Self(text.to_owned())),
                    None => Err(DomainError::InvalidId($what)),
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

prefixed_id!(
    /// An account (a customer of the provider, billed in one currency).
    AccountId,
    "acct",
    "account"
);
prefixed_id!(
    /// A project (a "channel" in the console of seed 000).
    ProjectId,
    "proj",
    "project"
);
prefixed_id!(
    /// A finalized invoice.
    InvoiceId,
    "inv",
    "invoice"
);
prefixed_id!(
    /// A payment of an invoice, by the balance or by the card.
    PaymentId,
    "pay",
    "payment"
);
prefixed_id!(
    /// The receipt of a payment.
    ReceiptId,
    "rcpt",
    "receipt"
);
prefixed_id!(
    /// A registered card.
    PaymentMethodId,
    "pm",
    "payment method"
);
prefixed_id!(
    /// A credit code as issued (not the code itself, which is a secret of sorts).
    CreditCodeId,
    "ccd",
    "credit code"
);
prefixed_id!(
    /// A credit an account registered.
    CreditId,
    "cred",
    "credit"
);
prefixed_id!(
    /// A promotion an operator offers under a code.
    PromotionId,
    "promo",
    "promotion"
);
prefixed_id!(
    /// A promotion an account applied.
    AppliedPromotionId,
    "apr",
    "applied promotion"
);
prefixed_id!(
    /// An entry of the prepaid balance's ledger.
    BalanceEntryId,
    "bal",
    "balance entry"
);
prefixed_id!(
    /// Something that happened, as events and webhooks tell it.
    EventId,
    "evt",
    "event"
);
prefixed_id!(
    /// Where an operator wants events sent.
    WebhookEndpointId,
    "whe",
    "webhook endpoint"
);
prefixed_id!(
    /// One event on its way to one endpoint.
    WebhookDeliveryId,
    "whd",
    "webhook delivery"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_and_kept_as_given() {
        assert_eq!(AccountName::parse(" Acme ").unwrap().as_str(), " Acme ");
        assert!(AccountName::parse("   ").is_err());
        assert!(AccountName::parse("").is_err());
        assert!(AccountName::parse("a\tb").is_err());
        assert!(AccountName::parse("a\u{0}b").is_err());
        assert!(AccountName::parse(&"x".repeat(200)).is_ok());
        assert!(AccountName::parse(&"x".repeat(201)).is_err());
        // Characters, not bytes: 200 Hangul syllables are fine.
        assert!(ProjectName::parse(&"한".repeat(200)).is_ok());
        assert_eq!(search_key("Ärger PROD 운영"), "ärger prod 운영");
    }

    #[test]
    fn ids_have_a_prefix_and_32_hex_digits() {
        let id = AccountId::from_uuid(Uuid::nil());
        assert_eq!(id.as_str(), "acct_00000000000000000000000000000000");
        assert!(AccountId::parse(id.as_str()).is_ok());
        assert!(ProjectId::parse(id.as_str()).is_err());
        assert!(AccountId::parse("acct_0000000000000000000000000000000G").is_err());
        assert!(AccountId::parse("acct_00000000000000000000000000000000A").is_err());
    }

    #[test]
    fn user_ids_and_emails_validate() {
        assert!(UserId::parse("alice@example.com").is_ok());
        assert!(UserId::parse("svc:metering").is_ok());
        assert!(UserId::parse("auth0|5f7c8ec7c33c6c004bbafe82").is_ok());
        assert!(UserId::parse("alice+billing@example.com").is_ok());
        for bad in [
            "has space",
            "a/b",
            "",
            "..",
            ".",
            "../x",
            "a%2Fb",
            "-x",
            "a\0b",
            "é",
        ] {
            assert!(UserId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(EmailAddress::parse("billing@example.com").is_ok());
        assert!(EmailAddress::parse("not-an-email").is_err());
    }
}
