//! Usage reads for customers (docs/usage.md): monthly usage per project and product,
//! daily usage of one project, metering per date of one product, and the per-project billing
//! table with its summary. Every read comes from rollups (merged in the database where a read
//! needs totals), never from raw events.
//! Quantities show on every project the caller may see; costs only where it has billing
//! permission (owners and billing admins always).

use std::collections::{BTreeMap, HashMap};

use billing_domain::accounts::access::ProjectAccess;
use billing_domain::accounts::access::Role;
use billing_domain::accounts::{Account, Project};
use billing_domain::catalog::rating::Rating;
use billing_domain::catalog::{Code, FeeGroup, PlanAssignment, Product};
use billing_domain::names::{AccountId, ProjectId};
use billing_domain::page::{Page, PageRequest};
use billing_domain::period::{BillingOffset, BillingPeriod};
use billing_domain::usage::reads::{
    charged_for, summarize, total, ProjectRollups, Summary, Totals,
};
use billing_domain::usage::{day_bucket, Grain, Rollup};
use billing_persistence::repo;
use billing_persistence::repo::accounts::projects::{
    list_with_plans, ProjectFilter, ProjectQuery, ProjectWithPlans,
};
use billing_persistence::repo::usage::{RollupQuery, StoredRollup};
use time::{Date, OffsetDateTime};

use crate::accounts::projects::get_mine;
use crate::accounts::{member_reading, membership_of, role_read, Reader};
use crate::error::{out_of_range, AppError};
use crate::rating::{charge_periods_with, read_failure, Catalog, Charged};
use crate::state::AppState;

/// Projects per rollup query (an `IN` list well under both databases' parameter limits).
const PROJECT_CHUNK: usize = 500;

/// The period a read asks for: `YYYY-MM` in the account's offset, or the current one.
pub fn period_of(
    state: &AppState,
    account: &Account,
    text: Option<&str>,
) -> Result<BillingPeriod, AppError> {
    let offset = account.billing_offset;
    match text {
        Some(text) => {
            BillingPeriod::parse(text, offset).map_err(|e| AppError::parameter("period", &e))
        }
        None => BillingPeriod::containing(state.clock.now(), offset).map_err(out_of_range),
    }
}

/// Every project of the account the caller may see, with what it may see of each and its plan
/// history.
///
/// The account, the caller's role and the first page of projects with their plan histories are
/// read in one statement: the page is read as an owner would see it (every project, with the
/// caller's participation), which is what owners, billing admins and operators see. A member
/// sees only the projects it takes part in, so for a member that page is read again with that
/// filter (a member of an account with thousands of projects must not page through all of
/// them). Nothing read is answered before the role is known.
async fn visible_projects(
    state: &AppState,
    reader: &Reader,
    account: &AccountId,
) -> Result<(Account, Role, Vec<(ProjectWithPlans, ProjectAccess)>), AppError> {
    let first = PageRequest {
        limit: billing_domain::page::MAX_PAGE_SIZE,
        after: None,
    };
    let member = member_reading(reader, account)?;
    let (found, role, every_first) = repo::accounts::projects::with_projects(
        &state.db,
        account,
        member,
        &ProjectFilter::All,
        &first,
    )
    .await?
    .ok_or(AppError::NotFound)?;
    let role = role_read(role);
    let filter = reader.project_filter(role);
    let mut batch = match filter {
        ProjectFilter::All => every_first,
        ProjectFilter::ParticipatingUser(_) => {
            list_with_plans(&state.db, account, &filter, reader.user(), &first).await?
        }
    };
    let mut projects = Vec::new();
    let mut page = first;
    loop {
        for item in batch.items {
            let access = billing_domain::accounts::access::project_access(role, item.1);
            page.after = Some(item.0.id.to_string());
            if access.view {
                projects.push((item, access));
            }
        }
        if !batch.has_more {
            break;
        }
        batch = list_with_plans(&state.db, account, &filter, reader.user(), &page).await?;
    }
    Ok((found, role, projects))
}

/// Rollups of these projects in `ranges`, grouped by project and keyed by product code.
async fn rollups_by_project(
    state: &AppState,
    catalog: &mut Catalog,
    grain: Grain,
    projects: &[ProjectId],
    product_id: Option<&str>,
    ranges: &[(OffsetDateTime, OffsetDateTime)],
) -> Result<HashMap<ProjectId, BTreeMap<(Code, OffsetDateTime), Rollup>>, AppError> {
    let mut grouped: HashMap<ProjectId, BTreeMap<(Code, OffsetDateTime), Rollup>> = HashMap::new();
    for chunk in projects.chunks(PROJECT_CHUNK) {
        let rows = repo::usage::read_rollups(
            &state.db,
            &RollupQuery {
                grain,
                projects: chunk,
                product_id,
                ranges,
            },
        )
        .await?;
        catalog
            .know(state, rows.iter().map(|r| r.product_id.as_str()))
            .await?;
        for StoredRollup {
            project,
            product_id,
            bucket_start,
            rollup,
        } in rows
        {
            // Rollups of a product no longer in the catalog cannot be named; products are never
            // deleted, so this skips nothing in practice.
            if let Some(product) = catalog.by_id(&product_id) {
                grouped
                    .entry(project)
                    .or_default()
                    .insert((product.code.clone(), bucket_start), rollup);
            }
        }
    }
    Ok(grouped)
}

