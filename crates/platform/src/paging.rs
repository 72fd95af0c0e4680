//! Listing a page of documents the way the JSON APIs page (`NextToken` is the key of the last
//! item given, so a page stays right when items are added or removed between calls).

/// The items after the key `token` (all when `None`), at most `max`, and the token of the
/// next page when more remain. `items` are sorted by key.
pub(crate) fn after<T>(
    items: Vec<(String, T)>,
    max: usize,
    token: Option<&str>,
) -> (Vec<T>, Option<String>) {
    let mut rest: Vec<(String, T)> = items
        .into_iter()
        .filter(|(k, _)| token.is_none_or(|t| k.as_str() > t))
        .collect();
    let next = (rest.len() > max && max > 0).then(|| rest[max - 1].0.clone());
    rest.truncate(max);
    (rest.into_iter().map(|(_, v)| v).collect(), next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_the_keys() {
        let items = || (1..=5).map(|i| (format!("k{i}"), i)).collect::<Vec<_>>();
        assert_eq!(after(items(), 2, None), (vec![1, 2], Some("k2".into())));
        assert_eq!(
            after(items(), 2, Some("k2")),
            (vec![3, 4], Some("k4".into()))
        );
        assert_eq!(after(items(), 2, Some("k4")), (vec![5], None));
        assert_eq!(after(items(), 5, None), (vec![1, 2, 3, 4, 5], None));
    }
}
