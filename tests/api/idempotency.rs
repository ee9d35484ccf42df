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
    other.assert_problem(422, "idempotency-key-reused");
    let account = first.body["id"].as_str().unwrap();
    let elsewhere = post_with_key(
        app,
        &format!("/v1/admin/accounts/{account}/projects"),
        "key-1",
        json!({"name": "Production"}),
    )
    .await;
    elsewhere.assert_problem(422, "idempotency-key-reused");
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

db_test!(each_operator_has_its_own_keys, async |app: &TestApp| {
    let send = |operator: &'static str, key: &'static str| {
        let token = app.mint(operator, None, Some("admin"));
        app.send(
            app.client
                .post(app.url("/v1/admin/accounts"))
                .bearer_auth(token)
                .header("idempotency-key", key)
                .json(&json!({"name": "Shared Key Co", "currency": "KRW"})),
        )
    };
    let first = send("ops-a@provider.example", "same-key").await;
    assert_eq!(first.status, 201, "{}", first.body);
    // Another operator, same key and body: its own request, not the first one's answer.
    let second = send("ops-b@provider.example", "same-key").await;
    assert_eq!(second.status, 201, "{}", second.body);
    assert_eq!(second.header("idempotent-replayed"), None);
    assert_ne!(second.body["id"], first.body["id"]);
    // Each operator's retry replays its own answer.
    let retry_a = send("ops-a@provider.example", "same-key").await;
    assert_eq!(retry_a.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry_a.body["id"], first.body["id"]);
    let retry_b = send("ops-b@provider.example", "same-key").await;
    assert_eq!(retry_b.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry_b.body["id"], second.body["id"]);
    assert_eq!(account_count(app).await, 2);
    // A subject longer than the stored scope's 40 characters is scoped as well.
    let long = "a-very-long-operator-subject-from-the-identity-provider@provider.example";
    let token = app.mint(long, None, Some("admin"));
    let resp = app
        .send(
            app.client
                .post(app.url("/v1/admin/accounts"))
                .bearer_auth(token)
                .header("idempotency-key", "same-key")
                .json(&json!({"name": "Shared Key Co", "currency": "KRW"})),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.body);
    assert_eq!(account_count(app).await, 3);
});
