//! Rating: usage read back from rollups and charged by the plans in force, the one way every
//! charge is computed (the billing table, the invoice preview and finalization), so they agree
//! to the cent. [`charge_periods`] reads each project's period from the rollups the database
//! merges (its month, its plan runs, or its days and hours where a closing cuts it) and rates
//! it with the domain's `charge_project`; [`Catalog`] names the products the rollups count.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound::{Excluded, Unbounded};
use std::sync::Arc;

use billing_domain::accounts::Project;
use billing_domain::catalog::rating::Rating;
use billing_domain::catalog::{Aggregation, Code, PlanAssignment, Product};
use billing_domain::names::ProjectId;
use billing_domain::period::BillingPeriod;
use billing_domain::usage::reads::{charge_project, period_source, PeriodSource, ProjectRollups};
use billing_domain::DomainError;
use billing_persistence::repo;
use billing_persistence::repo::catalog::Products;
use billing_persistence::repo::usage::{Segment, Source};
use billing_persistence::ConnectionTrait;
use time::OffsetDateTime;

use crate::error::{out_of_range, AppError};
use crate::state::AppState;

/// The catalog's products, from the cache of the catalog (products are never changed).
pub struct Catalog(Arc<Products>);

impl Catalog {
    pub async fn cached(state: &AppState) -> Result<Self, AppError> {
        Ok(Catalog(state.catalog.products(&state.db).await?))
    }

    /// Reads the products again: an id or code was missing (added since it was cached).
    pub(crate) async fn reload(&mut self, state: &AppState) -> Result<(), AppError> {
        self.0 = state.catalog.reload_products(&state.db).await?;
        Ok(())
    }

    /// Makes sure every product id a read found is known: reloads once if one is not.
    pub(crate) async fn know<'i>(
        &mut self,
        state: &AppState,
        mut ids: impl Iterator<Item = &'i str>,
    ) -> Result<(), AppError> {
        if ids.any(|id| self.by_id(id).is_none()) {
            self.reload(state).await?;
        }
        Ok(())
    }

    pub(crate) fn by_id(&self, id: &str) -> Option<&Product> {
        self.0.by_id.get(id)
    }

    pub(crate) fn id_of(&self, code: &Code) -> Option<&String> {
        self.0.ids.get(code)
    }

    pub fn by_code(&self, code: &Code) -> Option<&Product> {
        self.id_of(code).and_then(|id| self.by_id(id))
    }

    pub(crate) fn aggregation(&self, code: &Code) -> Option<Aggregation> {
        self.by_code(code).map(|p| p.aggregation)
    }
}

/// A read the database refused: a sum past the largest quantity is the customer's data (a
/// conflict); anything else is ours.
pub(crate) fn read_failure(error: billing_persistence::PersistenceError) -> AppError {
    if error.is_out_of_range() {
        out_of_range(DomainError::QuantityOutOfRange)
    } else {
        error.into()
    }
}

