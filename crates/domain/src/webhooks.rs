//! Webhooks, as the Standard Webhooks specification signs and sends them: the secret, the
//! signature, which targets a URL may name, and when a failed delivery is tried again.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::{Duration, OffsetDateTime};

use crate::error::DomainError;
use crate::events::EventType;
use crate::names::{AccountId, EventId, WebhookDeliveryId, WebhookEndpointId};

/// Where an operator wants events sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub id: WebhookEndpointId,
    pub url: String,
    pub description: Option<String>,
    /// Only this account's events; every account's when `None`.
    pub account: Option<AccountId>,
    pub event_types: Vec<EventType>,
    pub enabled: bool,
    /// Why it is disabled: by an operator, a 410 answer, or three days of failures.
    pub disabled_reason: Option<String>,
    /// Since when every attempt has failed (none has succeeded since).
    pub failing_since: Option<OffsetDateTime>,
    pub secret: Secret,
    /// The secret a rotation replaced, and until when it still signs.
    pub previous_secret: Option<(Secret, OffsetDateTime)>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl Endpoint {
    /// Whether it wants events of this type and account.
    pub fn wants(&self, kind: EventType, account: &AccountId) -> bool {
        self.event_types.contains(&kind) && self.account.as_ref().is_none_or(|a| a == account)
    }

    /// The secrets that sign at `now`: the current one, and the one a rotation replaced while
    /// its grace runs.
    pub fn signing_secrets(&self, now: OffsetDateTime) -> Vec<&Secret> {
        let mut secrets = vec![&self.secret];
        if let Some((old, until)) = &self.previous_secret {
            if now < *until {
                secrets.push(old);
            }
        }
        secrets
    }
}

/// One event on its way to one endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub seq: i64,
    pub id: WebhookDeliveryId,
    pub endpoint: WebhookEndpointId,
    pub event: EventId,
    pub event_type: EventType,
    pub account: AccountId,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it is tried next, if not delivered (it waits while its endpoint is disabled, or
    /// while an earlier delivery of its account to that endpoint is not delivered yet).
    pub next_attempt_at: OffsetDateTime,
    pub delivered_at: Option<OffsetDateTime>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
}

/// How an attempt went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub number: u32,
    pub started_at: OffsetDateTime,
    pub duration_ms: u64,
    /// The HTTP status the endpoint answered; none when it did not answer.
    pub status_code: Option<u16>,
    pub succeeded: bool,
    /// Why it failed, in words (never the secret, never the body).
    pub error: Option<String>,
}

/// The prefix of every signing secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Random bytes in a new secret (the specification asks for 24 to 64).
pub const SECRET_BYTES: usize = 32;

/// How long the secret a rotation replaced still signs deliveries.
pub const ROTATION_GRACE: Duration = Duration::hours(24);

/// How long an endpoint may fail before it is disabled.
pub const GIVE_UP_AFTER: Duration = Duration::days(3);