/// The daily rollups of these projects in a period.
async fn daily_rollups(
    state: &AppState,
    catalog: &mut Catalog,
    projects: &[ProjectId],
    period: &BillingPeriod,
) -> Result<HashMap<ProjectId, BTreeMap<(Code, OffsetDateTime), Rollup>>, AppError> {
    let month = [(period.start(), period.end())];
    rollups_by_project(state, catalog, Grain::Day, projects, None, &month).await
}

/// One project's usage of each product over a span.
pub struct ProjectUsage {
    pub project: Project,
    pub access: ProjectAccess,
    pub products: Vec<(Product, Totals)>,
}

fn named(catalog: &Catalog, totals: BTreeMap<Code, Totals>) -> Vec<(Product, Totals)> {
    totals
        .into_iter()
        .filter_map(|(code, t)| catalog.by_code(&code).map(|p| (p.clone(), t)))
        .collect()
}

/// Monthly usage per project and product, for a page of the projects the caller may see (by
/// project id) whose name contains `search` (ignoring case), if given.
pub async fn monthly(
    state: &AppState,
    reader: &Reader,
    account_id: &AccountId,
    period: Option<&str>,
    search: Option<&str>,
    page: &PageRequest,
) -> Result<(Account, BillingPeriod, Page<ProjectUsage>), AppError> {
    // A month rollup is found by its period's name, which needs no offset: the account, the
    // caller's role and the page (read as an owner would see it, like `visible_projects`) come
    // in one statement when the name is known before the account is (always, unless the
    // current period is asked for within 14 hours of a month's end). Nothing is answered
    // before the role is.
    let member = member_reading(reader, account_id)?;
    let guess = period_name_before_offset(state, period);
    let every = ProjectFilter::All;
    let query = |filter| ProjectQuery {
        account: account_id,
        filter,
        participation_of: reader.user(),
        name_contains: search,
    };
    let (account, role, early) = match &guess {
        Some(name) => {
            let owners_view = query(&every);
            let read = repo::usage::account_with_usage(&state.db, member, &owners_view, page, name);
            match read.await {
                Ok(Some((account, role, found))) => (account, role_read(role), Some(found)),
                Ok(None) => return Err(AppError::NotFound),
                // A month past the largest quantity is answered only to a caller who may see
                // the account: the usage is read again once its role is known.
                Err(e) if e.is_out_of_range() => {
                    let (account, role) = membership_of(state, reader, account_id).await?;
                    (account, role, None)
                }
                Err(e) => return Err(e.into()),
            }
        }
        None => {
            let (account, role) = membership_of(state, reader, account_id).await?;
            (account, role, None)
        }
    };
    let period = period_of(state, &account, period)?;
    let name = period.to_string();
    let filter = reader.project_filter(role);
    let found = match early {
        Some(found)
            if matches!(filter, ProjectFilter::All) && guess.as_deref() == Some(name.as_str()) =>
        {
            found
        }
        _ => repo::usage::projects_with_usage(&state.db, &query(&filter), page, &name)
            .await
            .map_err(read_failure)?,
    };
    let mut catalog = Catalog::cached(state).await?;
    let ids = found
        .items
        .iter()
        .flat_map(|p| &p.usage)
        .map(|(id, _)| id.as_str());
    catalog.know(state, ids).await?;
    let has_more = found.has_more;
    let mut usage = Vec::with_capacity(found.items.len());
    for item in found.items {
        let access = billing_domain::accounts::access::project_access(role, item.participation);
        if !access.view {
            continue;
        }
        let rollups = ProjectRollups {
            days: item
                .usage
                .into_iter()
                .filter_map(|(id, rollup)| {
                    catalog
                        .by_id(&id)
                        .map(|p| ((p.code.clone(), period.start()), rollup))
                })
                .collect(),
            ..ProjectRollups::default()
        };
        let totals = rollups
            .totals(period.start(), period.end(), period.offset(), |c| {
                catalog.aggregation(c)
            })
            .map_err(out_of_range)?;
        usage.push(ProjectUsage {
            project: item.project,
            access,
            products: named(&catalog, totals),
        });
    }
    Ok((
        account,
        period,
        Page {
            items: usage,
            has_more,
        },
    ))
}

