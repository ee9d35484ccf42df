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
    add_links(&mut doc);
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

/// A link from an operation's success answer to an operation it lets a client call next
/// (OpenAPI link objects: generated clients, the docs page and stateful contract tests follow
/// them). Parameters are runtime expressions: the answer's body or the request's path.
struct LinkSpec {
    from: &'static str,
    status: &'static str,
    name: &'static str,
    to: &'static str,
    parameters: &'static [(&'static str, &'static str)],
}

const fn link(
    from: &'static str,
    status: &'static str,
    name: &'static str,
    to: &'static str,
    parameters: &'static [(&'static str, &'static str)],
) -> LinkSpec {
    LinkSpec {
        from,
        status,
        name,
        to,
        parameters,
    }
}

const ACCOUNT_OF_BODY: &[(&str, &str)] = &[("account_id", "$response.body#/id")];
const PROJECT_OF_BODY: &[(&str, &str)] = &[("project_id", "$response.body#/id")];
const SAME_ACCOUNT: &[(&str, &str)] = &[("account_id", "$request.path.account_id")];

/// Create, then read: every create answers with the id the next calls take.
const LINKS: &[LinkSpec] = &[
    link(
        "admin_create_account",
        "201",
        "GetAccount",
        "admin_get_account",
        ACCOUNT_OF_BODY,
    ),
    link(
        "admin_create_account",
        "201",
        "UpdateAccount",
        "admin_update_account",
        ACCOUNT_OF_BODY,
    ),
    link(
        "admin_create_account",
        "201",
        "ListMembers",
        "admin_list_members",
        ACCOUNT_OF_BODY,
    ),
    link(
        "admin_create_account",
        "201",
        "CreateProject",
        "admin_create_project",
        ACCOUNT_OF_BODY,
    ),
    link(
        "admin_create_account",
        "201",
        "ListProjects",
        "admin_list_projects",
        ACCOUNT_OF_BODY,
    ),
    link(
        "admin_create_account",
        "201",
        "Deposit",
        "admin_deposit",
        ACCOUNT_OF_BODY,
    ),
    link(
        "admin_set_member",
        "200",
        "ListMembers",
        "admin_list_members",
        &[("account_id", "$response.body#/account_id")],
    ),
    link(
        "admin_create_project",
        "201",
        "GetProject",
        "admin_get_project",
        PROJECT_OF_BODY,
    ),
    link(
        "admin_create_project",
        "201",
        "UpdateProject",
        "admin_update_project",
        PROJECT_OF_BODY,
    ),
    link(
        "admin_create_project",
        "201",
        "ListParticipants",
        "admin_list_participants",
        PROJECT_OF_BODY,
    ),
    link(
        "admin_create_project",
        "201",
        "ListPlans",
        "admin_list_project_plans",
        PROJECT_OF_BODY,
    ),
    link(
        "admin_create_project",
        "201",
        "AssignPlan",
        "admin_assign_plan",
        PROJECT_OF_BODY,
    ),
    link(
        "admin_set_participant",
        "200",
        "ListParticipants",
        "admin_list_participants",
        &[("project_id", "$response.body#/project_id")],
    ),
    link(
        "admin_assign_plan",
        "201",
        "ListPlans",
        "admin_list_project_plans",
        &[("project_id", "$response.body#/project_id")],
    ),
    link(
        "admin_create_product",
        "201",
        "GetProduct",
        "admin_get_product",
        &[("code", "$response.body#/code")],
    ),
    link(
        "admin_create_plan",
        "201",
        "GetPlan",
        "admin_get_plan",
        &[("code", "$response.body#/code")],
    ),
    link(
        "admin_issue_credit_codes",
        "201",
        "RevokeCreditCode",
        "admin_revoke_credit_code",
        &[("code_id", "$response.body#/data/0/id")],
    ),
    link(
        "admin_deposit",
        "201",
        "GetBalance",
        "get_balance",
        SAME_ACCOUNT,
    ),
    link(
        "register_credit",
        "201",
        "ListCredits",
        "list_credits",
        SAME_ACCOUNT,
    ),
    link(
        "apply_promotion",
        "201",
        "ListAppliedPromotions",
        "list_applied_promotions",
        SAME_ACCOUNT,
    ),
    link(
        "put_payment_method",
        "200",
        "GetPaymentMethod",
        "get_payment_method",
        SAME_ACCOUNT,
    ),
    link(
        "pay_invoice",
        "200",
        "GetInvoice",
        "get_invoice",
        &[
            ("account_id", "$request.path.account_id"),
            ("invoice_id", "$response.body#/invoice_id"),
        ],
    ),
    link(
        "pay_invoice",
        "200",
        "ListPayments",
        "list_payments",
        SAME_ACCOUNT,
    ),
];

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

