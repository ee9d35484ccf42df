//! Routes. Registering a handler through utoipa-actix-web also documents it, so the routes and
//! the OpenAPI document cannot drift apart.

pub mod accounts;
pub mod admin;
pub mod catalog;
pub mod health;
pub mod metering;
pub mod usage;

use actix_web::dev::ResourceDef;
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use billing_domain::names::{AccountId, ProjectId, UserId};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::ApiError;

/// Every route of the API.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(
            utoipa_actix_web::scope("/v1")
                .configure(admin::configure)
                .configure(catalog::configure)
                .configure(usage::configure)
                .configure(metering::configure)
                .configure(accounts::configure),
        );
}

/// Which methods each documented path answers, to tell 405 from 404.
pub struct RouteTable(Vec<(ResourceDef, Vec<Method>)>);

impl RouteTable {
    pub fn from_openapi(doc: &utoipa::openapi::OpenApi) -> Self {
        let routes = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods = [
                    (item.get.is_some(), Method::GET),
                    (item.put.is_some(), Method::PUT),
                    (item.post.is_some(), Method::POST),
                    (item.delete.is_some(), Method::DELETE),
                    (item.patch.is_some(), Method::PATCH),
                ]
                .into_iter()
                .filter_map(|(present, method)| present.then_some(method))
                .collect();
                (ResourceDef::new(path.as_str()), methods)
            })
            .collect();
        RouteTable(routes)
    }

    fn allowed(&self, path: &str) -> Vec<Method> {
        self.0
            .iter()
            .filter(|(def, _)| def.is_match(path))
            .flat_map(|(_, methods)| methods.iter().cloned())
            .collect()
    }
}

/// Answers what no route matched: 405 with `Allow` when the path exists, else 404.
pub async fn fallback(
    req: HttpRequest,
    table: web::Data<RouteTable>,
) -> Result<HttpResponse, ApiError> {
    let allowed = table.allowed(req.path());
    Err(if allowed.is_empty() {
        ApiError::NotFound
    } else {
        ApiError::MethodNotAllowed(allowed)
    })
}

/// A malformed id names nothing that exists: 404, like an unknown one.
pub fn account_id(text: &str) -> Result<AccountId, ApiError> {
    AccountId::parse(text).map_err(|_| ApiError::NotFound)
}

pub fn project_id(text: &str) -> Result<ProjectId, ApiError> {
    ProjectId::parse(text).map_err(|_| ApiError::NotFound)
}

pub fn user_id(text: &str) -> Result<UserId, ApiError> {
    UserId::parse(text).map_err(|_| ApiError::NotFound)
}
