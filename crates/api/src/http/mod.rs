//! The HTTP layer: actix-web handlers, one module per bounded context (named like its routes,
//! OpenAPI tag, application module and test file), with their wire types beside them; auth,
//! extractors, problem+json errors and the OpenAPI document. Handlers are thin: extract, call one
//! use case of [`billing_application`], render its answer.
//!
//! Registering a handler through utoipa-actix-web also documents it, so the routes and the
//! OpenAPI document cannot drift apart.

pub mod accounts;
pub mod answer;
pub mod auth;
pub mod balance;
pub mod card_guard;
pub mod catalog;
pub mod credits;
pub mod events;
pub mod extract;
pub mod health;
pub mod invoices;
pub mod middleware;
pub mod openapi;
pub mod payments;
pub mod problem;
pub mod promotions;
pub mod usage;
pub mod webhooks;
pub mod wire;

use actix_web::dev::ResourceDef;
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::http::problem::ApiError;

/// Every route of the API.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(
            utoipa_actix_web::scope("/v1")
                .configure(accounts::configure_admin)
                .configure(invoices::configure_admin)
                .configure(balance::configure_admin)
                .configure(credits::configure_admin)
                .configure(promotions::configure_admin)
                .configure(events::configure_admin)
                .configure(webhooks::configure_admin)
                .configure(catalog::configure)
                .configure(usage::configure)
                .configure(invoices::configure)
                .configure(payments::configure)
                .configure(balance::configure)
                .configure(credits::configure)
                .configure(promotions::configure)
                .configure(events::configure)
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
