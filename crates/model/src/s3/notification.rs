//! A bucket's notification configuration (PutBucketNotificationConfiguration's
//! LambdaFunctionConfigurations and QueueConfigurations), S3's checks of it, and which of its
//! rules an event matches.
//!
//! Key filters compare with the key as the event record carries it (URL-encoded, a space as
//! `+`), as S3 documents: a prefix with a space is written with `+`.

use serde::{Deserialize, Serialize};

use super::{Destination, encode_key};

/// The event types S3 accepts in a configuration (botocore's `Event` enum).
pub const EVENT_TYPES: &[&str] = &[
    "s3:ReducedRedundancyLostObject",
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectRestore:*",
    "s3:ObjectRestore:Post",
    "s3:ObjectRestore:Completed",
    "s3:ObjectRestore:Delete",
    "s3:Replication:*",
    "s3:Replication:OperationFailedReplication",
    "s3:Replication:OperationNotTracked",
    "s3:Replication:OperationMissedThreshold",
    "s3:Replication:OperationReplicatedAfterThreshold",
    "s3:LifecycleTransition",
    "s3:IntelligentTiering",
    "s3:ObjectAcl:Put",
    "s3:LifecycleExpiration:*",
    "s3:LifecycleExpiration:Delete",
    "s3:LifecycleExpiration:DeleteMarkerCreated",
    "s3:ObjectTagging:*",
    "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete",
];

/// A rule of a key filter: `Prefix` or `Suffix` and its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterRule {
    pub name: String,
    pub value: String,
}

/// One configuration of a bucket: which events, under which key filter, go where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    pub destination: Destination,
    pub events: Vec<String>,
    #[serde(default)]
    pub filter: Vec<FilterRule>,
}

/// A bucket's notification configuration, as Lamina keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationConfig {
    pub rules: Vec<Rule>,
}

impl NotificationConfig {
    /// Its form in the store.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Read back from the store (empty if there is none or it cannot be read).
    pub fn from_json(s: Option<&str>) -> NotificationConfig {
        s.and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default()
    }

    /// S3's checks, with S3's messages for its `InvalidArgument`: known event types, filters
    /// of at most one prefix and one suffix (names in any case, kept as `Prefix` and
    /// `Suffix`), unique ids (a missing one is made), and no two rules sharing an event type
    /// for keys both filters admit.
    pub fn check(&mut self, new_id: impl Fn() -> String) -> Result<(), String> {
        let mut ids = std::collections::HashSet::new();
        for rule in &mut self.rules {
            if rule.id.is_empty() {
                rule.id = new_id();
            }
            if rule.id.len() > 1024 {
                return Err(
                    "The ID of a configuration cannot be longer than 1024 characters".into(),
                );
            }
            if !ids.insert(rule.id.clone()) {
                return Err("Same ID used for multiple configurations".into());
            }
            if rule.events.is_empty() {
                return Err("A configuration must name at least one event".into());
            }
            if let Some(e) = rule
                .events
                .iter()
                .find(|e| !EVENT_TYPES.contains(&e.as_str()))
            {
                return Err(format!("The event is not supported for notifications: {e}"));
            }
            let (mut prefixes, mut suffixes) = (0, 0);
            for f in &mut rule.filter {
                match f.name.to_ascii_lowercase().as_str() {
                    "prefix" => {
                        f.name = "Prefix".into();
                        prefixes += 1;
                    }
                    "suffix" => {
                        f.name = "Suffix".into();
                        suffixes += 1;
                    }
                    _ => {
                        return Err("filter rule name must be either prefix or suffix".to_string());
                    }
                }
                if f.value.len() > 1024 {
                    return Err(
                        "The value of a filter rule cannot be longer than 1024 characters".into(),
                    );
                }
            }
            if prefixes > 1 {
                return Err("Cannot specify more than one prefix rule in a filter.".into());
            }
            if suffixes > 1 {
                return Err("Cannot specify more than one suffix rule in a filter.".into());
            }
        }
        for (i, a) in self.rules.iter().enumerate() {
            for b in &self.rules[i + 1..] {
                if overlap(a, b) {
                    return Err("Configurations overlap. Configurations on the same bucket \
                                cannot share a common event type."
                        .into());
                }
            }
        }
        Ok(())
    }

