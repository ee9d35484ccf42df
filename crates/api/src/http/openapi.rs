//! The OpenAPI 3.1 document, generated from the registered handlers.
//!
//! `billing openapi --output openapi/openapi.json` writes it; a test fails when the committed
//! file and the code differ.

use actix_web::App;
use serde_json::json;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::server::ServerBuilder;
use utoipa::openapi::{Ref, RefOr, Response};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use billing_application::ConflictKind;

use crate::http::problem::{FieldErrorSchema, Problem, PROBLEM_CONTENT_TYPE};

/// The command that regenerates the committed document.
pub const REGENERATE_COMMAND: &str =
    "cargo run -p billing-api --bin billing -- openapi --output openapi/openapi.json";

/// Where the committed document says the API is served.
pub const DEFAULT_SERVER_URL: &str = "http://127.0.0.1:8080";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Billing API",
        description = "Headless billing for a software-as-a-service provider: usage metering and \
rating, invoice previews and invoices, credit and promotion codes, a prepaid balance and card \
payments.\n\n\
**Conventions.** Amounts are decimal strings (`\"12.34\"`) next to an ISO 4217 `currency`; each \
invoice line is rounded half away from zero to the currency's minor unit. Timestamps are RFC 3339. \
Lists are paginated with `limit` and `starting_after` (the `next_cursor` of the previous page). \
Errors are RFC 9457 `application/problem+json` bodies whose `type` is stable per kind of error; \
invalid input lists every offending field in `errors`, naming the field and the rule, never the \
value sent. Every response carries an `x-request-id` header, also in error bodies.\n\n\
**Card numbers.** The API never takes a card number: a request with one anywhere (a Luhn-valid \
run of 13 to 19 digits not starting with 0, bare or grouped with spaces or dashes, in the path, the query, the \
`Idempotency-Key` or the body) answers 400 `/problems/card-number-refused`, and nothing of it is \
stored or logged. Cards are registered with a payment gateway token.\n\n\
**Access.** Bearer JWTs. Operator tokens carry the `admin` scope and use `/v1/admin/...`; console \
users call the customer endpoints and see only their accounts: another account's resources answer \
404, exactly like missing ones. Operators also read every customer view (`GET /v1/accounts/...`) \
of any account, exactly as that account's `billing_admin` sees it: the provider's support staff \
answer customers' questions.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
        contact(name = "Billing API maintainers")
    ),
    tags(
        (name = "accounts", description = "Customer accounts: each bills in one currency, in its own UTC offset, with its tax rate."),
        (name = "members", description = "Users of an account and their roles: owner, billing_admin, member."),
        (name = "projects", description = "Projects (the channels of the console): what usage and costs are grouped by."),
        (name = "participants", description = "Users taking part in a project, with or without billing permission."),
        (name = "catalog", description = "Products (services), plans with one price per product, and the plan each project is on."),
        (name = "usage", description = "Usage events from the provider's metering services, counted exactly once."),
        (name = "invoices", description = "Invoices: the preview of a period, computed from live usage the way finalization computes it; the billing run; the history and PDFs."),
        (name = "payments", description = "The account's card (by gateway token), the payment history, receipts, and paying an invoice now."),
        (name = "credits", description = "Credit codes issued by operators, registered by customers, consumed by finalized invoices."),
        (name = "promotions", description = "Promotion codes offered by operators, applied by customers with a payment method, discounting invoices."),
        (name = "balance", description = "The prepaid balance and its ledger: deposits, deductions, refunds, adjustments."),
        (name = "events", description = "What happened to an account's billing, in order: the events webhooks send, kept for a configured time."),
        (name = "webhooks", description = "Endpoints events are sent to, signed as the Standard Webhooks specification says; their deliveries and attempts."),
        (name = "health", description = "Liveness and readiness probes.")
    ),
    components(schemas(Problem, FieldErrorSchema)),
    modifiers(&Security)
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A JWT signed with the configured key. Operators carry scope `admin`: \
                         the `/v1/admin/...` operations, and every customer read \
                         (`GET /v1/accounts/...`) of any account, as its `billing_admin` sees it. \
                         Metering services carry `usage:write` and an `account` claim. Console \
                         users carry no scope and reach only the accounts they belong to.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document for a server reachable at `server_url`.
