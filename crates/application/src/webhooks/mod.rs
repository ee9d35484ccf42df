//! Webhook endpoints (issue 22, docs/webhooks.md): operators register where events go, for
//! every account or for one, and read what was sent. [`send`] delivers them.

pub mod send;

use billing_domain::events::EventType;
use billing_domain::names::{AccountId, WebhookDeliveryId, WebhookEndpointId};
use billing_domain::page::{Page, PageRequest};
use billing_domain::webhooks::{
    check_target, Attempt, Delivery, Endpoint, Secret, TargetRefusal, ROTATION_GRACE, SECRET_BYTES,
};
use billing_persistence::repo;

use crate::error::{AppError, FieldError};
use crate::idempotency::{self, Answer, Done, Idempotent};
use crate::state::AppState;

/// Longest description.
pub const MAX_DESCRIPTION: usize = 500;

/// Longest URL.
pub const MAX_URL: usize = 2048;

/// A new endpoint, as the operator asked for it.
pub struct NewEndpoint {
    pub url: String,
    pub description: Option<String>,
    pub event_types: Vec<String>,
    pub account_id: Option<String>,
    pub enabled: Option<bool>,
}

/// What a change of an endpoint sets (what it leaves out stays).
#[derive(Default)]
pub struct EndpointChange {
    pub url: Option<String>,
    pub description: Option<Option<String>>,
    pub event_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

/// A new secret of random bytes from the operating system.
fn new_secret() -> Result<Secret, AppError> {
    let mut key = [0u8; SECRET_BYTES];
    getrandom::fill(&mut key)
        .map_err(|e| AppError::Internal(format!("no randomness for a secret: {e}")))?;
    Ok(Secret::from_key(&key))
}

fn check_url(state: &AppState, url: &str, errors: &mut Vec<FieldError>) {
    if url.chars().count() > MAX_URL {
        errors.push(FieldError::new(
            "url",
            "length",
            format!("at most {MAX_URL} characters"),
        ));
        return;
    }
    match check_target(url, state.webhooks.allow_private_targets) {
        Ok(_) => {}
        Err(TargetRefusal::Scheme) => errors.push(FieldError::new(
            "url",
            "scheme",
            if state.webhooks.allow_private_targets {
                "must be an http or https URL"
            } else {
                "must be an https URL"
            },
        )),
        Err(TargetRefusal::Shape) => errors.push(FieldError::new(
            "url",
            "invalid",
            "must be an absolute URL with a host and no user name or password",
        )),
        Err(TargetRefusal::Private) => errors.push(FieldError::new(
            "url",
            "private_target",
            "must not name a loopback, link-local or private-network host",
        )),
    }
}

fn check_description(description: &Option<String>, errors: &mut Vec<FieldError>) {
    if let Some(d) = description {
        if d.chars().count() > MAX_DESCRIPTION || d.chars().any(char::is_control) {
            errors.push(FieldError::new(
                "description",
                "length",
                format!("at most {MAX_DESCRIPTION} characters, no control characters"),
            ));
        }
    }
}

fn event_types(names: &[String], errors: &mut Vec<FieldError>) -> Vec<EventType> {
    if names.is_empty() {
        errors.push(FieldError::new(
            "event_types",
            "required",
            "name at least one event type",
        ));
    }
    let mut types = Vec::new();
    for (i, name) in names.iter().enumerate() {
        match EventType::parse(name) {
            Ok(t) if !types.contains(&t) => types.push(t),
            Ok(_) => {}
            Err(_) => errors.push(FieldError::new(
                format!("event_types[{i}]"),
                "unknown",
                "not an event type (see the webhooks section of the OpenAPI document)",
            )),
        }
    }
    types.sort();
    types
}

/// Registers an endpoint, once per `Idempotency-Key`; its answer shows the secret, this once.
pub async fn create<R>(
    state: &AppState,
    new: NewEndpoint,
    request: Idempotent,
    render: R,
) -> Result<Done<Endpoint>, AppError>
where
    R: FnOnce(&Endpoint) -> Result<Answer, AppError>,
{
    let mut errors = Vec::new();
    check_url(state, &new.url, &mut errors);
    check_description(&new.description, &mut errors);
    let types = event_types(&new.event_types, &mut errors);
    let account = match new.account_id.as_deref().map(AccountId::parse) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(e)) => {
            errors.push(FieldError::domain("account_id", &e));
            None
        }
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    if let Some(account) = &account {
        if repo::accounts::find(&state.db, account).await?.is_none() {
            return Err(AppError::Validation(vec![FieldError::new(
                "account_id",
                "unknown",
                "no such account",
            )]));
        }
    }
    let now = state.clock.now();
    let enabled = new.enabled.unwrap_or(true);
    let endpoint = Endpoint {
        id: WebhookEndpointId::from_uuid(uuid::Uuid::now_v7()),
        url: new.url,
        description: new.description,
        account,
        event_types: types,
        enabled,
        disabled_reason: (!enabled).then(|| "disabled by an operator".to_owned()),
        failing_since: None,
        secret: new_secret()?,
        previous_secret: None,
        created_at: now,
        updated_at: now,
    };
    idempotency::run(
        state,
        request,
        move |txn| {
            Box::pin(async move {
                repo::webhooks::insert_endpoint(txn, &endpoint).await?;
                Ok(endpoint)
            })
        },
        render,
    )
    .await
}

