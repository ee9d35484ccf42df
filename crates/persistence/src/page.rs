//! Keyset pagination: every list is ordered by its key and read `limit + 1` rows at a time.

/// The largest page a client may ask for.
pub const MAX_PAGE_SIZE: u64 = 100;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// 1..=MAX_PAGE_SIZE rows.
    pub limit: u64,
    /// Return rows whose key sorts after this one.
    pub after: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_more: bool,
}

impl<T> Page<T> {
    /// Cuts a result of up to `limit + 1` rows into a page.
    pub fn from_overfetch(mut rows: Vec<T>, limit: u64) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        Page {
            items: rows,
            has_more,
        }
    }

    pub fn try_map<U, E>(self, f: impl FnMut(T) -> Result<U, E>) -> Result<Page<U>, E> {
        Ok(Page {
            items: self
                .items
                .into_iter()
                .map(f)
                .collect::<Result<Vec<_>, E>>()?,
            has_more: self.has_more,
        })
    }
}