    /// The rules an event (`s3:ObjectCreated:Put`, …) on `key` matches.
    pub fn matching<'a>(&'a self, event: &'a str, key: &str) -> impl Iterator<Item = &'a Rule> {
        let encoded = encode_key(key);
        self.rules.iter().filter(move |r| {
            r.events.iter().any(|e| covers(e, event))
                && r.prefix().is_none_or(|p| encoded.starts_with(p))
                && r.suffix().is_none_or(|s| encoded.ends_with(s))
        })
    }
}

impl Rule {
    fn rule(&self, name: &str) -> Option<&str> {
        self.filter
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.value.as_str())
    }

    /// The key prefix it admits, if it filters by one.
    pub fn prefix(&self) -> Option<&str> {
        self.rule("prefix")
    }

    /// The key suffix it admits, if it filters by one.
    pub fn suffix(&self) -> Option<&str> {
        self.rule("suffix")
    }
}

/// Whether the configured `pattern` (`s3:ObjectCreated:*` or an exact type) covers `event`.
pub fn covers(pattern: &str, event: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(family) => event.starts_with(family),
        None => pattern == event,
    }
}

/// Two rules overlap when an event type of one covers one of the other (or the reverse) and
/// some key passes both filters: prefixes where one starts the other, suffixes where one
/// ends the other (an absent rule admits every key).
fn overlap(a: &Rule, b: &Rule) -> bool {
    let shared = a
        .events
        .iter()
        .any(|x| b.events.iter().any(|y| covers(x, y) || covers(y, x)));
    let prefixes = match (a.prefix(), b.prefix()) {
        (Some(x), Some(y)) => x.starts_with(y) || y.starts_with(x),
        _ => true,
    };
    let suffixes = match (a.suffix(), b.suffix()) {
        (Some(x), Some(y)) => x.ends_with(y) || y.ends_with(x),
        _ => true,
    };
    shared && prefixes && suffixes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, events: &[&str], prefix: Option<&str>, suffix: Option<&str>) -> Rule {
        let mut filter = Vec::new();
        if let Some(p) = prefix {
            filter.push(FilterRule {
                name: "prefix".into(),
                value: p.into(),
            });
        }
        if let Some(s) = suffix {
            filter.push(FilterRule {
                name: "Suffix".into(),
                value: s.into(),
            });
        }
        Rule {
            id: id.into(),
            destination: Destination::Function("arn:aws:lambda:us-east-1:1:function:f".into()),
            events: events.iter().map(|e| e.to_string()).collect(),
            filter,
        }
    }

    fn checked(rules: Vec<Rule>) -> Result<NotificationConfig, String> {
        let mut c = NotificationConfig { rules };
        c.check(|| "made".to_string()).map(|_| c)
    }

    #[test]
    fn wildcards_cover_their_family() {
        assert!(covers("s3:ObjectCreated:*", "s3:ObjectCreated:Put"));
        assert!(covers(
            "s3:ObjectCreated:*",
            "s3:ObjectCreated:CompleteMultipartUpload"
        ));
        assert!(!covers("s3:ObjectCreated:*", "s3:ObjectRemoved:Delete"));
        assert!(covers("s3:ObjectRemoved:Delete", "s3:ObjectRemoved:Delete"));
        assert!(!covers("s3:ObjectCreated:Put", "s3:ObjectCreated:Copy"));
    }

    #[test]
    fn overlapping_rules_are_refused_as_s3_refuses_them() {
        let created = ["s3:ObjectCreated:*"];
        let put = ["s3:ObjectCreated:Put"];
        let removed = ["s3:ObjectRemoved:*"];
        let cases: &[(Rule, Rule, bool)] = &[
            // The same events, no filters: overlap.
            (
                rule("a", &created, None, None),
                rule("b", &put, None, None),
                true,
            ),
            // Other events: none.
            (
                rule("a", &created, None, None),
                rule("b", &removed, None, None),
                false,
            ),
            // Disjoint prefixes: none.
            (
                rule("a", &created, Some("img/"), None),
                rule("b", &put, Some("doc/"), None),
                false,
            ),
            // One prefix inside the other: overlap.
            (
                rule("a", &created, Some("img/"), None),
                rule("b", &put, Some("img/raw/"), None),
                true,
            ),
            // Disjoint suffixes: none, even without prefixes.
            (
                rule("a", &created, None, Some(".jpg")),
                rule("b", &put, None, Some(".png")),
                false,
            ),
            // Suffix inside the other: overlap.
            (
                rule("a", &created, None, Some(".jpg")),
                rule("b", &put, None, Some("x.jpg")),
                true,
            ),
            // A prefix on one, a suffix on the other: some key has both.
            (
                rule("a", &created, Some("img/"), None),
                rule("b", &put, None, Some(".jpg")),
                true,
            ),
        ];
        for (a, b, overlaps) in cases {
            let result = checked(vec![a.clone(), b.clone()]);
            assert_eq!(result.is_err(), *overlaps, "{a:?} {b:?}: {result:?}");
            if *overlaps {
                assert!(result.unwrap_err().starts_with("Configurations overlap"));
            }
        }
    }

    #[test]
    fn checks_names_events_filters_and_ids() {
        let bad_event = checked(vec![rule("a", &["s3:ObjectCreated:Paste"], None, None)]);
        assert!(bad_event.unwrap_err().contains("not supported"));
        let mut two_prefixes = rule("a", &["s3:ObjectCreated:*"], Some("a"), None);
        two_prefixes.filter.push(FilterRule {
            name: "PREFIX".into(),
            value: "b".into(),
        });
        assert_eq!(
            checked(vec![two_prefixes]).unwrap_err(),
            "Cannot specify more than one prefix rule in a filter."
        );
        let mut odd = rule("a", &["s3:ObjectCreated:*"], None, None);
        odd.filter.push(FilterRule {
            name: "regex".into(),
            value: ".*".into(),
        });
        assert!(checked(vec![odd]).is_err());
        let twice = checked(vec![
            rule("same", &["s3:ObjectCreated:*"], None, None),
            rule("same", &["s3:ObjectRemoved:*"], None, None),
        ]);
        assert!(twice.is_err());
        let c = checked(vec![rule(
            "",
            &["s3:ObjectCreated:*"],
            Some("p/"),
            Some(".txt"),
        )])
        .unwrap();
        assert_eq!(c.rules[0].id, "made");
        let names: Vec<&str> = c.rules[0].filter.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["Prefix", "Suffix"]);
    }

    #[test]
    fn events_match_rules_by_type_and_encoded_key() {
        let c = checked(vec![
            rule(
                "jpg",
                &["s3:ObjectCreated:*"],
                Some("in+box/"),
                Some(".jpg"),
            ),
            rule("gone", &["s3:ObjectRemoved:Delete"], None, None),
        ])
        .unwrap();
        let ids = |event: &str, key: &str| -> Vec<String> {
            c.matching(event, key).map(|r| r.id.clone()).collect()
        };
        assert_eq!(ids("s3:ObjectCreated:Put", "in box/a.jpg"), ["jpg"]);
        assert!(ids("s3:ObjectCreated:Put", "in box/a.png").is_empty());
        assert!(ids("s3:ObjectCreated:Put", "inbox/a.jpg").is_empty());
        assert_eq!(ids("s3:ObjectRemoved:Delete", "in box/a.png"), ["gone"]);
        assert!(ids("s3:ObjectRemoved:DeleteMarkerCreated", "x").is_empty());
    }

    #[test]
    fn round_trips_through_the_store() {
        let c = checked(vec![rule("a", &["s3:ObjectCreated:*"], Some("p"), None)]).unwrap();
        assert_eq!(NotificationConfig::from_json(Some(&c.to_json())), c);
        assert_eq!(
            NotificationConfig::from_json(None),
            NotificationConfig::default()
        );
    }
}
