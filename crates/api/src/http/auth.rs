//! Bearer JWT authentication (jsonwebtoken).
//!
//! Tokens are HS256 with a configured secret, or RS256/EdDSA with a configured public key. `exp`,
//! `nbf`, `iss` and `aud` are checked; a token whose `alg` is not configured (including `none`)
//! is refused. Claims:
//! - `sub`: the user or service identity;
//! - `scope` (space-separated): `admin` for operators, `usage:write` for metering services;
//! - `account` (optional): limits a user token to one account; names the account a
//!   `usage:write` token writes for.

use std::future::{ready, Ready};
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use billing_domain::names::{AccountId, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::config::{AuthSettings, DEV_SECRET};
use crate::http::problem::ApiError;
use billing_application::accounts::{Reader, User};

pub const SCOPE_ADMIN: &str = "admin";
pub const SCOPE_USAGE_WRITE: &str = "usage:write";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// An operator of the provider (scope `admin`).
    Operator { subject: String },
    /// A metering service writing usage for one account (scope `usage:write`).
    UsageWriter { subject: String, account: AccountId },
    /// A person using the console; `account` limits the token to one account.
    User {
        user: UserId,
        account: Option<AccountId>,
    },
}

/// Verifies tokens with the configured keys: the HS256 secret (tokens minted by
/// `billing token`), the identity provider's public key (RS256 or EdDSA), or both at once. The
/// token's `alg` picks the key, and each key verifies only its own algorithm, so an HS256 token
/// "signed" with the public key's text is refused; `none` is never accepted.
pub struct Verifier {
    keys: Vec<(Algorithm, DecodingKey, Validation)>,
    /// True when the public development secret is in use (`--demo`, `--insecure-dev-key`).
    pub dev_secret: bool,
}

/// What to set when no key is configured, for `serve` and `token` to print.
pub const NO_KEY_HELP: &str = "no token key is configured: set BILLING_AUTH__HS256_SECRET (a \
random secret of at least 32 bytes) or BILLING_AUTH__PUBLIC_KEY_PEM with \
BILLING_AUTH__PUBLIC_KEY_ALGORITHM (RS256 or EdDSA), in the environment or in billing.toml's \
[auth] section; only a local trial may use the public development key, with --demo or \
--insecure-dev-key";

#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("auth.public_key_pem is not a valid {0} public key: {1}")]
    PublicKey(&'static str, jsonwebtoken::errors::Error),
    #[error("auth.private_key_pem is not a valid {0} private key: {1}")]
    PrivateKey(&'static str, jsonwebtoken::errors::Error),
    #[error("{NO_KEY_HELP}")]
    NoKey,
}

fn public_algorithm(settings: &AuthSettings) -> (Algorithm, &'static str) {
    if settings.public_key_algorithm == "EdDSA" {
        (Algorithm::EdDSA, "EdDSA")
    } else {
        (Algorithm::RS256, "RS256")
    }
}

impl Verifier {
    /// Builds the verifier from the configured keys. With none, only `insecure_dev_key` lets it
    /// use the public development secret; otherwise it is [`AuthConfigError::NoKey`].
    pub fn new(settings: &AuthSettings) -> Result<Self, AuthConfigError> {
        let mut keys = Vec::new();
        if let Some(secret) = settings.hs256_secret() {
            keys.push((
                Algorithm::HS256,
                DecodingKey::from_secret(secret.as_bytes()),
            ));
        }
        if let Some(pem) = settings.public_key_pem() {
            let (alg, name) = public_algorithm(settings);
            let key = match alg {
                Algorithm::EdDSA => DecodingKey::from_ed_pem(pem.as_bytes()),
                _ => DecodingKey::from_rsa_pem(pem.as_bytes()),
            }
            .map_err(|e| AuthConfigError::PublicKey(name, e))?;
            keys.push((alg, key));
        }
        let dev_secret = keys.is_empty();
        if dev_secret {
            if !settings.insecure_dev_key {
                return Err(AuthConfigError::NoKey);
            }
            keys.push((
                Algorithm::HS256,
                DecodingKey::from_secret(DEV_SECRET.as_bytes()),
            ));
        }
        let keys = keys
            .into_iter()
            .map(|(alg, key)| {
                // One algorithm per validation: jsonwebtoken refuses a key whose family differs
                // from any algorithm listed, so one list of both would refuse every token.
                let mut validation = Validation::new(alg);
                validation.set_issuer(&[settings.issuer.as_str()]);
                validation.set_audience(&[settings.audience.as_str()]);
                validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
                validation.validate_nbf = true;
                validation.validate_exp = true;
                validation.leeway = settings.leeway_seconds;
                (alg, key, validation)
            })
            .collect();
        Ok(Self { keys, dev_secret })
    }

    pub fn verify(&self, token: &str) -> Result<Principal, ApiError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| ApiError::Unauthenticated("the bearer token is malformed"))?;
        let (key, validation) = self
            .keys
            .iter()
            .find(|(alg, _, _)| *alg == header.alg)
            .map(|(_, key, validation)| (key, validation))
            .ok_or(ApiError::Unauthenticated(
                "the token's signing algorithm is not accepted",
            ))?;
        let data = jsonwebtoken::decode::<Claims>(token, key, validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            ApiError::Unauthenticated(match e.kind() {
                ErrorKind::ExpiredSignature => "the token has expired",
                ErrorKind::ImmatureSignature => "the token is not valid yet",
                ErrorKind::InvalidSignature => "the token's signature is invalid",
                ErrorKind::InvalidIssuer => "the token's issuer is not accepted",
                ErrorKind::InvalidAudience => "the token's audience is not accepted",
                ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
                ErrorKind::InvalidAlgorithm => "the token's signing algorithm is not accepted",
                _ => "the bearer token is invalid",
            })
        })?;
        principal_from_claims(data.claims)
    }
}

