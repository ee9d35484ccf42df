//! Accounts and projects: the billed customer and its channels.

pub mod access;

use time::OffsetDateTime;

use crate::accounts::access::Role;
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
    pub fn apply(&mut self, changes: AccountChanges, now: OffsetDateTime) {
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
