//! The payment gateway (SPEC 7): a trait, so a real gateway can take the sandbox's place, and
//! the built-in sandbox gateway that is the default and what tests use.
//!
//! A card reaches us only as the gateway's token: registering it answers what may be kept of
//! it (brand, last four digits, expiry). A charge carries an idempotency key: asked twice with
//! the same key, the gateway charges once and answers the same outcome, which is how a charge
//! whose answer was lost (a crash, a network error) is settled later without charging twice.

use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use billing_domain::money::Money;
use billing_domain::payments::Decline;
use billing_persistence::repo;
use billing_persistence::repo::sandbox::SandboxCharge;
use billing_persistence::DatabaseConnection;
use time::OffsetDateTime;

/// What may be kept of a card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardDetails {
    pub brand: String,
    pub last4: String,
    pub exp_month: u8,
    pub exp_year: u16,
}

/// A charge to make.
#[derive(Clone, Debug)]
pub struct ChargeRequest<'a> {
    /// The same for every call of one attempt; see [`billing_domain::payments::gateway_key`].
    pub key: &'a str,
    pub token: &'a str,
    pub amount: Money,
}

/// How a charge ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChargeOutcome {
    Succeeded,
    Declined { code: String, decline: Decline },
}

/// Why the gateway gave no outcome.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The gateway knows no such token.
    #[error("the gateway knows no such card token")]
    UnknownToken,
    /// No answer came back: the charge may or may not have been made. Ask again with the same
    /// key to learn which.
    #[error("no answer from the gateway: {0}")]
    Unreachable(String),
}

/// A payment gateway. Object-safe: the state holds it as `Arc<dyn PaymentGateway>`, chosen
/// by configuration (`billing.gateway`), so another gateway plugs in beside the sandbox without
/// touching the use cases.
pub trait PaymentGateway: Send + Sync {
    /// The name configuration selects it by (`sandbox`).
    fn name(&self) -> &'static str;

    /// What may be kept of the card behind `token`.
    fn register<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<CardDetails, GatewayError>>;

    /// Charges the card, once per key.
    fn charge<'a>(
        &'a self,
        request: &'a ChargeRequest<'a>,
        now: OffsetDateTime,
    ) -> BoxFuture<'a, Result<ChargeOutcome, GatewayError>>;
}

/// One of the sandbox's test cards.
struct TestCard {
    token: &'static str,
    card: (&'static str, &'static str, u8, u16),
    behaviour: Behaviour,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Succeeds,
    /// Refused: a hard decline.
    Declined,
    /// Insufficient funds, every time: a soft decline.
    InsufficientFunds,
    /// Insufficient funds the first time a charge with it is made, then it succeeds.
    InsufficientFundsOnce,
    /// The charge goes through, but the first answer is lost on the way back.
    NetworkErrorAfterCharge,
    /// Succeeds after two seconds.
    Slow,
}

/// The sandbox's test tokens (docs/payments.md lists them).
const TEST_CARDS: [TestCard; 6] = [
    TestCard {
        token: "tok_sandbox_visa",
        card: ("visa", "4242", 12, 2030),
        behaviour: Behaviour::Succeeds,
    },
    TestCard {
        token: "tok_sandbox_declined",
        card: ("visa", "0002", 12, 2030),
        behaviour: Behaviour::Declined,
    },
    TestCard {
        token: "tok_sandbox_insufficient_funds",
        card: ("mastercard", "9995", 6, 2031),
        behaviour: Behaviour::InsufficientFunds,
    },
    TestCard {
        token: "tok_sandbox_insufficient_funds_once",
        card: ("mastercard", "9979", 6, 2031),
        behaviour: Behaviour::InsufficientFundsOnce,
    },
    TestCard {
        token: "tok_sandbox_network_error",
        card: ("visa", "3220", 1, 2032),
        behaviour: Behaviour::NetworkErrorAfterCharge,
    },
    TestCard {
        token: "tok_sandbox_slow",
        card: ("visa", "1881", 1, 2032),
        behaviour: Behaviour::Slow,
    },
];

/// The sandbox's hard decline.
const CARD_DECLINED: &str = "card_declined";
/// The sandbox's soft decline.
const INSUFFICIENT_FUNDS: &str = "insufficient_funds";

/// The sandbox's name in configuration (`billing.gateway = "sandbox"`).
pub const SANDBOX: &str = "sandbox";

/// The gateways configuration may name.
pub const GATEWAYS: [&str; 1] = [SANDBOX];

