//! Operators open and change accounts; the currency is fixed at creation.

use serde_json::json;

use crate::db_test;
use crate::helpers::TestApp;

db_test!(open_read_and_change_an_account, async |app: &TestApp| {
    let admin = app.admin_token();
    // Time comes from the injected clock.
    app.clock
        .set(time::macros::datetime!(2026-11-05 00:00:00 UTC));
    let resp = app
        .post(
            "/v1/admin/accounts",
            &admin,
            json!({
                "name": "Acme Korea", "currency": "KRW", "billing_utc_offset": "+05:30",
                "tax_rate": "0.100", "billing_email": "billing@acme.example"
            }),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.body);
    let id = resp.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("acct_") && id.len() == 37);
    assert_eq!(
        resp.header("location"),
        Some(format!("/v1/admin/accounts/{id}").as_str())
    );
    assert_eq!(resp.body["currency"], "KRW");
    assert_eq!(resp.body["billing_utc_offset"], "+05:30");
    // "0.100" is stored exactly and printed in its shortest form.
    assert_eq!(resp.body["tax_rate"], "0.1");
    assert_eq!(resp.body["billing_email"], "billing@acme.example");
    assert_eq!(resp.body["created_at"], "2026-11-05T00:00:00Z");

    let read = app.get(&format!("/v1/admin/accounts/{id}"), &admin).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body, resp.body);

    // Defaults: the configured offset (+09:00 in tests) and a zero tax rate.
    let resp = app
        .post(
            "/v1/admin/accounts",
            &admin,
            json!({"name": "Globex", "currency": "USD"}),
        )
        .await;
    assert_eq!(resp.body["billing_utc_offset"], "+09:00");
    assert_eq!(resp.body["tax_rate"], "0");
    assert_eq!(resp.body["billing_email"], serde_json::Value::Null);

    // Change the tax rate and clear the email; absent fields keep their value.
    let resp = app
        .patch(
            &format!("/v1/admin/accounts/{id}"),
            &admin,
            json!({"tax_rate": "0.0825", "billing_email": null}),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.body["tax_rate"], "0.0825");
    assert_eq!(resp.body["created_at"], "2026-11-05T00:00:00Z");
    assert_eq!(resp.body["billing_email"], serde_json::Value::Null);
    assert_eq!(resp.body["name"], "Acme Korea");
    assert_eq!(resp.body["billing_utc_offset"], "+05:30");

    // The currency cannot change.
    let resp = app
        .patch(
            &format!("/v1/admin/accounts/{id}"),
            &admin,
            json!({"currency": "USD"}),
        )
        .await;
    resp.assert_problem(422, "validation-error");
    assert_eq!(resp.error_fields(), vec!["currency"]);
    let read = app.get(&format!("/v1/admin/accounts/{id}"), &admin).await;
    assert_eq!(read.body["currency"], "KRW");

    // An unknown account: 404 for read and change alike.
    let missing = "acct_00000000000000000000000000000000";
    app.get(&format!("/v1/admin/accounts/{missing}"), &admin)
        .await
        .assert_problem(404, "not-found");
    app.patch(
        &format!("/v1/admin/accounts/{missing}"),
        &admin,
        json!({"name": "x"}),
    )
    .await
    .assert_problem(404, "not-found");
});

db_test!(lists_are_paginated_by_cursor, async |app: &TestApp| {
    let admin = app.admin_token();
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(app.create_account(&format!("Account {i}"), "EUR").await);
    }
    created.sort();

    let first = app.get("/v1/admin/accounts?limit=2", &admin).await;
    assert_eq!(first.status, 200);
    let ids = |body: &serde_json::Value| -> Vec<String> {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&first.body), created[0..2]);
    assert_eq!(first.body["has_more"], true);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    assert_eq!(cursor, created[1]);

    let second = app
        .get(
            &format!("/v1/admin/accounts?limit=2&starting_after={cursor}"),
            &admin,
        )
        .await;
    assert_eq!(ids(&second.body), created[2..4]);
    let cursor = second.body["next_cursor"].as_str().unwrap();

    let last = app
        .get(
            &format!("/v1/admin/accounts?limit=2&starting_after={cursor}"),
            &admin,
        )
        .await;
    assert_eq!(ids(&last.body), created[4..5]);
    assert_eq!(last.body["has_more"], false);
    assert!(last.body.get("next_cursor").is_none());

    // The default page holds all five.
    let all = app.get("/v1/admin/accounts", &admin).await;
    assert_eq!(ids(&all.body), created);
});
