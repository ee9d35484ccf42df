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

impl PageRequest {
    /// For a list ordered by a sequence number (events, webhook deliveries): the number the
    /// page starts after.
    pub fn after_number(&self) -> Result<Option<i64>, crate::DomainError> {
        self.after
            .as_deref()
            .map(|after| {
                after
                    .parse::<i64>()
                    .map_err(|_| crate::DomainError::InvalidId("cursor"))
            })
            .transpose()
    }
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

    /// One page of items already read whole and sorted by `key` (a list short enough to read
    /// at once, such as an account's projects): those after the cursor, up to the limit.
    pub fn cut(items: Vec<T>, page: &PageRequest, key: impl Fn(&T) -> &str) -> Self {
        let after: Vec<T> = items
            .into_iter()
            .filter(|item| page.after.as_deref().is_none_or(|a| key(item) > a))
            .collect();
        Self::from_overfetch(after, page.limit)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_numbered_cursor_is_a_number() {
        let page = |after: Option<&str>| PageRequest {
            limit: 10,
            after: after.map(str::to_owned),
        };
        assert_eq!(page(None).after_number(), Ok(None));
        assert_eq!(page(Some("42")).after_number(), Ok(Some(42)));
        assert!(page(Some("evt_1")).after_number().is_err());
    }

    #[test]
    fn a_sorted_list_is_cut_after_the_cursor() {
        let items = vec!["a", "b", "c", "d"];
        let first = Page::cut(
            items.clone(),
            &PageRequest {
                limit: 2,
                after: None,
            },
            |s| s,
        );
        assert_eq!((first.items, first.has_more), (vec!["a", "b"], true));
        let next = PageRequest {
            limit: 2,
            after: Some("b".into()),
        };
        let second = Page::cut(items, &next, |s| s);
        assert_eq!((second.items, second.has_more), (vec!["c", "d"], false));
    }
}