/// The name (`YYYY-MM`) of the period a read asks for, where it does not depend on the
/// account's offset: the one given (if well-formed), or the current one when every offset is in
/// the same month.
fn period_name_before_offset(state: &AppState, text: Option<&str>) -> Option<String> {
    match text {
        Some(text) => BillingPeriod::parse(text, BillingOffset::UTC)
            .ok()
            .map(|p| p.to_string()),
        None => BillingPeriod::name_in_every_offset(state.clock.now()),
    }
}

/// One day of a project's usage.
pub struct DayUsage {
    pub date: Date,
    pub starts_at: OffsetDateTime,
    pub products: Vec<(Product, Totals)>,
}

/// Daily usage of one project: every day of the period, cut at the account's midnight.
pub async fn daily(
    state: &AppState,
    reader: &Reader,
    account_id: &AccountId,
    project_id: &ProjectId,
    period: Option<&str>,
) -> Result<(Account, BillingPeriod, Project, Vec<DayUsage>), AppError> {
    let (account, _) = membership_of(state, reader, account_id).await?;
    let (project, _) = get_mine(state, reader, account_id, project_id).await?;
    let period = period_of(state, &account, period)?;
    let mut catalog = Catalog::cached(state).await?;
    let rollups = ProjectRollups {
        days: daily_rollups(
            state,
            &mut catalog,
            std::slice::from_ref(project_id),
            &period,
        )
        .await?
        .remove(project_id)
        .unwrap_or_default(),
        ..ProjectRollups::default()
    };
    let offset = period.offset();
    let mut days = Vec::with_capacity(usize::from(period.days()));
    let mut start = period.start();
    while start < period.end() {
        let end = start + Grain::Day.length();
        let totals = rollups
            .totals(start, end, offset, |c| catalog.aggregation(c))
            .map_err(out_of_range)?;
        days.push(DayUsage {
            date: offset.date_of(start),
            starts_at: start,
            products: named(&catalog, totals),
        });
        start = end;
    }
    Ok((account, period, project, days))
}

/// One hour of a product's metering.
pub struct HourUsage {
    pub starts_at: OffsetDateTime,
    pub totals: Totals,
}

/// One date of a product's metering, with its hours.
pub struct DateMetering {
    pub date: Date,
    pub totals: Totals,
    pub hours: Vec<HourUsage>,
}

pub struct Metering {
    pub account: Account,
    pub period: BillingPeriod,
    pub project: Project,
    pub product: Product,
    /// The whole period (or the one date asked for).
    pub totals: Option<Totals>,
    pub dates: Vec<DateMetering>,
}

/// Metering information of one product of one project, per date with its hours (seed 002's
/// "Expand All"), or for one date.
pub async fn metering(
    state: &AppState,
    reader: &Reader,
    account_id: &AccountId,
    project_id: &ProjectId,
    product: &str,
    period: Option<&str>,
    date: Option<Date>,
) -> Result<Metering, AppError> {
    let (account, _) = membership_of(state, reader, account_id).await?;
    let (project, _) = get_mine(state, reader, account_id, project_id).await?;
    let offset = account.billing_offset;
    let period = match (period, date) {
        (None, Some(date)) => {
            let midnight = offset.midnight(date);
            BillingPeriod::containing(midnight, offset)
                .map_err(|e| AppError::parameter("date", &e))?
        }
        (text, _) => period_of(state, &account, text)?,
    };
    // `date` narrows the period to one of its dates; a date outside the period has no usage in
    // it (an empty answer, as any filter that matches nothing).
    let range = match date {
        None => (period.start(), period.end()),
        Some(date) => {
            let start = offset.midnight(date);
            if period.contains(start) {
                (start, start + Grain::Day.length())
            } else {
                (start, start)
            }
        }
    };
    let code = Code::parse(product).map_err(|_| AppError::NotFound)?;
    let mut catalog = Catalog::cached(state).await?;
    if catalog.by_code(&code).is_none() {
        catalog.reload(state).await?;
    }
    let Some((product_id, found)) = catalog
        .id_of(&code)
        .and_then(|id| catalog.by_id(id).map(|p| (id.clone(), p.clone())))
    else {
        return Err(AppError::NotFound);
    };
    let hours = rollups_by_project(
        state,
        &mut catalog,
        Grain::Hour,
        std::slice::from_ref(project_id),
        Some(&product_id),
        &[range],
    )
    .await?
    .remove(project_id)
    .unwrap_or_default();
    let aggregation = found.aggregation;
    let mut by_date: BTreeMap<OffsetDateTime, Vec<(OffsetDateTime, Rollup)>> = BTreeMap::new();
    for ((_, hour), rollup) in hours {
        by_date
            .entry(day_bucket(hour, offset))
            .or_default()
            .push((hour, rollup));
    }
    let mut dates = Vec::with_capacity(by_date.len());
    for (day, hours) in &by_date {
        let totals = total(aggregation, hours.iter().map(|(_, r)| r))
            .map_err(out_of_range)?
            .ok_or_else(|| AppError::Internal("a metering date without hours".into()))?;
        let mut shown = Vec::with_capacity(hours.len());
        for (start, rollup) in hours {
            if let Some(totals) = total(aggregation, [rollup]).map_err(out_of_range)? {
                shown.push(HourUsage {
                    starts_at: *start,
                    totals,
                });
            }
        }
        dates.push(DateMetering {
            date: offset.date_of(*day),
            totals,
            hours: shown,
        });
    }
    let totals = total(
        aggregation,
        by_date.values().flat_map(|h| h.iter().map(|(_, r)| r)),
    )
    .map_err(out_of_range)?;
    Ok(Metering {
        account,
        period,
        project,
        product: found,
        totals,
        dates,
    })
}

