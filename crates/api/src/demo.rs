//! Demo data for `billing serve --demo`: an operator, a catalog (API calls, disk, monitoring
//! hours) with plans in KRW and USD, two accounts with members in every role, projects with
//! participants and plans (one plan change mid-month), and usage from the start of the previous
//! month until now, so a newcomer sees real numbers in every read. Acme Korea pays with the
//! sandbox's good card, has 50,000 won prepaid, a 30,000 won welcome credit and a 10 % promotion for three months applied
//! now; Globex US's card is refused, so once last
//! month's invoice is charged (from the 5th) it shows a failed payment and an unpaid amount. Loading twice changes
//! nothing: usage events have fixed ids, so a second load only adds the hours since the first.

use std::collections::BTreeMap;

use billing_domain::accounts::access::Role;
use billing_domain::accounts::NewAccount;
use billing_domain::catalog::{
    tiers_from_widths, Aggregation, Code, FeeGroup, Plan, Price, PriceModel, Product, Quantity,
    Unit,
};
use billing_domain::money::{Currency, TaxRate, UnitPrice};
use billing_domain::names::{
    AccountId, AccountName, CatalogName, EmailAddress, ProjectId, ProjectName, UserId,
};
use billing_domain::page::PageRequest;
use billing_domain::period::{BillingOffset, BillingPeriod};
use billing_domain::DomainError;
use billing_persistence::repo;
use rust_decimal::Decimal;
use time::{Duration, OffsetDateTime};

use billing_application::accounts::{self, projects};
use billing_application::catalog;
use billing_application::idempotency::{Answer, Idempotent};
use billing_application::usage::ingest::{self, EventInput};
use billing_application::{AppError, AppState};

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
    /// The plan every project starts the previous month on.
    plan: &'static str,
    /// A project (by position) that moves to another plan on the 10th of the previous month at
    /// noon, local time.
    upgrade: Option<(usize, &'static str)>,
    /// The sandbox card token the account pays with.
    card: &'static str,
    /// What it prepaid into its balance, if anything.
    deposit: Option<&'static str>,
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
        plan: "standard-krw",
        upgrade: Some((0, "pro-krw")),
        card: "tok_sandbox_visa",
        deposit: Some("50000"),
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
        plan: "standard-usd",
        upgrade: None,
        // A card that is refused: last month's invoice stays unpaid until paid by hand.
        card: "tok_sandbox_declined",
        deposit: None,
    },
];

fn invalid(e: DomainError) -> AppError {
    AppError::Internal(format!("demo data is invalid: {e}"))
}

fn dec(text: &str) -> Result<Decimal, AppError> {
    billing_domain::money::parse_plain_decimal(text).map_err(invalid)
}

fn price(text: &str) -> Result<UnitPrice, AppError> {
    UnitPrice::parse(text).map_err(invalid)
}

fn code(text: &str) -> Result<Code, AppError> {
    Code::parse(text).map_err(invalid)
}

const GIB: &str = "1073741824";

fn products() -> Result<Vec<Product>, AppError> {
    [
        (
            "api_calls",
            "API calls",
            "call",
            Aggregation::Sum,
            FeeGroup::Api,
        ),
        ("disk", "Disk", "byte", Aggregation::Max, FeeGroup::Disk),
        (
            "monitoring",
            "Monitoring agent",
            "hour",
            Aggregation::Sum,
            FeeGroup::Other,
        ),
    ]
    .into_iter()
    .map(|(c, name, unit, aggregation, fee_group)| {
        Ok(Product {
            code: code(c)?,
            name: CatalogName::parse(name).map_err(invalid)?,
            unit: Unit::parse(unit).map_err(invalid)?,
            aggregation,
            fee_group,
        })
    })
    .collect()
}

fn plan(
    c: &str,
    name: &str,
    currency: &str,
    base_fee: &str,
    prices: Vec<(&str, PriceModel, &str)>,
) -> Result<Plan, AppError> {
    let mut priced = BTreeMap::new();
    for (product, model, free) in prices {
        let free = Quantity::parse(free).map_err(invalid)?;
        priced.insert(code(product)?, Price::new(model, free).map_err(invalid)?);
    }
    Ok(Plan {
        code: code(c)?,
        name: CatalogName::parse(name).map_err(invalid)?,
        currency: Currency::parse(currency).map_err(invalid)?,
        base_fee: price(base_fee)?,
        prices: priced,
    })
}