pub fn document_for(server_url: &str) -> utoipa::openapi::OpenApi {
    let (_, mut doc) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(crate::http::configure)
        .split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.servers = Some(vec![ServerBuilder::new()
        .url(server_url)
        .description(Some("billing serve"))
        .build()]);
    add_problem_responses(&mut doc);
    close_tagged_unions(&mut doc);
    parameters_are_never_null(&mut doc);
    doc
}

/// A parameter that is not sent is left out of the request, never sent as `null` (a header or
/// a query string has no null), but utoipa writes an optional parameter's schema as
/// `type: [T, "null"]`: generated clients then take an `Option<Option<T>>` or `T | null`. This
/// keeps `T` and lets `required: false` say that it may be left out.
fn parameters_are_never_null(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::{Schema, SchemaType, Type};
    for operation in operations_mut(doc) {
        for parameter in operation.parameters.iter_mut().flatten() {
            let RefOr::T(parameter) = parameter else {
                continue;
            };
            if let Some(RefOr::T(Schema::Object(object))) = parameter.schema.as_mut() {
                if let SchemaType::Array(types) = &object.schema_type {
                    let kept: Vec<Type> = types
                        .iter()
                        .filter(|t| **t != Type::Null)
                        .cloned()
                        .collect();
                    if let [one] = kept.as_slice() {
                        object.schema_type = SchemaType::Type(one.clone());
                    }
                }
            }
        }
    }
}

fn operations_mut(doc: &mut utoipa::openapi::OpenApi) -> impl Iterator<Item = &mut Operation> {
    doc.paths.paths.values_mut().flat_map(|item| {
        [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ]
        .into_iter()
        .flatten()
    })
}

/// Tagged unions whose variants refuse unknown fields (`#[serde(deny_unknown_fields)]`). utoipa
/// does not carry that into the variants of a tagged enum, so the document would promise that
/// extra fields are accepted; this closes each variant, as the code behaves.
const CLOSED_UNIONS: &[&str] = &["PriceSpec"];

fn close_tagged_unions(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::{AdditionalProperties, Schema};
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    for name in CLOSED_UNIONS {
        if let Some(RefOr::T(Schema::OneOf(one_of))) = components.schemas.get_mut(*name) {
            for item in &mut one_of.items {
                if let RefOr::T(Schema::Object(object)) = item {
                    object.additional_properties =
                        Some(Box::new(AdditionalProperties::FreeForm(false)));
                }
            }
        }
    }
}

/// The committed document.
pub fn document() -> utoipa::openapi::OpenApi {
    document_for(DEFAULT_SERVER_URL)
}

/// The committed document as text: pretty JSON with a final newline.
pub fn document_json() -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string_pretty(&document())?;
    text.push('\n');
    Ok(text)
}

struct StandardResponse {
    status: &'static str,
    name: &'static str,
    description: &'static str,
    kind: &'static str,
    title: &'static str,
}

const STANDARD: &[StandardResponse] = &[
    StandardResponse {
        status: "400",
        name: "BadRequest",
        description:
            "Malformed JSON, invalid path or query parameters (`/problems/invalid-parameters`), \
                      or a card number anywhere in the request (`/problems/card-number-refused`): \
                      nothing of such a request is stored or logged",
        kind: "invalid-parameters",
        title: "The path or query has invalid parameters",
    },
    StandardResponse {
        status: "401",
        name: "Unauthenticated",
        description: "Missing, malformed, expired or wrongly signed bearer token",
        kind: "unauthenticated",
        title: "A valid bearer token is required",
    },
    StandardResponse {
        status: "403",
        name: "Forbidden",
        description: "The token's scope does not grant this operation",
        kind: "forbidden",
        title: "The token does not grant this operation",
    },
    StandardResponse {
        status: "404",
        name: "NotFound",
        description: "No such resource, or not one of the caller's",
        kind: "not-found",
        title: "No such resource",
    },
    StandardResponse {
        status: "413",
        name: "PayloadTooLarge",
        description: "The request body exceeds the configured limit",
        kind: "payload-too-large",
        title: "The request body is too large",
    },
    StandardResponse {
        status: "415",
        name: "UnsupportedMediaType",
        description: "The request body is not application/json",
        kind: "unsupported-media-type",
        title: "The request body must be application/json",
    },
    StandardResponse {
        status: "422",
        name: "ValidationError",
        description: "One or more fields are invalid; `errors` names each",
        kind: "validation-error",
        title: "The request has invalid fields",
    },
    StandardResponse {
        status: "500",
        name: "InternalError",
        description: "An internal error; the request id identifies it in the logs",
        kind: "internal-error",
        title: "Internal server error",
    },
];

