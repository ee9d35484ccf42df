//! Products, plans with their prices, and which plan each project is on from when.

use std::collections::{BTreeMap, HashMap};

use billing_domain::catalog::{
    Code, Plan, PlanAssignment, Price, PriceModel, Product, Quantity, Tier, Unit,
};
use billing_domain::money::{Currency, UnitPrice};
use billing_domain::names::CatalogName;
use billing_domain::names::ProjectId;
use billing_domain::DomainError;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::utc;
use crate::entities::{plan_prices, plans, products, project_plans};
use crate::error::{unique_or_db, PersistenceError};
use billing_domain::catalog::PlanRecord;
use billing_domain::catalog::ProductRecord;
use billing_domain::page::{Page, PageRequest};

fn product_to_domain(row: products::Model) -> Result<ProductRecord, PersistenceError> {
    let bad = PersistenceError::corrupt("products", &row.code);
    Ok(ProductRecord {
        product: Product {
            code: Code::parse(&row.code).map_err(&bad)?,
            name: CatalogName::parse(&row.name).map_err(&bad)?,
            unit: Unit::parse(&row.unit).map_err(&bad)?,
            aggregation: row.aggregation.parse().map_err(&bad)?,
            fee_group: row.fee_group.parse().map_err(&bad)?,
        },
        created_at: row.created_at,
    })
}

/// Stores a product; [`PersistenceError::AlreadyExists`] when its code is taken.
pub async fn insert_product<C: ConnectionTrait>(
    db: &C,
    product: &Product,
    now: OffsetDateTime,
) -> Result<ProductRecord, PersistenceError> {
    let row = products::ActiveModel {
        id: Set(format!("prod_{}", Uuid::now_v7().simple())),
        code: Set(product.code.to_string()),
        name: Set(product.name.to_string()),
        unit: Set(product.unit.to_string()),
        aggregation: Set(product.aggregation.as_str().to_owned()),
        fee_group: Set(product.fee_group.as_str().to_owned()),
        created_at: Set(utc(now)),
    };
    products::Entity::insert(row)
        .exec_without_returning(db)
        .await
        .map_err(unique_or_db)?;
    Ok(ProductRecord {
        product: product.clone(),
        created_at: utc(now),
    })
}

pub async fn find_product<C: ConnectionTrait>(
    db: &C,
    code: &Code,
) -> Result<Option<ProductRecord>, PersistenceError> {
    products::Entity::find()
        .filter(products::Column::Code.eq(code.as_str()))
        .one(db)
        .await?
        .map(product_to_domain)
        .transpose()
}

/// A product with its storage id, as usage rows refer to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductRef {
    pub id: String,
    pub product: Product,
}

/// The catalog's products by storage id, and each code's storage id.
#[derive(Default, Debug)]
pub struct Products {
    pub by_id: HashMap<String, Product>,
    pub ids: HashMap<Code, String>,
}

/// The catalog kept in memory, for ingestion and reads. Products and plans are only ever added,
/// never changed or removed, so a cached entry stays true in every process; an id or code not
/// cached yet (added since, maybe by another process) reloads.
#[derive(Default)]
pub struct CatalogCache {
    products: std::sync::RwLock<Option<std::sync::Arc<Products>>>,
    plans: std::sync::RwLock<HashMap<Code, Plan>>,
}

impl CatalogCache {
    /// Every product, loaded on first use.
    pub async fn products<C: ConnectionTrait>(
        &self,
        db: &C,
    ) -> Result<std::sync::Arc<Products>, PersistenceError> {
        let cached = self
            .products
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match cached {
            Some(products) => Ok(products),
            None => self.reload_products(db).await,
        }
    }