fn plans() -> Result<Vec<Plan>, AppError> {
    let zero = price("0")?;
    Ok(vec![
        // 10,000 calls free, then 500 KRW per started 1,000; the first 10 GiB of disk free, then
        // 0.000000002 KRW a byte (about 2.15 KRW a GiB); monitoring 30,000 KRW a month, by the hour.
        plan(
            "standard-krw",
            "Standard (KRW)",
            "KRW",
            "30000",
            vec![
                (
                    "api_calls",
                    PriceModel::Package {
                        size: dec("1000")?,
                        price: price("500")?,
                    },
                    "10000",
                ),
                (
                    "disk",
                    PriceModel::Graduated {
                        tiers: tiers_from_widths(
                            &[(dec("10737418240")?, zero, zero)],
                            (price("0.000000002")?, zero),
                        )
                        .map_err(invalid)?,
                    },
                    "0",
                ),
                (
                    "monitoring",
                    PriceModel::Hourly {
                        monthly_price: price("30000")?,
                    },
                    "0",
                ),
            ],
        )?,
        // Volume pricing of calls: the whole month at the price of the tier it reaches.
        plan(
            "pro-krw",
            "Pro (KRW)",
            "KRW",
            "90000",
            vec![
                (
                    "api_calls",
                    PriceModel::Volume {
                        tiers: tiers_from_widths(
                            &[
                                (dec("100000")?, price("0.5")?, zero),
                                (dec("900000")?, price("0.4")?, zero),
                            ],
                            (price("0.3")?, zero),
                        )
                        .map_err(invalid)?,
                    },
                    "0",
                ),
                (
                    "disk",
                    PriceModel::Package {
                        size: dec(GIB)?,
                        price: price("1.5")?,
                    },
                    "0",
                ),
                (
                    "monitoring",
                    PriceModel::Hourly {
                        monthly_price: price("25000")?,
                    },
                    "0",
                ),
            ],
        )?,
        plan(
            "standard-usd",
            "Standard (USD)",
            "USD",
            "29",
            vec![
                (
                    "api_calls",
                    PriceModel::PerUnit {
                        unit_price: price("0.0004")?,
                    },
                    "5000",
                ),
                (
                    "disk",
                    PriceModel::Package {
                        size: dec(GIB)?,
                        price: price("0.1")?,
                    },
                    "0",
                ),
                (
                    "monitoring",
                    PriceModel::Hourly {
                        monthly_price: price("15")?,
                    },
                    "0",
                ),
            ],
        )?,
    ])
}

/// The demo keeps what it made, not the answers.
fn none<T>(_: &T) -> Result<Answer, AppError> {
    Answer::none()
}

