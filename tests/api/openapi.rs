//! The committed OpenAPI document is the one the code generates, and it documents every
//! operation completely.

use serde_json::Value;

use crate::helpers::{Backend, TestApp};

const COMMITTED: &str = include_str!("../../openapi/openapi.json");

#[test]
fn committed_document_matches_the_code() {
    let generated = billing_api::http::openapi::document_json().expect("serialize");
    assert!(
        generated == COMMITTED,
        "openapi/openapi.json is out of date with the code. Regenerate it with:\n    {}\n",
        billing_api::http::openapi::REGENERATE_COMMAND
    );
}

#[test]
fn every_operation_is_fully_documented() {
    let doc: Value = serde_json::from_str(COMMITTED).expect("valid JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "Billing API");
    assert_eq!(doc["info"]["license"]["identifier"], "Apache-2.0");
    assert!(doc["servers"].as_array().is_some_and(|s| !s.is_empty()));
    let mut operation_ids = Vec::new();
    let mut count = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            count += 1;
            let at = format!("{method} {path}");
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{at}: no operationId"));
            operation_ids.push(id.to_owned());
            assert!(
                op["tags"].as_array().is_some_and(|t| t.len() == 1),
                "{at}: one tag"
            );
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{at}: summary"
            );
            assert!(op["security"].is_array(), "{at}: no security requirement");
            let responses = op["responses"].as_object().expect("responses");
            assert!(responses.contains_key("500"), "{at}: 500 undocumented");
            let secured = op["security"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r.as_object().is_some_and(|o| !o.is_empty()));
            if secured {
                assert!(
                    responses.contains_key("401") && responses.contains_key("403"),
                    "{at}: auth errors"
                );
            }
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "415", "422"] {
                    assert!(
                        responses.contains_key(status),
                        "{at}: {status} undocumented"
                    );
                }
                let content = &op["requestBody"]["content"]["application/json"];
                assert!(content.get("example").is_some(), "{at}: request example");
            }
            let success = responses
                .iter()
                .find(|(status, _)| status.starts_with('2'))
                .unwrap_or_else(|| panic!("{at}: no success response"));
            if success.0 != "204" {
                // JSON, or a document such as an invoice's PDF.
                let content = &success.1["content"];
                let schema = content
                    .get("application/json")
                    .or_else(|| content.get("application/pdf"))
                    .map(|c| &c["schema"]);
                assert!(
                    schema.is_some_and(serde_json::Value::is_object),
                    "{at}: success schema"
                );
            }
        }
    }
    assert!(count >= 20, "only {count} operations");
    let before = operation_ids.len();
    operation_ids.sort();
    operation_ids.dedup();
    assert_eq!(operation_ids.len(), before, "duplicate operationIds");

    // Decimal strings and offsets carry a pattern.
    let schemas = &doc["components"]["schemas"];
    for (schema, field) in [
        ("AccountResponse", "tax_rate"),
        ("CreateAccountRequest", "tax_rate"),
        ("CreateAccountRequest", "billing_utc_offset"),
        ("UpdateAccountRequest", "tax_rate"),
    ] {
        assert!(
            schemas[schema]["properties"][field]["pattern"].is_string(),
            "{schema}.{field} has no pattern"
        );
    }
    // Errors are documented as problem+json.
    assert!(
        doc["components"]["responses"]["NotFound"]["content"]["application/problem+json"]
            .is_object()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_serves_the_committed_document() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("sqlite app");
    let resp = app.send(app.client.get(app.url("/openapi.json"))).await;
    assert_eq!(resp.status, 200);
    let mut served = resp.body.clone();
    let mut committed: Value = serde_json::from_str(COMMITTED).unwrap();
    // Only the server URL depends on configuration.
    served["servers"] = Value::Null;
    committed["servers"] = Value::Null;
    assert!(
        served == committed,
        "the served document differs from the committed one"
    );
    app.teardown().await;
}