    /// Every product, read again (an id or code was missing).
    pub async fn reload_products<C: ConnectionTrait>(
        &self,
        db: &C,
    ) -> Result<std::sync::Arc<Products>, PersistenceError> {
        let by_id = products_by_id(db).await?;
        let ids = by_id
            .iter()
            .map(|(id, p)| (p.code.clone(), id.clone()))
            .collect();
        let products = std::sync::Arc::new(Products { by_id, ids });
        *self.products.write().unwrap_or_else(|e| e.into_inner()) = Some(products.clone());
        Ok(products)
    }

    /// The products with these codes that the catalog has, with their storage ids: what
    /// ingestion resolves a batch's products with. A code not cached reloads the products
    /// once, so a product created since, by any process, is found.
    pub async fn by_codes<C: ConnectionTrait>(
        &self,
        db: &C,
        codes: &[&Code],
    ) -> Result<HashMap<Code, ProductRef>, PersistenceError> {
        let mut products = self.products(db).await?;
        if codes.iter().any(|code| !products.ids.contains_key(*code)) {
            products = self.reload_products(db).await?;
        }
        Ok(codes
            .iter()
            .filter_map(|code| {
                let id = products.ids.get(*code)?;
                let product = products.by_id.get(id)?;
                Some((
                    (*code).clone(),
                    ProductRef {
                        id: id.clone(),
                        product: product.clone(),
                    },
                ))
            })
            .collect())
    }

    /// The plans with these codes (those the catalog has).
    pub async fn plans<C: ConnectionTrait>(
        &self,
        db: &C,
        codes: &[&Code],
    ) -> Result<HashMap<Code, Plan>, PersistenceError> {
        let mut found = HashMap::with_capacity(codes.len());
        let mut missing = Vec::new();
        {
            let cached = self.plans.read().unwrap_or_else(|e| e.into_inner());
            for code in codes {
                match cached.get(*code) {
                    Some(plan) => {
                        found.insert((*code).clone(), plan.clone());
                    }
                    None => missing.push(*code),
                }
            }
        }
        if !missing.is_empty() {
            let loaded = plans_by_code(db, &missing).await?;
            let mut cached = self.plans.write().unwrap_or_else(|e| e.into_inner());
            for (code, plan) in loaded {
                cached.insert(code.clone(), plan.clone());
                found.insert(code, plan);
            }
        }
        Ok(found)
    }
}

/// Every product by its storage id (the catalog is small; usage reads resolve rollups with it).
pub async fn products_by_id<C: ConnectionTrait>(
    db: &C,
) -> Result<HashMap<String, Product>, PersistenceError> {
    products::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|row| {
            let id = row.id.clone();
            Ok((id, product_to_domain(row)?.product))
        })
        .collect()
}

/// Products by code, for operators.
pub async fn list_products<C: ConnectionTrait>(
    db: &C,
    page: &PageRequest,
) -> Result<Page<ProductRecord>, PersistenceError> {
    let mut query = products::Entity::find().order_by_asc(products::Column::Code);
    if let Some(after) = &page.after {
        query = query.filter(products::Column::Code.gt(after.as_str()));
    }
    let rows = query.limit(page.limit + 1).all(db).await?;
    Page::from_overfetch(rows, page.limit).try_map(product_to_domain)
}

/// Tiers at rest: exact decimal strings.
#[derive(Serialize, Deserialize)]
struct StoredTier {
    up_to: Option<String>,
    unit_price: String,
    flat_fee: String,
}