fn principal_from_claims(claims: Claims) -> Result<Principal, ApiError> {
    let scopes: Vec<&str> = claims
        .scope
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let account = claims
        .account
        .as_deref()
        .map(AccountId::parse)
        .transpose()
        .map_err(|_| ApiError::Unauthenticated("the token's account claim is invalid"))?;
    if claims.sub.is_empty() {
        return Err(ApiError::Unauthenticated("the token's subject is empty"));
    }
    if scopes.contains(&SCOPE_ADMIN) {
        return Ok(Principal::Operator {
            subject: claims.sub,
        });
    }
    if scopes.contains(&SCOPE_USAGE_WRITE) {
        let account = account.ok_or(ApiError::Unauthenticated(
            "a usage:write token must name its account",
        ))?;
        return Ok(Principal::UsageWriter {
            subject: claims.sub,
            account,
        });
    }
    let user = UserId::parse(&claims.sub)
        .map_err(|_| ApiError::Unauthenticated("the token's subject is not a valid user id"))?;
    Ok(Principal::User { user, account })
}

/// Mints tokens with the configured signing key (`billing token`, demo data, tests).
pub struct Signer {
    key: EncodingKey,
    algorithm: Algorithm,
    issuer: String,
    audience: String,
}

impl Signer {
    /// The HS256 secret if configured, else the private key; with neither, the public
    /// development secret only when `insecure_dev_key` is set.
    pub fn new(settings: &AuthSettings) -> Result<Self, AuthConfigError> {
        let (key, algorithm) = if let Some(secret) = settings.hs256_secret() {
            (
                EncodingKey::from_secret(secret.as_bytes()),
                Algorithm::HS256,
            )
        } else if let Some(pem) = settings.private_key_pem() {
            let (alg, name) = public_algorithm(settings);
            let key = match alg {
                Algorithm::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()),
                _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
            }
            .map_err(|e| AuthConfigError::PrivateKey(name, e))?;
            (key, alg)
        } else if settings.insecure_dev_key {
            (
                EncodingKey::from_secret(DEV_SECRET.as_bytes()),
                Algorithm::HS256,
            )
        } else {
            return Err(AuthConfigError::NoKey);
        };
        Ok(Self {
            key,
            algorithm,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
        })
    }

    pub fn mint(
        &self,
        subject: &str,
        account: Option<&str>,
        scope: Option<&str>,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = Claims {
            sub: subject.to_owned(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: (now + ttl).unix_timestamp(),
            nbf: Some(now.unix_timestamp()),
            iat: Some(now.unix_timestamp()),
            scope: scope.map(str::to_owned),
            account: account.map(str::to_owned),
        };
        jsonwebtoken::encode(&Header::new(self.algorithm), &claims, &self.key)
    }
}

fn bearer_token(req: &HttpRequest) -> Result<&str, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthenticated(
            "the Authorization header is missing",
        ))?
        .to_str()
        .map_err(|_| ApiError::Unauthenticated("the Authorization header is malformed"))?;
    let (scheme, token) = value.split_once(' ').ok_or(ApiError::Unauthenticated(
        "the Authorization header is malformed",
    ))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::Unauthenticated(
            "the Authorization header must carry a Bearer token",
        ));
    }
    Ok(token.trim())
}

fn authenticate(req: &HttpRequest) -> Result<Principal, ApiError> {
    let verifier = req
        .app_data::<web::Data<Arc<Verifier>>>()
        .ok_or_else(|| ApiError::Internal("the token verifier is not configured".into()))?;
    verifier.verify(bearer_token(req)?)
}

/// Any authenticated caller.
pub struct Caller(pub Principal);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req).map(Caller))
    }
}

/// An operator (scope `admin`); any other valid token gets 403.
pub struct Operator {
    pub subject: String,
}

impl FromRequest for Operator {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req).and_then(|principal| match principal {
            Principal::Operator { subject } => Ok(Operator { subject }),
            _ => Err(ApiError::Forbidden),
        }))
    }
}

/// A reader of customer views, extracted: a console user, or an operator (support staff), who
/// reads any account as its billing admin would. Metering services' tokens get 403. (The
/// [`Reader`] is the application layer's; handlers take it as `ReaderParam(reader)`.)
pub struct ReaderParam(pub Reader);

impl FromRequest for ReaderParam {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req).and_then(|principal| match principal {
            Principal::User { user, account } => {
                Ok(ReaderParam(Reader::User(User { user, account })))
            }
            Principal::Operator { .. } => Ok(ReaderParam(Reader::Operator)),
            Principal::UsageWriter { .. } => Err(ApiError::Forbidden),
        }))
    }
}

/// A writer of usage: an operator, or a metering service's `usage:write` token. `account` is
/// the one account a service token may write for (`None` for operators).
pub struct UsageWriter {
    pub account: Option<AccountId>,
}

impl UsageWriter {
    /// Whether this writer may write `account`'s usage.
    pub fn may_write(&self, account: &AccountId) -> bool {
        billing_domain::accounts::access::token_reaches(self.account.as_ref(), account)
    }
}

impl FromRequest for UsageWriter {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req).and_then(|principal| match principal {
            Principal::Operator { .. } => Ok(UsageWriter { account: None }),
            Principal::UsageWriter { account, .. } => Ok(UsageWriter {
                account: Some(account),
            }),
            Principal::User { .. } => Err(ApiError::Forbidden),
        }))
    }
}