/// Publishes the demo catalog; what exists already is left as it is.
async fn load_catalog(state: &AppState) -> Result<(), AppError> {
    for product in products()? {
        match catalog::create_product(state, Idempotent::without_key(), product, none).await {
            Ok(_) | Err(AppError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    for plan in plans()? {
        match catalog::create_plan(state, Idempotent::without_key(), plan, none).await {
            Ok(_) | Err(AppError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A small deterministic spread, so the numbers look alive and are the same on every machine.
fn wobble(seed: u64, range: u64) -> u64 {
    let mixed = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    (mixed >> 33) % range.max(1)
}

/// Usage of one project from the start of the previous month until `now`: API calls every hour
/// (busier in the local daytime), the disk gauge every six hours, and a monitoring agent's
/// hours on the first project of each account.
fn usage_of(
    project: &ProjectId,
    position: usize,
    offset: BillingOffset,
    now: OffsetDateTime,
) -> Result<Vec<EventInput>, AppError> {
    let period = BillingPeriod::containing(now, offset).map_err(invalid)?;
    let start = period.previous().start();
    // Per mille of the busiest project's usage.
    let scale: u64 = [1000, 200, 50, 600, 300][position % 5];
    let mut events = Vec::new();
    let mut hour = start;
    let mut index: u64 = 0;
    while hour + Duration::HOUR <= now {
        let local_hour = u64::from(hour.to_offset(offset.utc_offset()).hour());
        let busy = if (9..19).contains(&local_hour) { 3 } else { 1 };
        let seed = index * 31 + position as u64;
        let calls = (1200 * busy + wobble(seed, 900)) * scale / 1000;
        let stamp = hour + Duration::minutes(30);
        let id = |product: &str| format!("demo-{project}-{product}-{index}");
        let event = |product: &str, quantity: String| EventInput {
            id: id(product),
            project_id: project.to_string(),
            product: product.to_owned(),
            quantity,
            timestamp: stamp,
            properties: None,
        };
        events.push(event("api_calls", calls.to_string()));
        if index.is_multiple_of(6) {
            // Grows about 40 MiB an hour from 8 GiB, times the project's scale.
            let bytes = (8 * 1_073_741_824 + index * 41_943_040) * scale / 1000;
            events.push(event("disk", bytes.to_string()));
        }
        if position == 0 {
            events.push(event("monitoring", "1".to_owned()));
        }
        hour += Duration::HOUR;
        index += 1;
    }
    Ok(events)
}

/// Loads the demo data unless it is there already; returns every demo user.
pub async fn load(state: &AppState) -> Result<Vec<DemoUser>, AppError> {
    load_catalog(state).await?;
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
        load_usage(state, &account_id).await?;
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

async fn create_account(state: &AppState, spec: &AccountSpec) -> Result<AccountId, AppError> {
    let new = NewAccount {
        name: AccountName::parse(spec.name).map_err(invalid)?,
        currency: Currency::parse(spec.currency).map_err(invalid)?,
        billing_offset: BillingOffset::parse(spec.offset).map_err(invalid)?,
        tax_rate: TaxRate::parse(spec.tax_rate).map_err(invalid)?,
        billing_email: Some(EmailAddress::parse(spec.email).map_err(invalid)?),
    };
    let account = accounts::open(state, Idempotent::without_key(), new, none)
        .await?
        .made()?;
    for (user, role) in spec.users {
        let user = UserId::parse(user).map_err(invalid)?;
        accounts::set_member(state, &account.id, user, *role).await?;
    }
    let offset = BillingOffset::parse(spec.offset).map_err(invalid)?;
    let previous = BillingPeriod::containing(state.clock.now(), offset)
        .map_err(invalid)?
        .previous();
    for (position, (name, participants)) in spec.projects.iter().enumerate() {
        let name = ProjectName::parse(name).map_err(invalid)?;
        let project = projects::create(
            state,
            Idempotent::without_key(),
            account.id.clone(),
            name,
            none,
        )
        .await?
        .made()?;
        let mut changes = vec![(spec.plan, previous.start())];
        if let Some((_, upgrade)) = spec.upgrade.filter(|(p, _)| *p == position) {
            let noon_on_the_10th = previous.start() + Duration::days(9) + Duration::hours(12);
            changes.push((upgrade, noon_on_the_10th));
        }
        for (plan, from) in changes {
            let (project, plan) = (project.id.clone(), plan.to_owned());
            catalog::assign_plan(
                state,
                Idempotent::without_key(),
                project,
                plan,
                Some(from),
                none,
            )
            .await?;
        }
        for (user, billing_permission) in *participants {
            let user = UserId::parse(user).map_err(invalid)?;
            projects::set_participant(state, &project.id, user, *billing_permission).await?;
        }
    }
    billing_application::payments::cards::register(
        state,
        &accounts::Reader::Operator,
        &account.id,
        spec.card,
    )
    .await?;
    if spec.currency == "KRW" {
        // A welcome credit, registered now: this month's preview and invoice use it.
        let codes = billing_application::credits::issue(
            state,
            billing_application::credits::NewCodes {
                name: "Welcome credit".to_owned(),
                amount: "30000".to_owned(),
                currency: spec.currency.to_owned(),
                validity: billing_domain::credits::Validity::days(90).map_err(invalid)?,
                max_registrations: 1,
                count: 1,
            },
            Idempotent::without_key(),
            none,
        )
        .await?
        .made()?;
        for code in codes {
            billing_application::credits::register(
                state,
                &accounts::Reader::Operator,
                &account.id,
                code.code.as_str(),
                Idempotent::without_key(),
                none,
            )
            .await?;
        }
    }
    if spec.currency == "KRW" {
        // A promotion, applied now that the account has a card: 10 % off for three months.
        let offer = billing_application::promotions::NewOffer {
            code: "DEMO-10".to_owned(),
            name: "Demo 10 % off".to_owned(),
            value: billing_application::promotions::NewValue::Percent("10".to_owned()),
            products: None,
            lasting: billing_domain::promotions::Lasting::months(3).map_err(invalid)?,
            last_day: None,
            redemption_limit: None,
        };
        match billing_application::promotions::create(state, offer, Idempotent::without_key(), none)
            .await
        {
            Ok(_) | Err(AppError::Conflict { .. }) => {}
            Err(other) => return Err(other),
        }
        billing_application::promotions::apply(
            state,
            &accounts::Reader::Operator,
            &account.id,
            "DEMO-10",
            Idempotent::without_key(),
            none,
        )
        .await?;
    }
    if let Some(amount) = spec.deposit {
        let deposit = billing_application::balance::NewEntry {
            kind: billing_domain::balance::EntryKind::Deposit,
            amount: amount.to_owned(),
            description: "Bank transfer (demo)".to_owned(),
        };
        billing_application::balance::add_entry(
            state,
            &account.id,
            deposit,
            Idempotent::without_key(),
            none,
        )
        .await?;
    }
    Ok(account.id)
}

/// Ingests the demo usage of every project of an account (fixed event ids: a second load counts
/// only the hours since the first).
async fn load_usage(state: &AppState, account_id: &AccountId) -> Result<(), AppError> {
    let account = repo::accounts::find(&state.db, account_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let now = state.clock.now();
    let projects = repo::accounts::projects::list(
        &state.db,
        account_id,
        &repo::accounts::projects::ProjectFilter::All,
        None,
        None,
        &PageRequest {
            limit: 100,
            after: None,
        },
    )
    .await?;
    let mut ordered: Vec<_> = projects.items.into_iter().map(|(p, _)| p).collect();
    ordered.sort_by_key(|p| p.created_at);
    for (position, project) in ordered.iter().enumerate() {
        let events = usage_of(&project.id, position, account.billing_offset, now)?;
        let mut rest = events.into_iter().peekable();
        while rest.peek().is_some() {
            let batch: Vec<EventInput> = rest
                .by_ref()
                .take(billing_domain::usage::MAX_BATCH)
                .collect();
            ingest::ingest(state, account_id, batch).await?;
        }
    }
    Ok(())
}