fn price_to_row(
    plan_id: &str,
    product_id: &str,
    price: &Price,
) -> Result<plan_prices::ActiveModel, PersistenceError> {
    let (unit_price, package_size, tiers) = match &price.model {
        PriceModel::PerUnit { unit_price } => (Some(unit_price.to_string()), None, None),
        PriceModel::Package { size, price } => (
            Some(price.to_string()),
            Some(size.normalize().to_string()),
            None,
        ),
        PriceModel::Hourly { monthly_price } => (Some(monthly_price.to_string()), None, None),
        PriceModel::Graduated { tiers } | PriceModel::Volume { tiers } => {
            let stored: Vec<StoredTier> = tiers
                .iter()
                .map(|t| StoredTier {
                    up_to: t.up_to.map(|u| u.normalize().to_string()),
                    unit_price: t.unit_price.to_string(),
                    flat_fee: t.flat_fee.to_string(),
                })
                .collect();
            let json = serde_json::to_string(&stored)
                .map_err(|e| PersistenceError::Db(sea_orm::DbErr::Custom(e.to_string())))?;
            (None, None, Some(json))
        }
    };
    Ok(plan_prices::ActiveModel {
        plan_id: Set(plan_id.to_owned()),
        product_id: Set(product_id.to_owned()),
        model: Set(price.model.name().to_owned()),
        unit_price: Set(unit_price),
        package_size: Set(package_size),
        free_quantity: Set(price.free_quantity.to_string()),
        tiers: Set(tiers),
    })
}

fn price_to_domain(row: &plan_prices::Model) -> Result<Price, DomainError> {
    let missing = || DomainError::InvalidPrice(format!("stored {} price is incomplete", row.model));
    let unit_price = || -> Result<UnitPrice, DomainError> {
        UnitPrice::parse(row.unit_price.as_deref().ok_or_else(missing)?)
    };
    let tiers = || -> Result<Vec<Tier>, DomainError> {
        let stored: Vec<StoredTier> =
            serde_json::from_str(row.tiers.as_deref().ok_or_else(missing)?)
                .map_err(|e| DomainError::InvalidPrice(e.to_string()))?;
        stored
            .into_iter()
            .map(|t| {
                Ok(Tier {
                    up_to: t
                        .up_to
                        .as_deref()
                        .map(billing_domain::money::parse_plain_decimal)
                        .transpose()?,
                    unit_price: UnitPrice::parse(&t.unit_price)?,
                    flat_fee: UnitPrice::parse(&t.flat_fee)?,
                })
            })
            .collect()
    };
    let model = match row.model.as_str() {
        "per_unit" => PriceModel::PerUnit {
            unit_price: unit_price()?,
        },
        "package" => PriceModel::Package {
            size: billing_domain::money::parse_plain_decimal(
                row.package_size.as_deref().ok_or_else(missing)?,
            )?,
            price: unit_price()?,
        },
        "hourly" => PriceModel::Hourly {
            monthly_price: unit_price()?,
        },
        "graduated" => PriceModel::Graduated { tiers: tiers()? },
        "volume" => PriceModel::Volume { tiers: tiers()? },
        other => return Err(DomainError::InvalidPrice(format!("unknown model {other}"))),
    };
    Price::new(model, Quantity::parse(&row.free_quantity)?)
}

/// Stores a plan with its prices; every priced product must exist (`Err(Ok(code))` names the
/// first that does not), and the code must be free ([`PersistenceError::AlreadyExists`]).
pub async fn insert_plan<C: ConnectionTrait>(
    db: &C,
    plan: &Plan,
    now: OffsetDateTime,
) -> Result<Result<PlanRecord, Code>, PersistenceError> {
    let codes: Vec<String> = plan.prices.keys().map(ToString::to_string).collect();
    let product_ids: HashMap<String, String> = products::Entity::find()
        .filter(products::Column::Code.is_in(codes))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.code, p.id))
        .collect();
    if let Some(missing) = plan
        .prices
        .keys()
        .find(|c| !product_ids.contains_key(c.as_str()))
    {
        return Ok(Err(missing.clone()));
    }
    let plan_id = format!("plan_{}", Uuid::now_v7().simple());
    plans::Entity::insert(plans::ActiveModel {
        id: Set(plan_id.clone()),
        code: Set(plan.code.to_string()),
        name: Set(plan.name.to_string()),
        currency: Set(plan.currency.code().to_owned()),
        base_fee: Set(plan.base_fee.to_string()),
        locked_at: Set(None),
        created_at: Set(utc(now)),
    })
    .exec_without_returning(db)
    .await
    .map_err(unique_or_db)?;
    let mut rows = Vec::with_capacity(plan.prices.len());
    for (code, price) in &plan.prices {
        let product_id = product_ids
            .get(code.as_str())
            .map(String::as_str)
            .unwrap_or_default();
        rows.push(price_to_row(&plan_id, product_id, price)?);
    }
    if !rows.is_empty() {
        plan_prices::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    Ok(Ok(PlanRecord {
        plan: plan.clone(),
        created_at: utc(now),
        locked_at: None,
    }))
}

