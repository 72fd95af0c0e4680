//! Runtime identifiers as the API names them (`python3.12`, `nodejs20.x`, `provided.al2023`),
//! classified into the families Lamina knows how to run.

use std::fmt;

/// Every `Runtime` value of the Lambda API model; anything else fails validation.
pub const LAMBDA_RUNTIMES: &[&str] = &[
    "nodejs",
    "nodejs4.3",
    "nodejs6.10",
    "nodejs8.10",
    "nodejs10.x",
    "nodejs12.x",
    "nodejs14.x",
    "nodejs16.x",
    "java8",
    "java8.al2",
    "java11",
    "python2.7",
    "python3.6",
    "python3.7",
    "python3.8",
    "python3.9",
    "dotnetcore1.0",
    "dotnetcore2.0",
    "dotnetcore2.1",
    "dotnetcore3.1",
    "dotnet6",
    "dotnet8",
    "nodejs4.3-edge",
    "go1.x",
    "ruby2.5",
    "ruby2.7",
    "provided",
    "provided.al2",
    "nodejs18.x",
    "python3.10",
    "java17",
    "ruby3.2",
    "ruby3.3",
    "ruby3.4",
    "python3.11",
    "nodejs20.x",
    "provided.al2023",
    "python3.12",
    "java21",
    "python3.13",
    "nodejs22.x",
    "nodejs24.x",
    "python3.14",
    "java25",
    "dotnet10",
    "ruby4.0",
];

/// A runtime identifier sorted into the family that decides how an environment starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuntimeId {
    /// `python3.N`: Lamina's Python bootstrap under a host CPython 3.N.
    Python {
        /// The minor version N.
        minor: u32,
    },
    /// `nodejsN.x`: Lamina's Node bootstrap under a host Node.js N.
    Node {
        /// The major version N.
        major: u32,
    },
    /// `javaN`: Lamina's Java runtime under a JVM of major version N.
    Java {
        /// The major version N (11, 17, 21, 25).
        major: u32,
    },
    /// `rubyX.Y`: Lamina's Ruby bootstrap under a host Ruby X.Y (or a stand-in of the same
    /// major version, named as what it is).
    Ruby {
        /// The major version X.
        major: u32,
        /// The minor version Y.
        minor: u32,
    },
    /// `provided`, `provided.al2`, `provided.al2023`: the package's own `bootstrap`.
    Provided(ProvidedFlavor),
}

/// Which of the OS-only runtime names was asked for; they run identically here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProvidedFlavor {
    /// `provided`
    Al1,
    /// `provided.al2`
    Al2,
    /// `provided.al2023`
    Al2023,
}

impl RuntimeId {
    /// Classifies an API runtime name; `None` for names Lamina cannot run (.NET, Java 8, Ruby
    /// 2, old Node and Python) or that are not runtimes at all.
    pub fn parse(s: &str) -> Option<RuntimeId> {
        match s {
            "provided" => return Some(RuntimeId::Provided(ProvidedFlavor::Al1)),
            "provided.al2" => return Some(RuntimeId::Provided(ProvidedFlavor::Al2)),
            "provided.al2023" => return Some(RuntimeId::Provided(ProvidedFlavor::Al2023)),
            _ => {}
        }
        if let Some(minor) = s.strip_prefix("python3.") {
            return minor
                .parse()
                .ok()
                .filter(|m| *m >= 8)
                .map(|minor| RuntimeId::Python { minor });
        }
        if let Some(major) = s.strip_prefix("java") {
            // Lamina's Java runtime is compiled for Java 11 and later; java8 is not offered.
            return major
                .parse()
                .ok()
                .filter(|m| *m >= 11)
                .map(|major| RuntimeId::Java { major });
        }
        if let Some((major, minor)) = s.strip_prefix("ruby").and_then(|v| v.split_once('.')) {
            return match (major.parse(), minor.parse()) {
                (Ok(major), Ok(minor)) if major >= 3 => Some(RuntimeId::Ruby { major, minor }),
                _ => None,
            };
        }
        if let Some(major) = s.strip_prefix("nodejs").and_then(|r| r.strip_suffix(".x")) {
            return major
                .parse()
                .ok()
                .filter(|m| *m >= 16)
                .map(|major| RuntimeId::Node { major });
        }
        None
    }

    /// Whether the name appears in the Lambda API's runtime enumeration.
    pub fn is_lambda_runtime(s: &str) -> bool {
        LAMBDA_RUNTIMES.contains(&s)
    }

    /// `AWS_EXECUTION_ENV` for managed runtimes (`AWS_Lambda_python3.12`); none for `provided`.
    pub fn execution_env(&self) -> Option<String> {
        match self {
            RuntimeId::Provided(_) => None,
            other => Some(format!("AWS_Lambda_{other}")),
        }
    }
}

impl fmt::Display for RuntimeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeId::Python { minor } => write!(f, "python3.{minor}"),
            RuntimeId::Node { major } => write!(f, "nodejs{major}.x"),
            RuntimeId::Java { major } => write!(f, "java{major}"),
            RuntimeId::Ruby { major, minor } => write!(f, "ruby{major}.{minor}"),
            RuntimeId::Provided(ProvidedFlavor::Al1) => f.write_str("provided"),
            RuntimeId::Provided(ProvidedFlavor::Al2) => f.write_str("provided.al2"),
            RuntimeId::Provided(ProvidedFlavor::Al2023) => f.write_str("provided.al2023"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_and_round_trips() {
        for s in [
            "python3.12",
            "nodejs20.x",
            "java21",
            "ruby3.3",
            "ruby4.0",
            "provided",
            "provided.al2",
            "provided.al2023",
        ] {
            assert_eq!(RuntimeId::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(RuntimeId::parse("java8.al2"), None);
        assert_eq!(RuntimeId::parse("java8"), None);
        assert_eq!(RuntimeId::parse("ruby2.7"), None);
        assert_eq!(RuntimeId::parse("ruby3"), None);
        assert_eq!(RuntimeId::parse("python2.7"), None);
        assert!(RuntimeId::is_lambda_runtime("java21"));
        assert!(!RuntimeId::is_lambda_runtime("cobol"));
        assert_eq!(
            RuntimeId::parse("python3.11")
                .unwrap()
                .execution_env()
                .as_deref(),
            Some("AWS_Lambda_python3.11")
        );
        assert_eq!(
            RuntimeId::parse("provided.al2023").unwrap().execution_env(),
            None
        );
    }
}
