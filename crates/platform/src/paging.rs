//! Pagination of listings held in memory: `MaxItems` checked against the operation's bound,
//! and a `Marker` that is the position of the next item.

use lamina_model::LambdaError;

/// The page size `max_items` asks for (50 when absent), at most `upper`.
pub(crate) fn page_size(max_items: Option<&str>, upper: usize) -> Result<usize, LambdaError> {
    match max_items {
        None => Ok(50.min(upper)),
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=upper).contains(n))
            .ok_or_else(|| {
                LambdaError::Validation(format!(
                    "1 validation error detected: Value '{s}' at 'maxItems' failed to satisfy \
                     constraint: Member must have value between 1 and {upper}"
                ))
            }),
    }
}

/// The page of `all` starting at `marker`, and the marker of the next page if any.
pub(crate) fn page<T: Clone>(
    all: Vec<T>,
    marker: Option<&str>,
    max: usize,
) -> Result<(Vec<T>, Option<String>), LambdaError> {
    let start = match marker.filter(|m| !m.is_empty()) {
        None => 0,
        Some(m) => m
            .parse::<usize>()
            .map_err(|_| LambdaError::InvalidParameterValue(format!("Invalid marker: {m}")))?,
    };
    let end = start.saturating_add(max).min(all.len());
    Ok((
        all.get(start..end).map(<[_]>::to_vec).unwrap_or_default(),
        (end < all.len()).then(|| end.to_string()),
    ))
}