fn add_links(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::link::LinkBuilder;
    for operation in operations_mut(doc) {
        let Some(id) = operation.operation_id.clone() else {
            continue;
        };
        for spec in LINKS.iter().filter(|l| l.from == id) {
            let Some(RefOr::T(response)) = operation.responses.responses.get_mut(spec.status)
            else {
                continue;
            };
            let mut built = LinkBuilder::new().operation_id(spec.to);
            for (name, expression) in spec.parameters {
                built = built.parameter(*name, *expression);
            }
            response
                .links
                .insert(spec.name.to_owned(), RefOr::T(built.build()));
        }
    }
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

/// The conflicts each operation can answer (409), each kind with its own problem `type`.
/// Every key-taking POST can also answer the two idempotency conflicts.
pub const CONFLICTS: &[(&str, &[ConflictKind])] = {
    use ConflictKind::*;
    &[
        ("admin_create_account", &[]),
        ("admin_update_account", &[BillingOffsetLocked]),
        ("admin_create_project", &[]),
        ("admin_update_project", &[ProjectClosed]),
        ("admin_set_participant", &[NotAMember]),
        ("admin_create_product", &[ProductExists]),
        ("admin_create_plan", &[PlanExists, UnknownProduct]),
        (
            "admin_assign_plan",
            &[UnknownPlan, CurrencyMismatch, PlanChangeExists],
        ),
        ("get_monthly_usage", &[UsageOutOfRange]),
        ("get_daily_usage", &[UsageOutOfRange]),
        ("get_metering", &[UsageOutOfRange]),
        ("get_billing_channels", &[UsageOutOfRange, AmountOutOfRange]),
        ("preview_invoice", &[UsageOutOfRange, AmountOutOfRange]),
        ("admin_deposit", &[AmountOutOfRange]),
        ("put_payment_method", &[UnknownCardToken]),
        ("pay_invoice", &[InvoicePaid, PaymentInProgress]),
        ("admin_create_promotion", &[PromotionCodeExists]),
        (
            "apply_promotion",
            &[
                PromotionCodeUnknown,
                PaymentMethodRequired,
                PromotionExpired,
                PromotionLimitReached,
                PromotionAlreadyApplied,
                PromotionCurrencyMismatch,
            ],
        ),
        (
            "register_credit",
            &[
                CreditCodeUnknown,
                CreditCodeRevoked,
                CreditCodeExpired,
                CreditCodeUsedUp,
                CreditCodeAlreadyRegistered,
                CreditCodeCurrencyMismatch,
            ],
        ),
    ]
};

/// Operations that take an `Idempotency-Key`.
const IDEMPOTENT: &[&str] = &[
    "admin_create_account",
    "admin_create_project",
    "admin_create_product",
    "admin_create_plan",
    "admin_assign_plan",
    "admin_deposit",
    "pay_invoice",
    "admin_run_billing",
    "admin_issue_credit_codes",
    "register_credit",
    "admin_create_promotion",
    "apply_promotion",
];

fn add_conflicts(operation: &mut Operation) {
    use utoipa::openapi::example::ExampleBuilder;
    let Some(id) = operation.operation_id.as_deref() else {
        return;
    };
    let mut kinds: Vec<ConflictKind> = CONFLICTS
        .iter()
        .filter(|(op, _)| *op == id)
        .flat_map(|(_, kinds)| kinds.iter().copied())
        .collect();
    if IDEMPOTENT.contains(&id) {
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

    /// Every link starts at a documented success answer and names an operation that exists,
    /// with parameters that operation takes.
    #[test]
    fn every_link_is_attached_and_resolves() {
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
        for spec in LINKS {
            let from = &operations[spec.from];
            let link = &from["responses"][spec.status]["links"][spec.name];
            assert_eq!(link["operationId"], spec.to, "{} {}", spec.from, spec.name);
            let target = &operations[spec.to];
            for (name, _) in spec.parameters {
                let takes = target["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p["name"] == *name);
                assert!(takes, "{} does not take {name}", spec.to);
            }
        }
    }
}