/// A signing secret: `whsec_` and the base64 of its key.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    text: String,
    key: Vec<u8>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// The secret of these random bytes.
    pub fn from_key(key: &[u8]) -> Secret {
        Secret {
            text: format!("{SECRET_PREFIX}{}", BASE64.encode(key)),
            key: key.to_vec(),
        }
    }

    /// A stored secret.
    pub fn parse(text: &str) -> Result<Secret, DomainError> {
        let key = text
            .strip_prefix(SECRET_PREFIX)
            .and_then(|b64| BASE64.decode(b64).ok())
            .filter(|key| key.len() >= 24)
            .ok_or(DomainError::InvalidId("webhook secret"))?;
        Ok(Secret {
            text: text.to_owned(),
            key,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` under this secret's key.
    pub fn sign(&self, id: &str, timestamp: i64, body: &str) -> String {
        // HMAC takes a key of any length.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => unreachable_key(),
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body.as_bytes());
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }
}

#[allow(clippy::panic)]
fn unreachable_key() -> ! {
    panic!("HMAC accepts keys of every length")
}

/// The `webhook-signature` header: a signature under each secret that signs now, space
/// separated (the current one first).
pub fn signature_header(secrets: &[&Secret], id: &str, timestamp: i64, body: &str) -> String {
    secrets
        .iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why a URL may not receive webhooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetRefusal {
    /// Not an absolute `https` URL (or `http`, where private targets are allowed).
    Scheme,
    /// It carries a user name or password, or has no host.
    Shape,
    /// Its host is a loopback, link-local, private-network or otherwise internal address.
    Private,
}

/// Checks a webhook URL: `https` with a public host, unless `allow_private` (development and
/// demos), which also allows plain `http` and internal hosts. A host name is checked again
/// when it is resolved, at every delivery ([`is_public`]).
pub fn check_target(url: &str, allow_private: bool) -> Result<url::Url, TargetRefusal> {
    let parsed = url::Url::parse(url).map_err(|_| TargetRefusal::Shape)?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err(TargetRefusal::Scheme),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(TargetRefusal::Shape);
    }
    let host = parsed.host().ok_or(TargetRefusal::Shape)?;
    if allow_private {
        return Ok(parsed);
    }
    let public = match host {
        url::Host::Ipv4(ip) => is_public(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => is_public(IpAddr::V6(ip)),
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            !(name == "localhost"
                || name.ends_with(".localhost")
                || name.ends_with(".local")
                || name.ends_with(".internal")
                || !name.contains('.'))
        }
    };
    if public {
        Ok(parsed)
    } else {
        Err(TargetRefusal::Private)
    }
}

/// Whether webhooks may be sent to this address: not loopback, unspecified, link-local,
/// private (RFC 1918, unique local), shared (carrier-grade NAT), multicast, broadcast,
/// documentation or reserved, nor an IPv4 address inside IPv6 that is one of those.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
                || first == 0x2001 && v6.segments()[1] == 0x0db8 // documentation
                || is_nat64_of_private(v6))
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

/// `64:ff9b::/96` carries IPv4 addresses through NAT64: internal if the address inside is.
fn is_nat64_of_private(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    if s[..6] != [0x64, 0xff9b, 0, 0, 0, 0] {
        return false;
    }
    let [a, b] = s[6].to_be_bytes();
    let [c, d] = s[7].to_be_bytes();
    !is_public_v4(Ipv4Addr::new(a, b, c, d))
}

/// The wait after the `failed`-th failed attempt of a delivery: 5 seconds, 5 minutes, 30
/// minutes, 2 hours, 5 hours, then 10 hours, each stretched or shrunk by up to a tenth
/// (`jitter` in -1000..=1000 thousandths of that tenth), so endpoints that failed together
/// are not all tried again at the same instant.
pub fn backoff(failed: u32, jitter: i64) -> Duration {
    let base = match failed {
        0 | 1 => Duration::seconds(5),
        2 => Duration::minutes(5),
        3 => Duration::minutes(30),
        4 => Duration::hours(2),
        5 => Duration::hours(5),
        _ => Duration::hours(10),
    };
    let jitter = jitter.clamp(-1000, 1000);
    let millis = i64::try_from(base.whole_milliseconds()).unwrap_or(i64::MAX);
    // A tenth of the wait, scaled by the jitter in thousandths.
    Duration::milliseconds(millis + millis / 10 * jitter / 1000)
}

/// What becomes of a delivery after an attempt that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    /// Tried again then.
    RetryAt(OffsetDateTime),
    /// The endpoint has failed for [`GIVE_UP_AFTER`]: it is disabled, and the delivery waits
    /// for it to be enabled again.
    Disable,
}

/// After the `failed`-th failed attempt at `now` of a delivery first tried at `first`.
pub fn after_failure(
    first: OffsetDateTime,
    failed: u32,
    now: OffsetDateTime,
    jitter: i64,
) -> AfterFailure {
    if now - first >= GIVE_UP_AFTER {
        AfterFailure::Disable
    } else {
        AfterFailure::RetryAt(now + backoff(failed, jitter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn signatures_match_the_specification_example() {
        // The Standard Webhooks specification's own example (its README): this id,
        // timestamp, body and secret sign to this signature.
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_rotation_signs_with_both_secrets() {
        let new = Secret::from_key(&[7; 32]);
        let old = Secret::from_key(&[9; 32]);
        let header = signature_header(&[&new, &old], "evt_1", 1, "{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(
            parts,
            [new.sign("evt_1", 1, "{}"), old.sign("evt_1", 1, "{}")]
        );
        assert_ne!(parts[0], parts[1]);
        assert!(new.as_str().starts_with("whsec_"));
        assert_eq!(Secret::parse(new.as_str()).unwrap(), new);
        assert!(Secret::parse("whsec_c2hvcnQ=").is_err());
        assert_eq!(format!("{new:?}"), "Secret(..)");
    }

    #[test]
    fn targets_must_be_public_https_unless_private_ones_are_allowed() {
        for ok in [
            "https://hooks.example.com/billing",
            "https://93.184.216.34:8443/x",
            "https://[2606:2800:220:1::1]/x",
        ] {
            assert!(check_target(ok, false).is_ok(), "{ok}");
        }
        for (url, why) in [
            ("http://hooks.example.com/", TargetRefusal::Scheme),
            ("ftp://hooks.example.com/", TargetRefusal::Scheme),
            ("https://user:pw@hooks.example.com/", TargetRefusal::Shape),
            ("not a url", TargetRefusal::Shape),
            ("https://127.0.0.1/", TargetRefusal::Private),
            ("https://localhost/", TargetRefusal::Private),
            ("https://api.localhost/", TargetRefusal::Private),
            ("https://10.1.2.3/", TargetRefusal::Private),
            ("https://172.20.0.1/", TargetRefusal::Private),
            ("https://192.168.1.1/", TargetRefusal::Private),
            (
                "https://169.254.169.254/latest/meta-data",
                TargetRefusal::Private,
            ),
            ("https://100.64.0.1/", TargetRefusal::Private),
            ("https://0.0.0.0/", TargetRefusal::Private),
            ("https://[::1]/", TargetRefusal::Private),
            ("https://[fe80::1]/", TargetRefusal::Private),
            ("https://[fd00::1]/", TargetRefusal::Private),
            ("https://[::ffff:127.0.0.1]/", TargetRefusal::Private),
            ("https://[64:ff9b::a00:1]/", TargetRefusal::Private),
            ("https://2130706433/", TargetRefusal::Private), // 127.0.0.1 as one number
            ("https://metadata/", TargetRefusal::Private),
        ] {
            assert_eq!(check_target(url, false).err(), Some(why), "{url}");
        }
        assert!(check_target("http://127.0.0.1:9000/hook", true).is_ok());
        assert_eq!(
            check_target("ftp://127.0.0.1/", true).err(),
            Some(TargetRefusal::Scheme)
        );
    }

    #[test]
    fn backoff_grows_to_ten_hours_with_a_tenth_of_jitter() {
        assert_eq!(backoff(1, 0), Duration::seconds(5));
        assert_eq!(backoff(2, 0), Duration::minutes(5));
        assert_eq!(backoff(3, 0), Duration::minutes(30));
        assert_eq!(backoff(4, 0), Duration::hours(2));
        assert_eq!(backoff(5, 0), Duration::hours(5));
        assert_eq!(backoff(9, 0), Duration::hours(10));
        // 5 s + 10 % = 5.5 s; 10 h - 10 % = 9 h.
        assert_eq!(backoff(1, 1000), Duration::milliseconds(5_500));
        assert_eq!(backoff(7, -1000), Duration::hours(9));
        assert_eq!(backoff(7, -5000), Duration::hours(9));
    }

    #[test]
    fn three_days_of_failures_disable_the_endpoint_after_thirteen_attempts() {
        let first = datetime!(2026-12-01 00:00 UTC);
        let mut now = first;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            match after_failure(first, attempts, now, 0) {
                AfterFailure::RetryAt(next) => now = next,
                AfterFailure::Disable => break,
            }
        }
        // Waits of 5 s, 5 min, 30 min, 2 h, 5 h: the sixth attempt is at 7 h 35 min 5 s; then
        // 10 h apart: the seventh at 17 h 35 min 5 s, ..., the twelfth at 67 h 35 min 5 s,
        // the thirteenth at 77 h 35 min 5 s, past 72 h: it fails and disables the endpoint.
        assert_eq!(attempts, 13);
        assert_eq!(
            now - first,
            Duration::hours(77) + Duration::minutes(35) + Duration::seconds(5)
        );
    }
}