fn problem_response(r: &StandardResponse) -> Response {
    let status: u16 = r.status.parse().unwrap_or(500);
    ResponseBuilder::new()
        .description(r.description)
        .content(
            PROBLEM_CONTENT_TYPE,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .example(Some(json!({
                    "type": format!("/problems/{}", r.kind),
                    "title": r.title,
                    "status": status,
                    "request_id": "0193a4f0-6c1e-7c52-9a43-3f6a3a1b2c4d"
                })))
                .build(),
        )
        .build()
}

fn add_problem_responses(doc: &mut utoipa::openapi::OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    for r in STANDARD {
        components
            .responses
            .insert(r.name.to_owned(), RefOr::T(problem_response(r)));
    }
    for operation in operations_mut(doc) {
        add_to_operation(operation);
        add_conflicts(operation);
    }
}

/// The extension by which a handler declares, in its `#[utoipa::path]`, the conflicts it can
/// answer: `extensions(("x-conflicts" = json!([ConflictKind::PlanExists.slug(), ...])))`. It is
/// read here into the operation's 409 (or 422) answer and taken out of the document.
pub const CONFLICTS_EXTENSION: &str = "x-conflicts";

/// The conflicts an operation declared (see [`CONFLICTS_EXTENSION`]), taken out of it.
fn declared_conflicts(operation: &mut Operation) -> Vec<ConflictKind> {
    let Some(extensions) = operation.extensions.as_mut() else {
        return Vec::new();
    };
    let declared = extensions.remove(CONFLICTS_EXTENSION);
    if extensions.is_empty() {
        operation.extensions = None;
    }
    declared
        .and_then(|v| v.as_array().cloned())
        .into_iter()
        .flatten()
        .filter_map(|slug| {
            ConflictKind::ALL
                .iter()
                .copied()
                .find(|k| slug.as_str() == Some(k.slug()))
        })
        .collect()
}

/// Whether an operation takes an `Idempotency-Key` (its handler documents the header).
fn takes_idempotency_key(operation: &Operation) -> bool {
    operation.parameters.iter().flatten().any(|p| {
        matches!(p, RefOr::T(p) if p.name == "Idempotency-Key"
            && matches!(p.parameter_in, ParameterIn::Header))
    })
}