async fn load_plans<C: ConnectionTrait>(
    db: &C,
    rows: Vec<plans::Model>,
) -> Result<Vec<(String, PlanRecord)>, PersistenceError> {
    let plan_ids: Vec<String> = rows.iter().map(|p| p.id.clone()).collect();
    let prices = plan_prices::Entity::find()
        .filter(plan_prices::Column::PlanId.is_in(plan_ids))
        .all(db)
        .await?;
    let product_ids: Vec<String> = prices.iter().map(|p| p.product_id.clone()).collect();
    let product_codes: HashMap<String, String> = products::Entity::find()
        .filter(products::Column::Id.is_in(product_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p.code))
        .collect();
    let mut by_plan: HashMap<String, BTreeMap<Code, Price>> = HashMap::new();
    for row in &prices {
        let bad = PersistenceError::corrupt("plan_prices", &row.plan_id);
        let code = product_codes
            .get(&row.product_id)
            .ok_or_else(|| bad(DomainError::InvalidId("product")))?;
        let code = Code::parse(code).map_err(&bad)?;
        by_plan
            .entry(row.plan_id.clone())
            .or_default()
            .insert(code, price_to_domain(row).map_err(&bad)?);
    }
    rows.into_iter()
        .map(|row| {
            let bad = PersistenceError::corrupt("plans", &row.code);
            let plan = Plan {
                code: Code::parse(&row.code).map_err(&bad)?,
                name: CatalogName::parse(&row.name).map_err(&bad)?,
                currency: Currency::parse(&row.currency).map_err(&bad)?,
                base_fee: UnitPrice::parse(&row.base_fee).map_err(&bad)?,
                prices: by_plan.remove(&row.id).unwrap_or_default(),
            };
            Ok((
                row.id,
                PlanRecord {
                    plan,
                    created_at: row.created_at,
                    locked_at: row.locked_at,
                },
            ))
        })
        .collect()
}

/// A plan by code, with its internal id.
pub async fn find_plan<C: ConnectionTrait>(
    db: &C,
    code: &Code,
) -> Result<Option<(String, PlanRecord)>, PersistenceError> {
    let rows = plans::Entity::find()
        .filter(plans::Column::Code.eq(code.as_str()))
        .all(db)
        .await?;
    Ok(load_plans(db, rows).await?.into_iter().next())
}

/// The plans with these codes (unknown codes are absent).
pub async fn plans_by_code<C: ConnectionTrait>(
    db: &C,
    codes: &[&Code],
) -> Result<HashMap<Code, Plan>, PersistenceError> {
    let wanted: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
    let rows = plans::Entity::find()
        .filter(plans::Column::Code.is_in(wanted))
        .all(db)
        .await?;
    Ok(load_plans(db, rows)
        .await?
        .into_iter()
        .map(|(_, record)| (record.plan.code.clone(), record.plan))
        .collect())
}

pub async fn list_plans<C: ConnectionTrait>(
    db: &C,
    page: &PageRequest,
) -> Result<Page<PlanRecord>, PersistenceError> {
    let mut query = plans::Entity::find().order_by_asc(plans::Column::Code);
    if let Some(after) = &page.after {
        query = query.filter(plans::Column::Code.gt(after.as_str()));
    }
    let rows = query.limit(page.limit + 1).all(db).await?;
    let page_rows = Page::from_overfetch(rows, page.limit);
    let loaded = load_plans(db, page_rows.items).await?;
    Ok(Page {
        items: loaded.into_iter().map(|(_, record)| record).collect(),
        has_more: page_rows.has_more,
    })
}

