//! What a hostile or careless client cannot do: leave a card number anywhere, or make an error
//! repeat what it sent.

use serde_json::{json, Map, Value};

use crate::db_test;
use crate::helpers::{captured_log, Resp, TestApp};

/// A fresh Luhn-valid 16-digit number starting with 4 (a Visa-shaped test number), different
/// on every run, so finding it in the shared log can only mean this test's requests put it there.
pub fn fresh_card_number() -> String {
    let random = uuid::Uuid::new_v4().as_u128();
    let mut digits = format!("4{:014}", random % 100_000_000_000_000);
    let check = (b'0'..=b'9')
        .find(|d| {
            let mut candidate = digits.clone().into_bytes();
            candidate.push(*d);
            billing_domain::card::luhn_valid(&candidate)
        })
        .expect("a check digit");
    digits.push(char::from(check));
    digits
}

/// The ways a client writes a card number: bare, in groups of four with spaces or with dashes.
pub fn spellings(card: &str) -> [String; 3] {
    let groups: Vec<&str> = (0..card.len())
        .step_by(4)
        .map(|at| &card[at..(at + 4).min(card.len())])
        .collect();
    [card.to_owned(), groups.join(" "), groups.join("-")]
}

/// Every operation of the OpenAPI document: method, path template, whether it takes a body.
fn operations() -> Vec<(String, String, bool)> {
    let document = serde_json::to_value(billing_api::http::openapi::document()).expect("document");
    let mut out = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "delete", "patch"] {
            if let Some(operation) = item.get(method) {
                let has_body = operation.get("requestBody").is_some();
                out.push((method.to_uppercase(), path.clone(), has_body));
            }
        }
    }
    assert!(
        out.len() >= 20,
        "the document lists {} operations",
        out.len()
    );
    out
}

/// A path template with every `{parameter}` replaced by `value`.
fn fill(template: &str, value: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').expect("closing brace") + open;
        out.push_str(&value(&rest[open + 1..close]));
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
    idempotency_key: Option<&str>,
) -> Resp {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    if let Some(key) = idempotency_key {
        request = request.header("idempotency-key", key);
    }
    app.send(request).await
}

