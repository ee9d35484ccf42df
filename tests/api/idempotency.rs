//! A retry with the same Idempotency-Key answers the first result and changes nothing twice,
//! also when the retries race.

use serde_json::{json, Value};

use crate::db_test;
use crate::helpers::TestApp;

async fn post_with_key(app: &TestApp, path: &str, key: &str, body: Value) -> crate::helpers::Resp {
    app.send(
        app.client
            .post(app.url(path))
            .bearer_auth(app.admin_token())
            .header("idempotency-key", key)
            .json(&body),
    )
    .await
}

async fn account_count(app: &TestApp) -> usize {
    let list = app.get("/v1/admin/accounts", &app.admin_token()).await;
    list.body["data"].as_array().map(Vec::len).unwrap_or(0)
}

db_test!(a_retry_replays_the_first_answer, async |app: &TestApp| {
    let body = json!({"name": "Once Co", "currency": "KRW"});
    let first = post_with_key(app, "/v1/admin/accounts", "key-1", body.clone()).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.header("idempotent-replayed"), None);

    let retry = post_with_key(app, "/v1/admin/accounts", "key-1", body.clone()).await;
    assert_eq!(retry.status, 201);
    assert_eq!(retry.body, first.body);
    assert_eq!(retry.header("location"), first.header("location"));
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(account_count(app).await, 1);

    // The same key with another body, or on another endpoint: 409, and nothing is created.
    let other = post_with_key(
        app,
        "/v1/admin/accounts",
        "key-1",
        json!({"name": "Twice Co", "currency": "KRW"}),
    )
    .await;
    other.assert_problem(409, "idempotency-key-reused");
    let account = first.body["id"].as_str().unwrap();
    let elsewhere = post_with_key(
        app,
        &format!("/v1/admin/accounts/{account}/projects"),
        "key-1",
        json!({"name": "Production"}),
    )
    .await;
    elsewhere.assert_problem(409, "idempotency-key-reused");
    assert_eq!(account_count(app).await, 1);

    // Without a key, each request creates.
    app.create_account("No Key", "KRW").await;
    app.create_account("No Key", "KRW").await;
    assert_eq!(account_count(app).await, 3);

    // A failed request stores no answer: after fixing the body the same key works.
    let bad = post_with_key(
        app,
        "/v1/admin/accounts",
        "key-2",
        json!({"name": "x", "currency": "ABC"}),
    )
    .await;
    bad.assert_problem(422, "validation-error");
    let good = post_with_key(
        app,
        "/v1/admin/accounts",
        "key-2",
        json!({"name": "x", "currency": "USD"}),
    )
    .await;
    assert_eq!(good.status, 201, "{}", good.body);

    // A malformed key is refused before anything happens.
    let long = "k".repeat(256);
    let resp = post_with_key(app, "/v1/admin/accounts", &long, body).await;
    resp.assert_problem(400, "invalid-parameters");
    assert_eq!(resp.error_fields(), vec!["Idempotency-Key"]);
    assert_eq!(account_count(app).await, 4);
});

db_test!(racing_retries_create_exactly_once, async |app: &TestApp| {
    let body = json!({"name": "Race Co", "currency": "USD"});
    let requests =
        (0..10).map(|_| post_with_key(app, "/v1/admin/accounts", "race-key", body.clone()));
    let answers = futures_util::future::join_all(requests).await;
    let mut ids: Vec<&str> = answers
        .iter()
        .map(|r| {
            assert_eq!(r.status, 201, "{}", r.body);
            r.body["id"].as_str().unwrap()
        })
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 1, "racing retries created {ids:?}");
    assert_eq!(
        answers
            .iter()
            .filter(|r| r.header("idempotent-replayed").is_none())
            .count(),
        1
    );
    assert_eq!(account_count(app).await, 1);
});
