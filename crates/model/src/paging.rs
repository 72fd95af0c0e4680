//! Pagination as Lambda's list operations take it: `Marker` and `MaxItems`, parsed once at
//! the edge into a [`Page`]; listings held in memory use a marker that is the position of
//! the next item.

use crate::LambdaError;

/// One page asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// Where the page starts (`Marker`); `None` for the first.
    pub marker: Option<String>,
    /// How many items at most (`MaxItems`), if given.
    pub max_items: Option<usize>,
}

impl Page {
    /// The page `Marker` and `MaxItems` ask for, for an operation whose `MaxItems` is between
    /// 1 and `upper` (botocore's bounds: 10,000 for functions, versions and aliases, 50 for
    /// layers and configurations).
    pub fn parse(
        marker: Option<&str>,
        max_items: Option<&str>,
        upper: usize,
    ) -> Result<Page, LambdaError> {
        let max_items = match max_items {
            None => None,
            Some(s) => Some(
                s.parse::<usize>()
                    .ok()
                    .filter(|n| (1..=upper).contains(n))
                    .ok_or_else(|| {
                        LambdaError::invalid_member(
                            Some(s),
                            "maxItems",
                            &format!("Member must have value between 1 and {upper}"),
                        )
                    })?,
            ),
        };
        Ok(Page {
            marker: marker.filter(|m| !m.is_empty()).map(String::from),
            max_items,
        })
    }

    /// Items to return: `MaxItems`, or `default` when absent, never more than `cap`.
    pub fn size(&self, default: usize, cap: usize) -> usize {
        self.max_items.unwrap_or(default).min(cap)
    }

    /// The page of `all` (held in memory, in order) whose marker is a position, with at most
    /// `size` items, and the marker of the next page if any.
    pub fn slice<T: Clone>(
        &self,
        all: Vec<T>,
        size: usize,
    ) -> Result<(Vec<T>, Option<String>), LambdaError> {
        let start = match &self.marker {
            None => 0,
            Some(m) => m
                .parse::<usize>()
                .map_err(|_| LambdaError::InvalidParameterValue(format!("Invalid marker: {m}")))?,
        };
        let end = start.saturating_add(size).min(all.len());
        Ok((
            all.get(start..end).map(<[_]>::to_vec).unwrap_or_default(),
            (end < all.len()).then(|| end.to_string()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_items_within_the_operations_bounds() {
        assert_eq!(Page::parse(None, None, 50).unwrap(), Page::default());
        let p = Page::parse(Some("4"), Some("50"), 50).unwrap();
        assert_eq!((p.marker.as_deref(), p.max_items), (Some("4"), Some(50)));
        for bad in ["0", "51", "-1", "x", ""] {
            let e = Page::parse(None, Some(bad), 50).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "1 validation error detected: Value '{bad}' at 'maxItems' failed to \
                     satisfy constraint: Member must have value between 1 and 50"
                )
            );
        }
        // An empty marker is the first page.
        assert_eq!(Page::parse(Some(""), None, 50).unwrap().marker, None);
    }

    #[test]
    fn pages_of_a_listing_in_memory() {
        let all: Vec<u32> = (0..5).collect();
        let first = Page::default();
        assert_eq!(
            first.slice(all.clone(), 2).unwrap(),
            (vec![0, 1], Some("2".into()))
        );
        let next = Page::parse(Some("2"), None, 50).unwrap();
        assert_eq!(
            next.slice(all.clone(), 2).unwrap(),
            (vec![2, 3], Some("4".into()))
        );
        let last = Page::parse(Some("4"), None, 50).unwrap();
        assert_eq!(last.slice(all.clone(), 2).unwrap(), (vec![4], None));
        let past = Page::parse(Some("9"), None, 50).unwrap();
        assert_eq!(past.slice(all.clone(), 2).unwrap(), (vec![], None));
        let bad = Page::parse(Some("abc"), None, 50).unwrap();
        assert!(matches!(
            bad.slice(all, 2),
            Err(LambdaError::InvalidParameterValue(_))
        ));
        assert_eq!(
            Page::parse(None, Some("70"), 10_000).unwrap().size(50, 50),
            50
        );
        assert_eq!(Page::default().size(50, 10_000), 50);
    }
}