pub async fn list(state: &AppState, page: &PageRequest) -> Result<Page<Endpoint>, AppError> {
    Ok(repo::webhooks::list_endpoints(&state.db, page).await?)
}

pub async fn show(state: &AppState, id: &WebhookEndpointId) -> Result<Endpoint, AppError> {
    repo::webhooks::find_endpoint(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)
}

/// Changes an endpoint. Enabling it clears why it was disabled and resumes its deliveries
/// where they stopped; disabling it holds them.
pub async fn update(
    state: &AppState,
    id: &WebhookEndpointId,
    change: EndpointChange,
) -> Result<Endpoint, AppError> {
    let mut errors = Vec::new();
    if let Some(url) = &change.url {
        check_url(state, url, &mut errors);
    }
    if let Some(description) = &change.description {
        check_description(description, &mut errors);
    }
    let types = change
        .event_types
        .as_ref()
        .map(|names| event_types(names, &mut errors));
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let txn = billing_persistence::db::begin_write(&state.db).await?;
    let mut endpoint = repo::webhooks::find_endpoint(&txn, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if let Some(url) = change.url {
        endpoint.url = url;
    }
    if let Some(description) = change.description {
        endpoint.description = description;
    }
    if let Some(types) = types {
        endpoint.event_types = types;
    }
    match change.enabled {
        Some(true) if !endpoint.enabled => {
            endpoint.enabled = true;
            endpoint.disabled_reason = None;
            endpoint.failing_since = None;
        }
        Some(false) if endpoint.enabled => {
            endpoint.enabled = false;
            endpoint.disabled_reason = Some("disabled by an operator".to_owned());
        }
        _ => {}
    }
    endpoint.updated_at = state.clock.now();
    repo::webhooks::save_endpoint(&txn, &endpoint).await?;
    txn.commit().await?;
    Ok(endpoint)
}

/// Deletes an endpoint and what was sent to it.
pub async fn delete(state: &AppState, id: &WebhookEndpointId) -> Result<(), AppError> {
    let txn = billing_persistence::db::begin_write(&state.db).await?;
    if !repo::webhooks::delete_endpoint(&txn, id).await? {
        return Err(AppError::NotFound);
    }
    txn.commit().await?;
    Ok(())
}

/// Gives the endpoint a new secret, once per `Idempotency-Key`; the old one keeps signing
/// (beside it) for 24 hours.
pub async fn rotate_secret<R>(
    state: &AppState,
    id: &WebhookEndpointId,
    request: Idempotent,
    render: R,
) -> Result<Done<Endpoint>, AppError>
where
    R: FnOnce(&Endpoint) -> Result<Answer, AppError>,
{
    let secret = new_secret()?;
    let now = state.clock.now();
    let id = id.clone();
    idempotency::run(
        state,
        request,
        move |txn| {
            Box::pin(async move {
                let mut endpoint = repo::webhooks::find_endpoint(txn, &id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                let old = std::mem::replace(&mut endpoint.secret, secret);
                endpoint.previous_secret = Some((old, now + ROTATION_GRACE));
                endpoint.updated_at = now;
                repo::webhooks::save_endpoint(txn, &endpoint).await?;
                Ok(endpoint)
            })
        },
        render,
    )
    .await
}

/// A delivery with its attempts.
pub struct DeliveryView {
    pub delivery: Delivery,
    pub attempts: Vec<Attempt>,
}

/// The endpoint's deliveries, oldest first, each with its attempts.
pub async fn deliveries(
    state: &AppState,
    id: &WebhookEndpointId,
    page: &PageRequest,
) -> Result<Page<DeliveryView>, AppError> {
    repo::webhooks::find_endpoint(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let after = page
        .after_number()
        .map_err(|e| AppError::parameter("starting_after", &e))?;
    let found = repo::webhooks::list_deliveries(&state.db, id, after, page.limit).await?;
    let ids: Vec<&WebhookDeliveryId> = found.items.iter().map(|d| &d.id).collect();
    let mut attempts = repo::webhooks::attempts_of(&state.db, &ids).await?;
    found.try_map(|delivery| {
        let (own, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut attempts)
            .into_iter()
            .partition(|(d, _)| *d == delivery.id);
        attempts = rest;
        Ok(DeliveryView {
            delivery,
            attempts: own.into_iter().map(|(_, a)| a).collect(),
        })
    })
}