fn add_conflicts(operation: &mut Operation) {
    use utoipa::openapi::example::ExampleBuilder;
    let mut kinds = declared_conflicts(operation);
    // Every key-taking operation can also answer the two idempotency conflicts.
    if takes_idempotency_key(operation) {
        kinds.push(ConflictKind::IdempotencyKeyReused);
        kinds.push(ConflictKind::IdempotencyKeyInProgress);
    }
    // Kinds that answer 422 are named on the 422 answer (made if the operation has none).
    let (unprocessable, conflicts): (Vec<ConflictKind>, Vec<ConflictKind>) =
        kinds.into_iter().partition(|k| k.is_unprocessable());
    if !unprocessable.is_empty() {
        let named = unprocessable
            .iter()
            .map(|k| format!("`/problems/{}` ({})", k.slug(), k.title()))
            .collect::<Vec<_>>()
            .join(", ");
        let validated = operation.responses.responses.contains_key("422");
        let description = if validated {
            format!("Invalid fields (`/problems/validation-error`, with `errors`); or {named}")
        } else {
            format!("The request cannot be taken as sent: {named}")
        };
        let response = ResponseBuilder::new()
            .description(description)
            .content(
                PROBLEM_CONTENT_TYPE,
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build();
        operation
            .responses
            .responses
            .insert("422".to_owned(), RefOr::T(response));
    }
    let kinds = conflicts;
    if kinds.is_empty() {
        return;
    }
    let description = format!(
        "Conflicts with the current state; `type` says which: {}",
        kinds
            .iter()
            .map(|k| format!("`/problems/{}` ({})", k.slug(), k.title()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let examples = kinds.iter().map(|k| {
        let example = ExampleBuilder::new().summary(k.title()).value(Some(json!({
            "type": format!("/problems/{}", k.slug()),
            "title": k.title(),
            "status": 409,
            "request_id": "0193a4f0-6c1e-7c52-9a43-3f6a3a1b2c4d"
        })));
        (k.slug(), example.build())
    });
    let response = ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_CONTENT_TYPE,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .examples_from_iter(examples)
                .build(),
        )
        .build();
    operation
        .responses
        .responses
        .insert("409".to_owned(), RefOr::T(response));
}

fn add_to_operation(operation: &mut Operation) {
    let secured = operation
        .security
        .as_ref()
        .is_some_and(|reqs| reqs.iter().any(|r| r != &Default::default()));
    let params = operation.parameters.as_deref().unwrap_or(&[]);
    let located = |location: ParameterIn| {
        params
            .iter()
            .any(|p| matches!(p, RefOr::T(p) if std::mem::discriminant(&p.parameter_in) == std::mem::discriminant(&location)))
    };
    let has_path = located(ParameterIn::Path);
    let has_body = operation.request_body.is_some();
    for r in STANDARD {
        let applies = match r.status {
            // Any request can carry a card number, in its path, query or body.
            "400" => true,
            "401" | "403" => secured,
            "404" => has_path,
            "413" | "415" | "422" => has_body,
            _ => true,
        };
        if applies {
            operation
                .responses
                .responses
                .entry(r.status.to_owned())
                .or_insert_with(|| {
                    RefOr::Ref(Ref::new(format!("#/components/responses/{}", r.name)))
                });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_conflict_kind_is_named_in_the_document() {
        let text = serde_json::to_string(&document()).unwrap_or_default();
        for kind in ConflictKind::ALL {
            let problem = format!("/problems/{}", kind.slug());
            assert!(text.contains(&problem), "{problem} is not documented");
        }
    }

    /// Every link (declared beside its handler) names an operation that exists, with
    /// parameters that operation takes; and the creates link to what they let a client do next.
    #[test]
    fn every_link_resolves() {
        let doc = serde_json::to_value(document()).unwrap_or_default();
        let mut operations = std::collections::HashMap::new();
        for item in doc["paths"]
            .as_object()
            .into_iter()
            .flat_map(|p| p.values())
        {
            for op in item.as_object().into_iter().flat_map(|o| o.values()) {
                if let Some(id) = op["operationId"].as_str() {
                    operations.insert(id.to_owned(), op.clone());
                }
            }
        }
        let mut count = 0;
        for op in operations.values() {
            for response in op["responses"]
                .as_object()
                .into_iter()
                .flat_map(|r| r.values())
            {
                for (name, link) in response["links"].as_object().into_iter().flatten() {
                    count += 1;
                    let to = link["operationId"].as_str().unwrap_or_default();
                    let target = operations.get(to);
                    assert!(target.is_some(), "{name} names no operation: {to}");
                    for (parameter, _) in link["parameters"].as_object().into_iter().flatten() {
                        let takes = target
                            .and_then(|t| t["parameters"].as_array())
                            .into_iter()
                            .flatten()
                            .any(|p| p["name"] == *parameter);
                        assert!(takes, "{to} does not take {parameter}");
                    }
                }
            }
        }
        assert_eq!(count, 24, "the links declared beside the handlers");
        // No declaration of a handler's is left in the document.
        assert!(!doc.to_string().contains(CONFLICTS_EXTENSION));
    }
}
