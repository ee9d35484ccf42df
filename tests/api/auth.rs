//! The authentication matrix: every bad token gets 401, a wrong scope 403, and a token of one
//! account never reaches another.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;
use time::OffsetDateTime;

use crate::db_test;
use crate::helpers::{run_with, test_settings, Backend, TestApp, TEST_SECRET};

fn claims(exp_offset: i64, nbf_offset: i64, iss: &str, aud: &str) -> serde_json::Value {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    json!({
        "sub": "operator@test", "scope": "admin",
        "iss": iss, "aud": aud,
        "exp": now + exp_offset, "nbf": now + nbf_offset, "iat": now
    })
}

fn hs256(claims: &serde_json::Value, secret: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

db_test!(bad_tokens_get_401, async |app: &TestApp| {
    let path = "/v1/admin/accounts";
    let good = claims(3600, -10, "billing", "billing-api");

    // No header at all.
    let resp = app.send(app.client.get(app.url(path))).await;
    resp.assert_problem(401, "unauthenticated");
    assert!(resp
        .header("www-authenticate")
        .is_some_and(|v| v.starts_with("Bearer")));

    // Not a bearer scheme, and garbage.
    let resp = app
        .send(
            app.client
                .get(app.url(path))
                .header("authorization", "Basic dXNlcjpwYXNz"),
        )
        .await;
    resp.assert_problem(401, "unauthenticated");
    app.get(path, "not-a-jwt")
        .await
        .assert_problem(401, "unauthenticated");

    // Expired (beyond the 30 s leeway), not yet valid, wrong issuer, wrong audience.
    for bad in [
        claims(-120, -3600, "billing", "billing-api"),
        claims(3600, 600, "billing", "billing-api"),
        claims(3600, -10, "someone-else", "billing-api"),
        claims(3600, -10, "billing", "another-api"),
    ] {
        let resp = app.get(path, &hs256(&bad, TEST_SECRET)).await;
        resp.assert_problem(401, "unauthenticated");
    }

    // Wrongly signed.
    let forged = hs256(&good, "another-secret-0123456789-0123456789-012345");
    app.get(path, &forged)
        .await
        .assert_problem(401, "unauthenticated");

    // alg: none, with and without a signature part.
    let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = b64(good.to_string().as_bytes());
    for token in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}"),
    ] {
        app.get(path, &token)
            .await
            .assert_problem(401, "unauthenticated");
    }

    // A correctly signed RS256 token while only HS256 is configured.
    let rsa = EncodingKey::from_rsa_pem(include_bytes!("keys/rsa-private.pem")).unwrap();
    let rs256 = encode(&Header::new(Algorithm::RS256), &good, &rsa).unwrap();
    app.get(path, &rs256)
        .await
        .assert_problem(401, "unauthenticated");

    // A missing required claim (no exp).
    let mut no_exp = good.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    app.get(path, &hs256(&no_exp, TEST_SECRET))
        .await
        .assert_problem(401, "unauthenticated");

    // And the good one passes.
    assert_eq!(app.get(path, &hs256(&good, TEST_SECRET)).await.status, 200);
});

db_test!(
    scopes_gate_operator_and_customer_endpoints,
    async |app: &TestApp| {
        let account = app.create_account("Scope Co", "USD").await;
        app.add_member(&account, "ann", "owner").await;

        // A user token on an operator endpoint: 403, not 404 or 401.
        let user = app.user_token("ann");
        app.get("/v1/admin/accounts", &user)
            .await
            .assert_problem(403, "forbidden");
        // A metering token on operator and customer endpoints: 403.
        let usage = app.usage_token(&account);
        app.get("/v1/admin/accounts", &usage)
            .await
            .assert_problem(403, "forbidden");
        app.get("/v1/accounts", &usage)
            .await
            .assert_problem(403, "forbidden");
        // An operator token reads customer views (support staff answer customers' questions):
        // `access::operators_read_every_customer_view` covers what it sees.
        assert_eq!(
            app.get("/v1/accounts", &app.admin_token()).await.status,
            200
        );
        // A usage:write token without an account claim is not a valid token.
        let no_account = app.mint("metering@test", None, Some("usage:write"));
        app.get("/v1/accounts", &no_account)
            .await
            .assert_problem(401, "unauthenticated");
    }
);