/// The account, the period asked for (default: the current one) and the projects whose costs
/// the caller may see: what the billing table and the invoice preview charge.
pub async fn billed_projects(
    state: &AppState,
    reader: &Reader,
    account_id: &AccountId,
    period: Option<&str>,
) -> Result<(Account, BillingPeriod, Billed), AppError> {
    let (account, role, projects) = visible_projects(state, reader, account_id).await?;
    let period = period_of(state, &account, period)?;
    let mut billed = Billed {
        manages_billing: role.manages_billing(),
        ..Billed::default()
    };
    for ((project, _, history), access) in projects {
        if access.view_costs {
            if !history.is_empty() {
                billed.assignments.insert(project.id.clone(), history);
            }
            billed.projects.push(project);
        }
    }
    Ok((account, period, billed))
}

/// The projects whose costs the caller may see, with their plan histories (projects never
/// assigned a plan are absent from `assignments`).
#[derive(Default)]
pub struct Billed {
    pub projects: Vec<Project>,
    pub assignments: HashMap<ProjectId, Vec<PlanAssignment>>,
    /// Whether the caller manages the account's billing (the owner, a billing admin, an
    /// operator): it sees every project's costs, and the account's balance and payments.
    pub manages_billing: bool,
}

/// One project's row of the billing table: its services, rated lines and summary.
pub struct Channel {
    pub project: Project,
    pub services: Vec<Service>,
    pub ratings: Vec<Rating>,
    pub summary: Summary,
}

/// One service (product) of a channel: its usage over the period and what it was charged.
pub struct Service {
    pub product: Product,
    pub totals: Totals,
    pub amount: billing_domain::money::Money,
}

/// The billing table of a period: a page of its channels, and the sum of the totals of all of
/// them (every page).
pub struct BillingTable {
    pub account: Account,
    pub period: BillingPeriod,
    pub channels: Page<Channel>,
    pub total: billing_domain::money::Money,
}

/// The per-project billing table (seed 000): only projects whose costs the caller may see, a
/// page of them by project id; the total covers them all.
pub async fn channels(
    state: &AppState,
    reader: &Reader,
    account_id: &AccountId,
    period: Option<&str>,
    page: &PageRequest,
) -> Result<BillingTable, AppError> {
    let (account, period, billed) = billed_projects(state, reader, account_id, period).await?;
    let mut catalog = Catalog::cached(state).await?;
    let charged = charge_periods_with(
        state,
        &state.db,
        &mut catalog,
        vec![(period, billed.projects)],
        &billed.assignments,
    )
    .await?
    .pop()
    .unwrap_or_default();

    let aggregation = |c: &Code| catalog.aggregation(c);
    let fee_group = |c: &Code| catalog.by_code(c).map_or(FeeGroup::Other, |p| p.fee_group);
    let mut channels = Vec::with_capacity(charged.len());
    for Charged {
        project,
        rollups,
        ratings,
    } in charged
    {
        let summary = summarize(account.currency, &ratings, fee_group).map_err(out_of_range)?;
        let totals = rollups
            .totals(period.start(), period.end(), period.offset(), aggregation)
            .map_err(out_of_range)?;
        let mut services = Vec::with_capacity(totals.len());
        for (product, totals) in named(&catalog, totals) {
            let amount =
                charged_for(account.currency, &ratings, &product.code).map_err(out_of_range)?;
            services.push(Service {
                product,
                totals,
                amount,
            });
        }
        channels.push(Channel {
            project,
            services,
            ratings,
            summary,
        });
    }
    let total = billing_domain::money::Money::sum(
        account.currency,
        channels.iter().map(|c| c.summary.total),
    )
    .map_err(out_of_range)?;
    Ok(BillingTable {
        account,
        period,
        channels: Page::cut(channels, page, |c| c.project.id.as_str()),
        total,
    })
}
