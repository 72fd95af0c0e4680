//! What the executor is told of provisioned concurrency: each published version's target,
//! from the settings on versions and aliases (an alias's count split between its versions by
//! weight), whenever a function's entry is replaced; in a cluster, this node's part of it,
//! spread evenly over the live nodes and spread again when they change.

use std::collections::BTreeMap;
use std::sync::Arc;

use lamina_executor::{Executor, FunctionVersion};
use lamina_model::provisioned::ProvisionedSetting;

use crate::cached::Cached;

/// The versions a qualifier's provisioned concurrency goes to, with their shares.
pub(crate) fn shares(entry: &Cached, qualifier: &str, requested: u32) -> Vec<(u64, u32)> {
    if let Ok(n) = qualifier.parse::<u64>() {
        return vec![(n, requested)];
    }
    let Some(alias) = entry.config.aliases.get(qualifier) else {
        return Vec::new();
    };
    let Ok(primary) = alias.function_version.parse::<u64>() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut rest = requested;
    for (version, weight) in &alias.additional_weights {
        if let Ok(n) = version.parse::<u64>() {
            let share = ((f64::from(requested) * weight).round() as u32).min(rest);
            rest -= share;
            out.push((n, share));
        }
    }
    out.insert(0, (primary, rest));
    out
}

/// The settings of a function whose qualifier still names something: a deleted version's
/// setting stays in the record but no longer counts.
pub(crate) fn live_settings(
    entry: &Cached,
) -> impl Iterator<Item = (&String, &ProvisionedSetting)> {
    entry
        .config
        .provisioned_concurrency
        .iter()
        .filter(|(q, _)| {
            q.parse::<u64>().map_or_else(
                |_| entry.config.aliases.contains_key(*q),
                |n| entry.published.contains_key(&n),
            )
        })
}

/// This node's part of a count spread over `of` nodes, it being the `index`th (by id): an
/// even part each, the first nodes taking one more of what does not divide.
pub(crate) fn part(count: usize, (index, of): (usize, usize)) -> usize {
    let of = of.max(1);
    count / of + usize::from(index < count % of)
}

/// Hands the executor this node's part (`share`: its index among the live nodes, and
/// their number) of the provisioned concurrency of each version of `entry`.
pub(crate) fn sync(executor: &Executor, entry: &Cached, share: (usize, usize)) {
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    for (qualifier, setting) in live_settings(entry) {
        for (version, share) in shares(entry, qualifier, setting.requested) {
            *counts.entry(version).or_default() += share as usize;
        }
    }
    let targets: Vec<(Arc<FunctionVersion>, usize)> = counts
        .into_iter()
        .map(|(n, count)| (n, part(count, share)))
        .filter(|(_, n)| *n > 0)
        .filter_map(|(n, count)| {
            let version = entry.published.get(&n)?.version.clone()?;
            Some((version, count))
        })
        .collect();
    executor.set_provisioned(&entry.config.name, targets);
}

#[cfg(test)]
mod tests {
    use super::part;

    #[test]
    fn a_count_is_spread_evenly_and_whole() {
        for count in 0..20 {
            for of in 1..5 {
                let parts: Vec<usize> = (0..of).map(|i| part(count, (i, of))).collect();
                assert_eq!(parts.iter().sum::<usize>(), count, "{count} over {of}");
                assert!(parts.iter().max().unwrap() - parts.iter().min().unwrap() <= 1);
            }
        }
        assert_eq!(part(5, (0, 1)), 5);
    }
}