db_test!(
    a_card_number_is_refused_everywhere_and_kept_nowhere,
    async |app: &TestApp| {
        let log_before = captured_log().len();
        let card = fresh_card_number();
        let written = spellings(&card);
        let admin = app.admin_token();
        let account = app.create_account("Acme", "KRW").await;
        let project = app.create_project(&account, "api").await;
        app.add_member(&account, "alice@example.com", "owner").await;
        app.create_product("api_calls", "call", "sum").await;
        let real = |name: &str| match name {
            "account_id" => account.clone(),
            "project_id" => project.clone(),
            "user_id" => "alice@example.com".to_owned(),
            _ => "x".to_owned(),
        };
        let mut answers: Vec<Resp> = Vec::new();
        let mut refused_paths = 0;

        // Every operation of the document, the card number in each place a request has: each
        // path parameter, the query, the Idempotency-Key header and (nested) the body.
        for (n, (method, template, has_body)) in operations().into_iter().enumerate() {
            let spelled = &written[n % written.len()];
            let encoded = spelled.replace(' ', "%20");
            let valid_path = fill(&template, real);
            let mut attempts: Vec<(String, Option<Value>, Option<String>)> = Vec::new();
            if template.contains('{') {
                attempts.push((fill(&template, |_| encoded.clone()), None, None));
            }
            attempts.push((format!("{valid_path}?note={encoded}"), None, None));
            attempts.push((valid_path.clone(), None, Some(spelled.clone())));
            if has_body {
                let body = json!({
                    "name": spelled,
                    "events": [{"id": "e-1", "properties": {"note": {"deep": [spelled]}}}],
                });
                attempts.push((valid_path.clone(), Some(body), None));
            }
            for (path, body, key) in attempts {
                let resp = send(app, &method, &path, &admin, body.as_ref(), key.as_deref()).await;
                resp.assert_problem(400, "card-number-refused");
                if path != valid_path && !path.contains('?') {
                    refused_paths += 1;
                }
                answers.push(resp);
            }
        }
        assert!(
            refused_paths >= 10,
            "{refused_paths} paths with a card number"
        );

        // Requests that would otherwise be stored: an account named with the number, a member
        // whose id is the number, usage events carrying it as their id and in properties, a
        // number escaped in JSON (`\u0034` is "4") and one sent as a JSON number.
        let usage = app.usage_token(&account);
        let now = "2026-11-01T00:00:00Z";
        let escaped = format!("\\u0034{}", &card[1..]);
        let cases: Vec<(&str, String, String, Value)> = vec![
            (
                "POST",
                "/v1/admin/accounts".into(),
                admin.clone(),
                json!({"name": written[1], "currency": "KRW"}),
            ),
            (
                "PUT",
                format!("/v1/admin/accounts/{account}/members/{card}"),
                admin.clone(),
                json!({"role": "member"}),
            ),
            (
                "POST",
                format!("/v1/admin/accounts/{account}/projects"),
                admin.clone(),
                json!({"name": format!("project {}", written[2])}),
            ),
            (
                "POST",
                format!("/v1/accounts/{account}/usage-events"),
                usage.clone(),
                json!({"events": [{"id": card, "project_id": project, "product": "api_calls",
                                   "quantity": "1", "timestamp": now}]}),
            ),
            (
                "POST",
                format!("/v1/accounts/{account}/usage-events"),
                usage.clone(),
                json!({"events": [{"id": "e-2", "project_id": project, "product": "api_calls",
                                   "quantity": "1", "timestamp": now,
                                   "properties": {"card": {"pan": written[1]}}}]}),
            ),
            (
                "POST",
                format!("/v1/accounts/{account}/usage-events"),
                usage.clone(),
                json!({"events": [{"id": "e-3", "project_id": project, "product": "api_calls",
                                   "quantity": "1", "timestamp": now,
                                   "properties": {"n": card.parse::<u64>().expect("digits")}}]}),
            ),
        ];
        for (method, path, token, body) in &cases {
            let resp = send(app, method, path, token, Some(body), None).await;
            resp.assert_problem(400, "card-number-refused");
            answers.push(resp);
        }
        let resp = app
            .post_raw(
                "/v1/admin/accounts",
                &admin,
                "application/json",
                format!(r#"{{"name": "{escaped}", "currency": "KRW"}}"#),
            )
            .await;
        resp.assert_problem(400, "card-number-refused");
        answers.push(resp);

        // The same requests without the number are fine: the guard refuses the number only.
        let resp = app
            .post(
                "/v1/admin/accounts",
                &admin,
                json!({"name": "Acme 2", "currency": "KRW"}),
            )
            .await;
        assert_eq!(resp.status, 201, "{}", resp.body);

        // Nowhere: not in an answer (body or header), not in the log, not in the database.
        let found_in = |text: &str| written.iter().any(|w| text.contains(w.as_str()));
        for resp in &answers {
            assert!(!found_in(&resp.body.to_string()), "echoed: {}", resp.body);
            for (name, value) in &resp.headers {
                assert!(
                    !found_in(value.to_str().unwrap_or_default()),
                    "echoed in {name}"
                );
            }
        }
        let log = captured_log();
        let log = &log[log_before.min(log.len())..];
        for resp in &answers {
            let id = resp.body["request_id"].as_str().expect("request id");
            assert!(log.contains(id), "request {id} was not logged");
        }
        assert!(log.contains(billing_api::http::card_guard::REDACTED_PATH));
        assert!(!found_in(log), "the log holds the card number");
        let stored = app.stored_text().await;
        assert!(
            stored.contains("Acme 2"),
            "the dump does not show stored rows"
        );
        assert!(!found_in(&stored), "the database holds the card number");
    }
);

db_test!(
    an_incoming_request_id_with_a_card_number_is_not_adopted,
    async |app: &TestApp| {
        let card = fresh_card_number();
        let resp = app
            .send(
                app.client
                    .get(app.url("/healthz"))
                    .header("x-request-id", &card),
            )
            .await;
        assert_eq!(resp.status, 200);
        let id = resp.header("x-request-id").expect("a request id");
        assert!(!id.contains(&card));
        // A well-formed id without one is adopted, as before.
        let resp = app
            .send(
                app.client
                    .get(app.url("/healthz"))
                    .header("x-request-id", "trace-42"),
            )
            .await;
        assert_eq!(resp.header("x-request-id"), Some("trace-42"));
    }
);

/// A value no answer has any reason to contain.
const MARKER: &str = "Qz7xMarker";

/// A body for `schema` (resolved against the document's components) with `value` in every
/// property, nested objects and arrays of objects included, down to `depth` levels.
fn body_with(document: &Value, schema: &Value, value: &Value, depth: usize) -> Value {
    let schema = resolve(document, schema);
    if depth == 0 {
        return value.clone();
    }
    if let Some(variants) = schema.get("oneOf").and_then(Value::as_array) {
        if let Some(first) = variants.first() {
            return body_with(document, first, value, depth);
        }
    }
    match schema.get("properties").and_then(Value::as_object) {
        Some(properties) => {
            let mut out = Map::new();
            for (name, property) in properties {
                let property = resolve(document, property);
                let item = property
                    .get("items")
                    .map(|items| resolve(document, items))
                    .filter(|items| items.get("properties").is_some());
                let filled = match item {
                    Some(item) => json!([body_with(document, &item, value, depth - 1)]),
                    None if property.get("properties").is_some() => {
                        body_with(document, &property, value, depth - 1)
                    }
                    None => value.clone(),
                };
                out.insert(name.clone(), filled);
            }
            Value::Object(out)
        }
        None => value.clone(),
    }
}

fn resolve(document: &Value, schema: &Value) -> Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            resolve(
                document,
                document.pointer(pointer).expect("a resolvable $ref"),
            )
        }
        None => schema.clone(),
    }
}

