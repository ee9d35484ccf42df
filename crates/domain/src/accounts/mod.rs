//! Accounts and projects: the billed customer and its channels.

pub mod access;

use time::OffsetDateTime;

use crate::accounts::access::Role;
use crate::error::DomainError;
use crate::money::{Currency, TaxRate};
use crate::names::{AccountId, AccountName, EmailAddress, ProjectId, ProjectName, UserId};
use crate::period::BillingOffset;

/// A customer of the provider. It bills in one currency, fixed at creation.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Account {
    pub id: AccountId,
    pub name: AccountName,
    pub currency: Currency,
    pub billing_offset: BillingOffset,
    pub tax_rate: TaxRate,
    pub billing_email: Option<EmailAddress>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// What an operator gives to open an account.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NewAccount {
    pub name: AccountName,
    pub currency: Currency,
    pub billing_offset: BillingOffset,
    pub tax_rate: TaxRate,
    pub billing_email: Option<EmailAddress>,
}

/// A change to an account. The currency cannot change: amounts at rest are in it.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct AccountChanges {
    pub name: Option<AccountName>,
    pub billing_offset: Option<BillingOffset>,
    pub tax_rate: Option<TaxRate>,
    /// `Some(None)` clears the billing email.
    pub billing_email: Option<Option<EmailAddress>>,
}

impl Account {
    /// Applies `changes`, all or nothing. The billing offset can no longer move once the
    /// account has usage: its rollups were cut at the old offset's midnights, and another offset
    /// would move up to a day of usage into the wrong period.
    pub fn apply(
        &mut self,
        changes: AccountChanges,
        now: OffsetDateTime,
        has_usage: bool,
    ) -> Result<(), DomainError> {
        let moves_offset = changes
            .billing_offset
            .is_some_and(|offset| offset != self.billing_offset);
        if moves_offset && has_usage {
            return Err(DomainError::BillingOffsetLocked);
        }
        if let Some(name) = changes.name {
            self.name = name;
        }
        if let Some(offset) = changes.billing_offset {
            self.billing_offset = offset;
        }
        if let Some(rate) = changes.tax_rate {
            self.tax_rate = rate;
        }
        if let Some(email) = changes.billing_email {
            self.billing_email = email;
        }
        self.updated_at = now;
        Ok(())
    }
}

/// A user's membership of an account.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Membership {
    pub account_id: AccountId,
    pub user_id: UserId,
    pub role: Role,
    pub created_at: OffsetDateTime,
}

/// A project (a channel) of an account.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Project {
    pub id: ProjectId,
    pub account_id: AccountId,
    pub name: ProjectName,
    pub created_at: OffsetDateTime,
    /// Usage and base fees stop at this instant; `None` while the project runs.
    pub closed_at: Option<OffsetDateTime>,
}

/// A user taking part in a project.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Participant {
    pub project_id: ProjectId,
    pub user_id: UserId,
    pub billing_permission: bool,
    pub created_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use time::macros::datetime;

    fn account(offset: &str) -> Account {
        let at = datetime!(2026-11-01 00:00 UTC);
        Account {
            id: AccountId::parse("acct_0193a4f06c1e7c529a433f6a3a1b2c4d").unwrap(),
            name: AccountName::parse("Acme").unwrap(),
            currency: Currency::parse("KRW").unwrap(),
            billing_offset: BillingOffset::parse(offset).unwrap(),
            tax_rate: TaxRate::ZERO,
            billing_email: None,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn the_offset_moves_only_while_the_account_has_no_usage() {
        let now = datetime!(2026-11-24 00:00 UTC);
        let to_utc = || AccountChanges {
            billing_offset: Some(BillingOffset::parse("+00:00").unwrap()),
            name: Some(AccountName::parse("Renamed").unwrap()),
            ..AccountChanges::default()
        };
        let mut fresh = account("+09:00");
        fresh.apply(to_utc(), now, false).unwrap();
        assert_eq!(fresh.billing_offset.to_string(), "+00:00");

        // With usage: refused, and nothing of the change applied.
        let mut used = account("+09:00");
        let before = used.clone();
        assert_eq!(
            used.apply(to_utc(), now, true),
            Err(DomainError::BillingOffsetLocked)
        );
        assert_eq!(used, before);

        // The same offset, and any other change, still go through.
        let same = AccountChanges {
            billing_offset: Some(BillingOffset::parse("+09:00").unwrap()),
            tax_rate: Some(TaxRate::parse("0.1").unwrap()),
            ..AccountChanges::default()
        };
        used.apply(same, now, true).unwrap();
        assert_eq!(used.tax_rate.to_string(), "0.1");
    }
}
