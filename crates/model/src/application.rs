//! An application deployed from a template: what each of its resources became on the
//! server, so the next deploy of the template changes only what changed and `lamina delete`
//! removes what it made. Kept by the server (`/_lamina/applications/{name}`), so any
//! machine, and any node of a cluster, sees the same record.

use serde::{Deserialize, Serialize};

/// What the last deploy of an application made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Record {
    /// The application's name (the template's stack name).
    pub name: String,
    /// When it was last deployed (RFC 3339).
    #[serde(default)]
    pub updated: String,
    /// Its resources, in the order they were made.
    #[serde(default)]
    pub resources: Vec<Recorded>,
}

/// One resource of an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Recorded {
    /// `Kind:LogicalId` (`Function:Api`, `Rule:Api.Nightly`, `Notification:Uploads`).
    pub key: String,
    /// What identifies it on the server: a function's or queue's name, a layer version's
    /// ARN, a mapping's UUID, `bus/rule`, `group/schedule`.
    pub physical: String,
    /// A digest of what it was made from, to tell whether the template changed it.
    pub digest: String,
}

/// `GET /_lamina/applications`'s answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Applications {
    pub applications: Vec<Record>,
}

/// A name an application may have: what CloudFormation allows of a stack name.
pub fn valid_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_stack_names() {
        assert!(super::valid_name("my-app-2"));
        assert!(!super::valid_name("2app"));
        assert!(!super::valid_name("my_app"));
        assert!(!super::valid_name(""));
    }
}