/// Puts a project on a plan from an instant; [`PersistenceError::AlreadyExists`] when another
/// assignment starts at the same instant.
pub async fn assign_plan<C: ConnectionTrait>(
    db: &C,
    assignment: &PlanAssignment,
    plan_id: &str,
    now: OffsetDateTime,
) -> Result<(), PersistenceError> {
    project_plans::Entity::insert(project_plans::ActiveModel {
        id: Set(format!("pp_{}", Uuid::now_v7().simple())),
        project_id: Set(assignment.project.to_string()),
        plan_id: Set(plan_id.to_owned()),
        effective_from: Set(utc(assignment.effective_from)),
        created_at: Set(utc(now)),
    })
    .exec_without_returning(db)
    .await
    .map_err(unique_or_db)?;
    Ok(())
}

/// A project's plan history, oldest first.
pub async fn assignments<C: ConnectionTrait>(
    db: &C,
    project: &ProjectId,
) -> Result<Vec<PlanAssignment>, PersistenceError> {
    Ok(assignments_of(db, std::slice::from_ref(project))
        .await?
        .remove(project)
        .unwrap_or_default())
}

/// The plan histories of these projects, each oldest first (projects never assigned are absent).
pub async fn assignments_of<C: ConnectionTrait>(
    db: &C,
    projects: &[ProjectId],
) -> Result<HashMap<ProjectId, Vec<PlanAssignment>>, PersistenceError> {
    use sea_orm::sea_query::{Expr, Query};
    if projects.is_empty() {
        return Ok(HashMap::new());
    }
    // Each change with its plan's code, in one query.
    let select = Query::select()
        .column((project_plans::Entity, project_plans::Column::Id))
        .column((project_plans::Entity, project_plans::Column::ProjectId))
        .column((project_plans::Entity, project_plans::Column::EffectiveFrom))
        .column((plans::Entity, plans::Column::Code))
        .from(project_plans::Entity)
        .inner_join(
            plans::Entity,
            Expr::col((plans::Entity, plans::Column::Id))
                .equals((project_plans::Entity, project_plans::Column::PlanId)),
        )
        .and_where(
            Expr::col((project_plans::Entity, project_plans::Column::ProjectId))
                .is_in(projects.iter().map(|p| p.as_str())),
        )
        .to_owned();
    let rows = db
        .query_all(db.get_database_backend().build(&select))
        .await?;
    let mut found: HashMap<ProjectId, Vec<PlanAssignment>> = HashMap::new();
    for row in &rows {
        let id: String = row.try_get("", "id")?;
        let project: String = row.try_get("", "project_id")?;
        let project =
            ProjectId::parse(&project).map_err(PersistenceError::corrupt("project_plans", &id))?;
        let assignment = assignment_of_row(row, project.clone(), &id, "code", "effective_from")?;
        found.entry(project).or_default().push(assignment);
    }
    for history in found.values_mut() {
        in_time_order(history);
    }
    Ok(found)
}

/// A plan change of `project` from a row holding its plan's code and its instant (under the
/// column names a statement gave them); `id` names the row when it is corrupt.
pub(crate) fn assignment_of_row(
    row: &sea_orm::QueryResult,
    project: ProjectId,
    id: &str,
    code_column: &str,
    from_column: &str,
) -> Result<PlanAssignment, PersistenceError> {
    let code: String = row.try_get("", code_column)?;
    Ok(PlanAssignment {
        project,
        plan: Code::parse(&code).map_err(PersistenceError::corrupt("project_plans", id))?,
        effective_from: row.try_get("", from_column)?,
    })
}

/// A plan history oldest first. SQLite orders instants as text, where `...00.5Z` sorts before
/// `...00Z`, so the order is by instant, never by the statement's.
pub(crate) fn in_time_order(history: &mut [PlanAssignment]) {
    history.sort_by_key(|a| a.effective_from);
}