/// These segments' rollups merged in the database, one per product and segment, each keyed in
/// its project's days or hours by the segment's start (see `day_runs`), a month as its days
/// (keyed by the period's start), and plan runs as spans, per set: `sets[i]` is the set segment
/// `i` belongs to (a period charged with others, see [`charge_periods`]).
///
/// `run_starts` holds the run starts of each segment of runs, from the plan history read before
/// the rollups. A plan change that lands in between cuts a run again: its rows then start runs
/// the history does not know. Each run ends where the next known start is, of the history's and
/// the rows', so such a read is what it would have been a moment later, rated on the plans it
/// read: the new runs lie within the old ones, whose usage they split.
async fn merged_by_project<C: ConnectionTrait>(
    state: &AppState,
    db: &C,
    catalog: &mut Catalog,
    segments: &[Segment<'_>],
    sets: &[usize],
    run_starts: &HashMap<usize, Vec<OffsetDateTime>>,
) -> Result<HashMap<(usize, ProjectId), ProjectRollups>, AppError> {
    let merged = repo::usage::merged_rollups(db, segments)
        .await
        .map_err(read_failure)?;
    catalog
        .know(state, merged.iter().map(|m| m.product_id.as_str()))
        .await?;
    let mut starts: HashMap<usize, BTreeSet<OffsetDateTime>> = run_starts
        .iter()
        .map(|(segment, known)| (*segment, known.iter().copied().collect()))
        .collect();
    for m in &merged {
        if let (Some(known), Some(start)) = (starts.get_mut(&m.segment), m.run_start) {
            known.insert(start);
        }
    }
    let mut by_project: HashMap<(usize, ProjectId), ProjectRollups> = HashMap::new();
    for m in merged {
        let (Some(segment), Some(set)) = (segments.get(m.segment), sets.get(m.segment)) else {
            return Err(AppError::Internal("a merged rollup of no segment".into()));
        };
        // Rollups of a product no longer in the catalog cannot be named; products are never
        // deleted, so this skips nothing in practice.
        let Some(product) = catalog.by_id(&m.product_id) else {
            continue;
        };
        let rollups = by_project
            .entry((*set, segment.project.clone()))
            .or_default();
        let code = product.code.clone();
        match segment.source {
            Source::Days | Source::Month => rollups.days.insert((code, segment.from), m.rollup),
            Source::Hours => rollups.hours.insert((code, segment.from), m.rollup),
            Source::Runs => {
                let Some(start) = m.run_start else {
                    return Err(AppError::Internal("a plan run with no start".into()));
                };
                let end = starts
                    .get(&m.segment)
                    .and_then(|known| known.range((Excluded(start), Unbounded)).next())
                    .copied()
                    .unwrap_or(segment.to);
                rollups.spans.insert((code, start, end), m.rollup)
            }
        };
    }
    Ok(by_project)
}

/// A project rated for a period: its rollups and its charges, one rating per plan it was on.
pub struct Charged {
    pub project: Project,
    pub rollups: ProjectRollups,
    pub ratings: Vec<Rating>,
}

/// Rates projects over periods the way every charge is computed (the billing table, the
/// invoice preview and finalization): each project's usage read in the database as its month
/// rollup when nothing cuts the period, as the rollups of its plan runs when plan changes do
/// (both kept by ingestion), and only where a closing cuts it as its days merged in runs that
/// no plan change or closing crosses, with the hours of the days one splits merged per range
/// (a few rows per project and product, for every project in one statement), then
/// `charge_project` per project. Several periods go at once (a billing run's page of
/// accounts, each period with its account's projects), in as many statements as one: one
/// answer per period, in the order given, each with its projects in the order given.
/// `db` is the pool for a read (no transaction: each day of a project is read from one source,
/// its daily rollup or the hours of a split day, so a batch landing between the queries is
/// counted at most once), or the transaction of a finalization, which holds the account.
pub async fn charge_periods<C: ConnectionTrait>(
    state: &AppState,
    db: &C,
    catalog: &mut Catalog,
    sets: Vec<(BillingPeriod, Vec<Project>)>,
) -> Result<Vec<Vec<Charged>>, AppError> {
    let ids: Vec<ProjectId> = sets
        .iter()
        .flat_map(|(_, projects)| projects.iter().map(|p| p.id.clone()))
        .collect();
    let assignments = repo::catalog::assignments_of(db, &ids).await?;
    charge_periods_with(state, db, catalog, sets, &assignments).await
}

/// [`charge_periods`] with the projects' plan histories already read
/// (`repo::catalog::assignments_of`), for a caller that reads them together with other data.
pub async fn charge_periods_with<C: ConnectionTrait>(
    state: &AppState,
    db: &C,
    catalog: &mut Catalog,
    sets: Vec<(BillingPeriod, Vec<Project>)>,
    assignments: &HashMap<ProjectId, Vec<PlanAssignment>>,
) -> Result<Vec<Vec<Charged>>, AppError> {
    let plan_codes: Vec<&Code> = assignments.values().flatten().map(|a| &a.plan).collect();
    let plans = state.catalog.plans(db, &plan_codes).await?;
    let names: Vec<String> = sets.iter().map(|(period, _)| period.to_string()).collect();
    let mut segments = Vec::new();
    let mut set_of = Vec::new();
    let mut run_starts_of = HashMap::new();
    for (set, (period, projects)) in sets.iter().enumerate() {
        for project in projects {
            let history = assignments.get(&project.id).map_or(&[][..], Vec::as_slice);
            // Adds a segment, answering its index.
            let mut segment = |source, (from, to)| {
                segments.push(Segment {
                    project: &project.id,
                    source,
                    from,
                    to,
                    period: &names[set],
                });
                set_of.push(set);
                segments.len() - 1
            };
            let whole = (period.start(), period.end());
            match period_source(period, history, project.closed_at) {
                PeriodSource::Month => {
                    segment(Source::Month, whole);
                }
                PeriodSource::Runs(starts) => {
                    let index = segment(Source::Runs, whole);
                    run_starts_of.insert(index, starts);
                }
                PeriodSource::Pieces { days, hours } => {
                    for range in days {
                        segment(Source::Days, range);
                    }
                    for range in hours {
                        segment(Source::Hours, range);
                    }
                }
            }
        }
    }
    let mut rollups =
        merged_by_project(state, db, catalog, &segments, &set_of, &run_starts_of).await?;
    drop(segments);

    let aggregation = |c: &Code| catalog.aggregation(c);
    let mut answers = Vec::with_capacity(sets.len());
    for (set, (period, projects)) in sets.into_iter().enumerate() {
        let mut charged = Vec::with_capacity(projects.len());
        for project in projects {
            let data = rollups
                .remove(&(set, project.id.clone()))
                .unwrap_or_default();
            let history = assignments.get(&project.id).map_or(&[][..], Vec::as_slice);
            let ratings = charge_project(
                &period,
                history,
                project.closed_at,
                &plans,
                &data,
                aggregation,
            )
            .map_err(out_of_range)?;
            charged.push(Charged {
                project,
                rollups: data,
                ratings,
            });
        }
        answers.push(charged);
    }
    Ok(answers)
}