async fn public_key_app(backend: Backend, algorithm: &str, public: &str) -> Option<TestApp> {
    let mut settings = test_settings();
    settings.auth.hs256_secret = String::new();
    settings.auth.public_key_algorithm = algorithm.into();
    settings.auth.public_key_pem = public.into();
    TestApp::spawn_with(backend, settings).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_and_eddsa_public_keys_verify_tokens() {
    let good = claims(3600, -10, "billing", "billing-api");
    let cases = [
        (
            "RS256",
            Algorithm::RS256,
            include_str!("keys/rsa-public.pem"),
            EncodingKey::from_rsa_pem(include_bytes!("keys/rsa-private.pem")).unwrap(),
        ),
        (
            "EdDSA",
            Algorithm::EdDSA,
            include_str!("keys/ed25519-public.pem"),
            EncodingKey::from_ed_pem(include_bytes!("keys/ed25519-private.pem")).unwrap(),
        ),
    ];
    for (name, algorithm, public, private) in cases {
        let app = public_key_app(Backend::Sqlite, name, public).await.unwrap();
        let token = encode(&Header::new(algorithm), &good, &private).unwrap();
        let resp = app.get("/v1/admin/accounts", &token).await;
        assert_eq!(resp.status, 200, "{name}: {}", resp.body);
        // An HS256 token signed with the (public!) key text must not pass: no algorithm confusion.
        let confused = hs256(&good, public);
        app.get("/v1/admin/accounts", &confused)
            .await
            .assert_problem(401, "unauthenticated");
        // Nor an HS256 token with the dev secret: a configured key disables it.
        let dev = hs256(&good, billing_api::config::DEV_SECRET);
        app.get("/v1/admin/accounts", &dev)
            .await
            .assert_problem(401, "unauthenticated");
        app.teardown().await;
    }
}

/// `serve` with no key (none, empty, or blank) refuses to start, names the settings to set,
/// and touches no database; only `--demo` or `--insecure-dev-key` (the `insecure_dev_key`
/// setting, which only the command line sets) use the public development key. The check
/// happens before the database is opened, so it is the same on both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_needs_a_key_unless_told_to_use_the_development_key() {
    for secret in ["", "   ", "\t \n"] {
        let mut settings = test_settings();
        settings.auth.hs256_secret = secret.into();
        settings.auth.public_key_pem = " ".into();
        let file = std::env::temp_dir().join(format!(
            "billing-test-nokey-{}.db",
            uuid::Uuid::new_v4().simple()
        ));
        settings.database.url = format!("sqlite://{}?mode=rwc", file.display());
        let clock = billing_application::clock::SystemClock;
        let error =
            match billing_api::startup::Application::build(&settings, std::sync::Arc::new(clock))
                .await
            {
                Ok(_) => panic!("started without a key (secret {secret:?})"),
                Err(error) => error.to_string(),
            };
        assert!(error.contains("BILLING_AUTH__HS256_SECRET"), "{error}");
        assert!(error.contains("BILLING_AUTH__PUBLIC_KEY_PEM"), "{error}");
        assert!(error.contains("--insecure-dev-key"), "{error}");
        assert!(!file.exists(), "the database was created");
        // `billing token` refuses too, instead of minting with the public key.
        assert!(billing_api::http::auth::Signer::new(&settings.auth).is_err());
    }
}

async fn the_development_key_only_when_asked(backend: Backend) {
    let mut settings = test_settings();
    settings.auth.hs256_secret = " ".into();
    settings.auth.insecure_dev_key = true;
    run_with(backend, settings, async |app: &TestApp| {
        let good = claims(3600, -10, "billing", "billing-api");
        let dev = hs256(&good, billing_api::config::DEV_SECRET);
        let resp = app.get("/v1/admin/accounts", &dev).await;
        assert_eq!(resp.status, 200, "{}", resp.body);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_development_key_only_when_asked_sqlite() {
    the_development_key_only_when_asked(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_development_key_only_when_asked_postgres() {
    the_development_key_only_when_asked(Backend::Postgres).await;
}

/// With both an HS256 secret and a public key, each verifies tokens of its own algorithm (the
/// token's `alg` chooses), and neither accepts the other's.
async fn both_keys_verify_their_own_tokens(backend: Backend) {
    let mut settings = test_settings();
    settings.auth.public_key_algorithm = "RS256".into();
    settings.auth.public_key_pem = include_str!("keys/rsa-public.pem").into();
    run_with(backend, settings, async |app: &TestApp| {
        let path = "/v1/admin/accounts";
        let good = claims(3600, -10, "billing", "billing-api");
        // `billing token`'s kind (HS256 with the secret) and the identity provider's (RS256).
        let resp = app.get(path, &app.admin_token()).await;
        assert_eq!(resp.status, 200, "HS256: {}", resp.body);
        let rsa = EncodingKey::from_rsa_pem(include_bytes!("keys/rsa-private.pem")).unwrap();
        let rs256 = encode(&Header::new(Algorithm::RS256), &good, &rsa).unwrap();
        let resp = app.get(path, &rs256).await;
        assert_eq!(resp.status, 200, "RS256: {}", resp.body);
        // HS256 signed with the public key's text, another secret, or the dev secret: 401.
        for secret in [
            include_str!("keys/rsa-public.pem"),
            "another-secret-0123456789-0123456789-01234",
            billing_api::config::DEV_SECRET,
        ] {
            app.get(path, &hs256(&good, secret))
                .await
                .assert_problem(401, "unauthenticated");
        }
        // An RS256 header over an HS256 signature, and `alg: none`: 401.
        let hs = hs256(&good, TEST_SECRET);
        let mut parts = hs.splitn(2, '.');
        let _ = parts.next();
        let header = b64(br#"{"alg":"RS256","typ":"JWT"}"#);
        let swapped = format!("{header}.{}", parts.next().unwrap());
        app.get(path, &swapped)
            .await
            .assert_problem(401, "unauthenticated");
        let none = format!(
            "{}.{}.",
            b64(br#"{"alg":"none","typ":"JWT"}"#),
            b64(good.to_string().as_bytes())
        );
        app.get(path, &none)
            .await
            .assert_problem(401, "unauthenticated");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_keys_verify_their_own_tokens_sqlite() {
    both_keys_verify_their_own_tokens(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_keys_verify_their_own_tokens_postgres() {
    both_keys_verify_their_own_tokens(Backend::Postgres).await;
}