db_test!(
    refusals_name_the_field_and_the_rule_never_the_value,
    async |app: &TestApp| {
        let admin = app.admin_token();
        let account = app.create_account("Acme", "KRW").await;
        let project = app.create_project(&account, "api").await;
        app.add_member(&account, "alice@example.com", "owner").await;
        app.create_product("api_calls", "call", "sum").await;
        let real = |name: &str| match name {
            "account_id" => account.clone(),
            "project_id" => project.clone(),
            "user_id" => "alice@example.com".to_owned(),
            _ => "x".to_owned(),
        };
        let document = serde_json::to_value(billing_api::http::openapi::document()).expect("doc");
        let mut refusals = 0;
        let mut check = |resp: &Resp, what: &str| {
            if resp.status >= 400 {
                refusals += 1;
                assert!(
                    !resp.body.to_string().contains(MARKER),
                    "{what} echoed the value: {}",
                    resp.body
                );
            }
        };

        // The issue's examples, one by one.
        let resp = app
            .post(
                "/v1/admin/accounts",
                &admin,
                json!({"name": "A", "currency": MARKER}),
            )
            .await;
        assert_eq!(resp.error_fields(), ["currency"]);
        check(&resp, "currency");
        let resp = app
            .put(
                &format!("/v1/admin/accounts/{account}/members/bob@example.com"),
                &admin,
                json!({"role": MARKER}),
            )
            .await;
        assert_eq!(resp.error_fields(), ["role"]);
        check(&resp, "role");
        let resp = app
            .put(
                &format!("/v1/admin/projects/{project}/participants/alice@example.com"),
                &admin,
                json!({"billing_permission": MARKER}),
            )
            .await;
        assert_eq!(resp.error_fields(), ["billing_permission"]);
        check(&resp, "billing_permission");
        let plan = MARKER.to_lowercase();
        let resp = app
            .post(
                &format!("/v1/admin/projects/{project}/plans"),
                &admin,
                json!({"plan": plan}),
            )
            .await;
        assert_eq!(resp.status, 409, "{}", resp.body);
        assert!(!resp.body.to_string().contains(&plan), "{}", resp.body);

        // Then every operation: the value in each path parameter, in each query parameter, and
        // in every field of the body at once.
        for (path_template, item) in document["paths"].as_object().expect("paths") {
            for method in ["get", "put", "post", "delete", "patch"] {
                let Some(operation) = item.get(method) else {
                    continue;
                };
                let parameters = operation["parameters"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let valid_path = fill(path_template, real);
                for parameter in &parameters {
                    let name = parameter["name"].as_str().unwrap_or_default();
                    let path = match parameter["in"].as_str() {
                        Some("path") => fill(path_template, |p| {
                            if p == name {
                                MARKER.to_owned()
                            } else {
                                real(p)
                            }
                        }),
                        Some("query") => format!("{valid_path}?{name}={MARKER}"),
                        _ => continue,
                    };
                    let resp = send(app, method, &path, &admin, None, None).await;
                    check(&resp, &format!("{method} {path_template} {name}"));
                }
                if let Some(schema) =
                    operation.pointer("/requestBody/content/application~1json/schema")
                {
                    let body = body_with(&document, schema, &json!(MARKER), 3);
                    let resp = send(app, method, &valid_path, &admin, Some(&body), None).await;
                    check(&resp, &format!("{method} {path_template} body"));
                }
            }
        }
        assert!(refusals >= 30, "only {refusals} refusals were checked");
    }
);

db_test!(
    every_list_refuses_a_cursor_it_did_not_answer,
    async |app: &TestApp| {
        let admin = app.admin_token();
        let account = app.create_account("Acme", "KRW").await;
        let project = app.create_project(&account, "api").await;
        app.add_member(&account, "alice@example.com", "owner").await;
        let real = |name: &str| match name {
            "account_id" => account.clone(),
            "project_id" => project.clone(),
            _ => "x".to_owned(),
        };
        let document = serde_json::to_value(billing_api::http::openapi::document()).expect("doc");
        // A NUL byte (PostgreSQL text cannot hold one), words, SQL, an id, and a cursor of
        // another list (the product list's, "product:api_calls" encoded).
        let foreign = {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("product:api_calls")
        };
        let cursors = [
            "%00".to_owned(),
            "garbage".to_owned(),
            "%27%20OR%201%3D1%20--".to_owned(),
            account.clone(),
            foreign,
        ];
        let mut lists = 0;
        for (template, item) in document["paths"].as_object().expect("paths") {
            let Some(operation) = item.get("get") else {
                continue;
            };
            let paged = operation["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"] == "starting_after"));
            if !paged {
                continue;
            }
            lists += 1;
            let path = fill(template, real);
            let separator = if template.contains("/usage") || template.contains("/billing") {
                "?period=2026-11&"
            } else {
                "?"
            };
            // A product cursor is a fine cursor for the product list itself.
            let own_list = template == "/v1/admin/products";
            for cursor in &cursors[..if own_list { 4 } else { 5 }] {
                let url = format!("{path}{separator}starting_after={cursor}");
                let resp = app.get(&url, &admin).await;
                resp.assert_problem(400, "invalid-parameters");
                assert_eq!(resp.error_fields(), ["starting_after"], "{url}");
            }
        }
        assert!(lists >= 8, "only {lists} paged lists in the document");
    }
);

