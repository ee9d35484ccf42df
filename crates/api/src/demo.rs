//! Demo data for `billing serve --demo`: an operator, two accounts (KRW and USD) with members in
//! every role, and projects with participants, so a newcomer has something real to call.
//! Loading twice changes nothing.

use billing_domain::access::Role;
use billing_domain::account::NewAccount;
use billing_domain::money::{Currency, TaxRate};
use billing_domain::names::{AccountId, AccountName, EmailAddress, ProjectName, UserId};
use billing_domain::period::BillingOffset;
use billing_domain::DomainError;
use billing_persistence::page::PageRequest;
use billing_persistence::repo;

use crate::core;
use crate::error::ApiError;
use crate::state::AppState;

pub const OPERATOR: &str = "operator@provider.example";

/// A demo user and the account it belongs to.
#[derive(Clone, Debug)]
pub struct DemoUser {
    pub user: String,
    pub role: Role,
    pub account: AccountId,
    pub account_name: String,
}

struct AccountSpec {
    name: &'static str,
    currency: &'static str,
    offset: &'static str,
    tax_rate: &'static str,
    email: &'static str,
    users: &'static [(&'static str, Role)],
    /// Project name and its participants with their billing permission.
    projects: &'static [(&'static str, &'static [(&'static str, bool)])],
}

const ACCOUNTS: &[AccountSpec] = &[
    AccountSpec {
        name: "Acme Korea",
        currency: "KRW",
        offset: "+09:00",
        tax_rate: "0.1",
        email: "billing@acme.example",
        users: &[
            ("alice@acme.example", Role::Owner),
            ("bob@acme.example", Role::BillingAdmin),
            ("carol@acme.example", Role::Member),
        ],
        projects: &[
            ("Production", &[("carol@acme.example", true)]),
            ("Staging", &[("carol@acme.example", false)]),
            ("Data Lake", &[]),
        ],
    },
    AccountSpec {
        name: "Globex US",
        currency: "USD",
        offset: "-05:00",
        tax_rate: "0.0825",
        email: "ap@globex.example",
        users: &[
            ("dave@globex.example", Role::Owner),
            ("erin@globex.example", Role::Member),
        ],
        projects: &[("Web", &[("erin@globex.example", false)]), ("Mobile", &[])],
    },
];

fn invalid(e: DomainError) -> ApiError {
    ApiError::Internal(format!("demo data is invalid: {e}"))
}

/// Loads the demo data unless it is there already; returns every demo user.
pub async fn load(state: &AppState) -> Result<Vec<DemoUser>, ApiError> {
    let mut users = Vec::new();
    for spec in ACCOUNTS {
        let owner = UserId::parse(spec.users[0].0).map_err(invalid)?;
        let existing = repo::accounts::list_for_user(
            &state.db,
            &owner,
            &PageRequest {
                limit: 10,
                after: None,
            },
        )
        .await?;
        let account_id = match existing
            .items
            .iter()
            .find(|(a, _)| a.name.as_str() == spec.name)
        {
            Some((account, _)) => account.id.clone(),
            None => create_account(state, spec).await?,
        };
        for (user, role) in spec.users {
            users.push(DemoUser {
                user: (*user).to_owned(),
                role: *role,
                account: account_id.clone(),
                account_name: spec.name.to_owned(),
            });
        }
    }
    Ok(users)
}

async fn create_account(state: &AppState, spec: &AccountSpec) -> Result<AccountId, ApiError> {
    let txn = billing_persistence::db::begin_write(&state.db).await?;
    let account = core::accounts::create(
        &txn,
        state.clock.as_ref(),
        NewAccount {
            name: AccountName::parse(spec.name).map_err(invalid)?,
            currency: Currency::parse(spec.currency).map_err(invalid)?,
            billing_offset: BillingOffset::parse(spec.offset).map_err(invalid)?,
            tax_rate: TaxRate::parse(spec.tax_rate).map_err(invalid)?,
            billing_email: Some(EmailAddress::parse(spec.email).map_err(invalid)?),
        },
    )
    .await?;
    txn.commit().await?;
    for (user, role) in spec.users {
        let user = UserId::parse(user).map_err(invalid)?;
        core::accounts::set_member(state, &account.id, user, *role).await?;
    }
    for (name, participants) in spec.projects {
        let name = ProjectName::parse(name).map_err(invalid)?;
        let txn = billing_persistence::db::begin_write(&state.db).await?;
        let project = core::projects::create(&txn, state.clock.as_ref(), &account.id, name).await?;
        txn.commit().await?;
        for (user, billing_permission) in *participants {
            let user = UserId::parse(user).map_err(invalid)?;
            core::projects::set_participant(state, &project.id, user, *billing_permission).await?;
        }
    }
    Ok(account.id)
}
