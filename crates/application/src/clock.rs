//! Time is injected: the app reads `now` from a [`Clock`]; tests and `billing run --as-of` set it.

use std::sync::{Arc, RwLock};

use billing_domain::instant::normalize;
use time::OffsetDateTime;

/// Every clock answers normalized instants (UTC, microseconds): what the databases store.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;
}

/// The wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        normalize(OffsetDateTime::now_utc())
    }
}

/// A clock that says what it is told.
#[derive(Clone, Debug)]
pub struct FixedClock(Arc<RwLock<OffsetDateTime>>);

impl FixedClock {
    pub fn new(now: OffsetDateTime) -> Self {
        Self(Arc::new(RwLock::new(normalize(now))))
    }

    pub fn set(&self, now: OffsetDateTime) {
        if let Ok(mut guard) = self.0.write() {
            *guard = normalize(now);
        }
    }

    /// Moves it on by `by`.
    pub fn advance(&self, by: time::Duration) {
        if let Ok(mut guard) = self.0.write() {
            *guard = normalize(*guard + by);
        }
    }
}

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        self.0
            .read()
            .map(|guard| *guard)
            .unwrap_or_else(|poisoned| *poisoned.into_inner())
    }
}