db_test!(
    a_search_with_a_control_character_is_refused,
    async |app: &TestApp| {
        let account = app.create_account("Acme", "KRW").await;
        app.create_project(&account, "Production").await;
        app.add_member(&account, "alice@example.com", "owner").await;
        let owner = app.user_token("alice@example.com");
        // A NUL byte (PostgreSQL text cannot hold one), a newline, a C1 control: no name holds
        // one, so the search is refused instead of reaching the database.
        for q in ["I%00", "a%0Ab", "%C2%85"] {
            for path in ["projects", "usage"] {
                let url = format!("/v1/accounts/{account}/{path}?q={q}");
                let resp = app.get(&url, &owner).await;
                resp.assert_problem(400, "invalid-parameters");
                assert_eq!(resp.error_fields(), ["q"], "{url}");
            }
        }
        let resp = app
            .get(&format!("/v1/accounts/{account}/projects?q=prod"), &owner)
            .await;
        assert_eq!(resp.body["data"][0]["name"], "Production", "{}", resp.body);
    }
);

db_test!(
    user_ids_follow_one_pattern_wherever_they_enter,
    async |app: &TestApp| {
        let admin = app.admin_token();
        let account = app.create_account("Acme", "KRW").await;
        let project = app.create_project(&account, "web").await;
        // Traversal, percent-encoded or not, and what a token's `sub` may not hold either: no
        // member or participant is stored under such an id, and the path says why.
        for bad in [
            "..%2Fx",
            "..%2fx",
            "%2E%2E",
            "..",
            ".",
            "a%2Fb",
            "%252F",
            "a%00b",
            "a%20b",
            "-leading-dash",
            "a%25b",
        ] {
            for path in [
                format!("/v1/admin/accounts/{account}/members/{bad}"),
                format!("/v1/admin/projects/{project}/participants/{bad}"),
            ] {
                let body = if path.contains("members") {
                    json!({"role": "member"})
                } else {
                    json!({"billing_permission": false})
                };
                let resp = app.put(&path, &admin, body).await;
                assert!(
                    resp.status == 404 || resp.status == 400,
                    "{path}: {} {}",
                    resp.status,
                    resp.body
                );
                // The rejected id is not echoed back.
                assert!(!resp.body.to_string().contains("..%2F"), "{}", resp.body);
            }
        }
        let members = app
            .get(&format!("/v1/admin/accounts/{account}/members"), &admin)
            .await;
        assert_eq!(members.body["data"], json!([]), "{}", members.body);
        let participants = app
            .get(
                &format!("/v1/admin/projects/{project}/participants"),
                &admin,
            )
            .await;
        assert_eq!(
            participants.body["data"],
            json!([]),
            "{}",
            participants.body
        );

        // What identity providers' subjects hold is accepted: e-mail addresses, `auth0|...`
        // (the `|` percent-encoded by the client), UUIDs, `svc:name`.
        for good in [
            ("alice+billing@acme.example", "alice+billing@acme.example"),
            (
                "auth0%7C5f7c8ec7c33c6c004bbafe82",
                "auth0|5f7c8ec7c33c6c004bbafe82",
            ),
            (
                "0b9e3c1e-8f0a-4b8e-9a51-2f4c2d3e9d10",
                "0b9e3c1e-8f0a-4b8e-9a51-2f4c2d3e9d10",
            ),
            ("svc:metering", "svc:metering"),
        ] {
            let resp = app
                .put(
                    &format!("/v1/admin/accounts/{account}/members/{}", good.0),
                    &admin,
                    json!({"role": "member"}),
                )
                .await;
            assert_eq!(resp.status, 200, "{}: {}", good.0, resp.body);
            assert_eq!(resp.body["user_id"], good.1);
        }
        let members = app
            .get(&format!("/v1/admin/accounts/{account}/members"), &admin)
            .await;
        assert_eq!(members.body["data"].as_array().unwrap().len(), 4);

        // A token whose subject is not a user id is refused.
        let token = app.user_token("../x");
        let resp = app.get("/v1/accounts", &token).await;
        resp.assert_problem(401, "unauthenticated");
    }
);