/// The gateway configuration names (one of [`GATEWAYS`]), or `None` for a name it does not
/// know.
pub fn configured(
    name: &str,
    db: DatabaseConnection,
) -> Option<std::sync::Arc<dyn PaymentGateway>> {
    match name.trim() {
        SANDBOX => Some(std::sync::Arc::new(SandboxGateway::new(db))),
        _ => None,
    }
}

/// How long the slow test card takes.
pub const SLOW_CHARGE: Duration = Duration::from_secs(2);

/// The built-in sandbox gateway. It keeps its own record of charges (`sandbox_charges`, in the
/// API's database, as a real gateway keeps its own), so a charge asked for twice with one key is
/// made once, across restarts too.
#[derive(Clone)]
pub struct SandboxGateway {
    db: DatabaseConnection,
}

impl SandboxGateway {
    pub fn new(db: DatabaseConnection) -> Self {
        SandboxGateway { db }
    }

    fn card(token: &str) -> Result<&'static TestCard, GatewayError> {
        TEST_CARDS
            .iter()
            .find(|c| c.token == token)
            .ok_or(GatewayError::UnknownToken)
    }

    fn unreachable(error: impl std::fmt::Display) -> GatewayError {
        GatewayError::Unreachable(error.to_string())
    }
}

impl PaymentGateway for SandboxGateway {
    fn name(&self) -> &'static str {
        SANDBOX
    }

    fn register<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<CardDetails, GatewayError>> {
        async move { self.register_card(token) }.boxed()
    }

    fn charge<'a>(
        &'a self,
        request: &'a ChargeRequest<'a>,
        now: OffsetDateTime,
    ) -> BoxFuture<'a, Result<ChargeOutcome, GatewayError>> {
        self.charge_card(request, now).boxed()
    }
}

impl SandboxGateway {
    fn register_card(&self, token: &str) -> Result<CardDetails, GatewayError> {
        let (brand, last4, exp_month, exp_year) = Self::card(token)?.card;
        Ok(CardDetails {
            brand: brand.to_owned(),
            last4: last4.to_owned(),
            exp_month,
            exp_year,
        })
    }

    async fn charge_card(
        &self,
        request: &ChargeRequest<'_>,
        now: OffsetDateTime,
    ) -> Result<ChargeOutcome, GatewayError> {
        let card = Self::card(request.token)?;
        let earlier = repo::sandbox::find(&self.db, request.key)
            .await
            .map_err(Self::unreachable)?;
        let first_time = earlier.is_none();
        if card.behaviour == Behaviour::Slow && first_time {
            tokio::time::sleep(SLOW_CHARGE).await;
        }
        // Why it is declined, if it is: `card_declined` is hard, the rest soft.
        let code: Option<&str> = match card.behaviour {
            Behaviour::Succeeds | Behaviour::NetworkErrorAfterCharge | Behaviour::Slow => None,
            Behaviour::Declined => Some(CARD_DECLINED),
            Behaviour::InsufficientFunds => Some(INSUFFICIENT_FUNDS),
            Behaviour::InsufficientFundsOnce => {
                let before = repo::sandbox::declined_with(&self.db, card.token)
                    .await
                    .map_err(Self::unreachable)?;
                (before == 0).then_some(INSUFFICIENT_FUNDS)
            }
        };
        let minor = request.amount.to_minor().map_err(Self::unreachable)?;
        let charge = repo::sandbox::record(
            &self.db,
            &SandboxCharge {
                key: request.key.to_owned(),
                token: request.token.to_owned(),
                amount_minor: minor,
                currency: request.amount.currency().code().to_owned(),
                outcome: if code.is_some() {
                    "declined"
                } else {
                    "succeeded"
                }
                .to_owned(),
                code: code.map(str::to_owned),
                created_at: now,
            },
        )
        .await
        .map_err(Self::unreachable)?;
        if charge.amount_minor != minor || charge.token != request.token {
            // A real gateway refuses a key reused for another charge; so does the sandbox.
            return Err(GatewayError::Unreachable(
                "the idempotency key was used for another charge".into(),
            ));
        }
        if card.behaviour == Behaviour::NetworkErrorAfterCharge && first_time {
            return Err(GatewayError::Unreachable(
                "the connection dropped after the charge was made (sandbox)".into(),
            ));
        }
        Ok(match (charge.outcome.as_str(), charge.code) {
            ("succeeded", _) => ChargeOutcome::Succeeded,
            (_, code) => {
                let code = code.unwrap_or_else(|| CARD_DECLINED.into());
                let decline = if code == CARD_DECLINED {
                    Decline::Hard
                } else {
                    Decline::Soft
                };
                ChargeOutcome::Declined { code, decline }
            }
        })
    }
}
