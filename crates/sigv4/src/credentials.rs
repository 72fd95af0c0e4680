//! Access keys in the AWS shared-credentials format (`~/.aws/credentials`: INI sections
//! with `aws_access_key_id` and `aws_secret_access_key`): the server's key ring
//! (`lamina serve --credentials FILE`), and the key the CLI signs with, found as the AWS
//! SDKs find it (environment, then the profile in the credentials and config files).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// An access key and its secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `aws_access_key_id`.
    pub access_key_id: String,
    /// `aws_secret_access_key`.
    pub secret_access_key: String,
    /// `aws_session_token`, for temporary keys (sent, not checked, by Lamina).
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a secret.
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Why a credentials file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// It cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A line is neither a section, a `key = value` nor a comment.
    #[error("line {line}: expected `[name]` or `key = value`, got {text:?}")]
    Syntax {
        /// 1-based.
        line: usize,
        /// What it says.
        text: String,
    },
    /// A section names a key without its secret, or a secret without its key.
    #[error("[{0}] needs both aws_access_key_id and aws_secret_access_key")]
    Incomplete(String),
    /// Nothing to check signatures against.
    #[error("no access keys: add a section with aws_access_key_id and aws_secret_access_key")]
    Empty,
}

/// An INI section: its name and its keys (names lower-cased).
type Section = (String, HashMap<String, String>);

/// The sections of an INI text, in order.
fn sections(text: &str) -> Result<Vec<Section>, CredentialsError> {
    let mut out: Vec<Section> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            out.push((name.trim().to_string(), HashMap::new()));
            continue;
        }
        let syntax = || CredentialsError::Syntax {
            line: i + 1,
            text: raw.to_string(),
        };
        let (k, v) = line.split_once('=').ok_or_else(syntax)?;
        let (_, section) = out.last_mut().ok_or_else(syntax)?;
        section.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    Ok(out)
}

fn credentials_of(
    name: &str,
    keys: &HashMap<String, String>,
) -> Result<Option<Credentials>, CredentialsError> {
    match (
        keys.get("aws_access_key_id"),
        keys.get("aws_secret_access_key"),
    ) {
        (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => Ok(Some(Credentials {
            access_key_id: id.clone(),
            secret_access_key: secret.clone(),
            session_token: keys.get("aws_session_token").cloned(),
        })),
        (None, None) => Ok(None),
        _ => Err(CredentialsError::Incomplete(name.to_string())),
    }
}

/// The access keys a server accepts signatures from.
#[derive(Clone, Default)]
pub struct KeyRing {
    secrets: HashMap<String, String>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("keys", &self.secrets.len())
            .finish()
    }
}

impl KeyRing {
    /// Every key of every section of a shared-credentials text.
    pub fn parse(text: &str) -> Result<KeyRing, CredentialsError> {
        let mut secrets = HashMap::new();
        for (name, keys) in sections(text)? {
            if let Some(c) = credentials_of(&name, &keys)? {
                secrets.insert(c.access_key_id, c.secret_access_key);
            }
        }
        if secrets.is_empty() {
            return Err(CredentialsError::Empty);
        }
        Ok(KeyRing { secrets })
    }

    /// [`parse`](KeyRing::parse) of a file.
    pub fn load(path: &Path) -> Result<KeyRing, CredentialsError> {
        let text = std::fs::read_to_string(path).map_err(|source| CredentialsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        KeyRing::parse(&text)
    }

    /// The secret of `access_key`, if it is one of the ring's.
    pub fn secret(&self, access_key: &str) -> Option<&str> {
        self.secrets.get(access_key).map(String::as_str)
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    /// Whether it holds none (never, once parsed).
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }
}

/// The named profile's key in a credentials text (`[name]`) or a config text
/// (`[profile name]`, or `[default]`).
pub fn profile(text: &str, name: &str) -> Result<Option<Credentials>, CredentialsError> {
    let wanted = [name.to_string(), format!("profile {name}")];
    for (section, keys) in sections(text)? {
        if wanted.contains(&section) {
            return credentials_of(&section, &keys);
        }
    }
    Ok(None)
}

/// The key the AWS SDKs would sign with, from what `var` gives for an environment variable:
/// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (with `AWS_SESSION_TOKEN`), else the
/// profile `AWS_PROFILE` (or `default`) of `AWS_SHARED_CREDENTIALS_FILE` (or
/// `~/.aws/credentials`), then of `AWS_CONFIG_FILE` (or `~/.aws/config`). `None` when
/// there is none anywhere.
pub fn from_environment(
    var: impl Fn(&str) -> Option<String>,
) -> Result<Option<Credentials>, CredentialsError> {
    let var = |k: &str| var(k).filter(|v| !v.is_empty());
    if let (Some(id), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        return Ok(Some(Credentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: var("AWS_SESSION_TOKEN"),
        }));
    }
    let name = var("AWS_PROFILE")
        .or_else(|| var("AWS_DEFAULT_PROFILE"))
        .unwrap_or_else(|| "default".into());
    let home = var("HOME").map(PathBuf::from);
    let file = |env: &str, default: &str| {
        var(env)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
    };
    for path in [
        file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
        file("AWS_CONFIG_FILE", "config"),
    ]
    .into_iter()
    .flatten()
    {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if let Some(c) = profile(&text, &name)? {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# keys of the team
[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key = s3cr3t/+default

[ci]
aws_access_key_id=AKIDCI
aws_secret_access_key=ci-secret
aws_session_token = tok
; a profile with settings only
[profile tools]
region = eu-west-1
";

    #[test]
    fn every_section_with_a_key_is_in_the_ring() {
        let ring = KeyRing::parse(FILE).unwrap();
        assert_eq!(ring.len(), 2);
        assert_eq!(ring.secret("AKIDDEFAULT"), Some("s3cr3t/+default"));
        assert_eq!(ring.secret("AKIDCI"), Some("ci-secret"));
        assert_eq!(ring.secret("AKIDOTHER"), None);
        assert!(!format!("{ring:?}").contains("secret"));
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        assert!(matches!(
            KeyRing::parse("[a]\naws_access_key_id = X\n"),
            Err(CredentialsError::Incomplete(s)) if s == "a"
        ));
        assert!(matches!(
            KeyRing::parse("[a]\njust words\n"),
            Err(CredentialsError::Syntax { line: 2, .. })
        ));
        assert!(matches!(
            KeyRing::parse("key = outside any section\n"),
            Err(CredentialsError::Syntax { line: 1, .. })
        ));
        assert!(matches!(
            KeyRing::parse("# nothing\n"),
            Err(CredentialsError::Empty)
        ));
    }

    #[test]
    fn the_sdks_order_environment_then_profiles() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let c = from_environment(env(&[
            ("AWS_ACCESS_KEY_ID", "AKIDENV"),
            ("AWS_SECRET_ACCESS_KEY", "env-secret"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(c.access_key_id, "AKIDENV");
        let dir = std::env::temp_dir().join(format!("lamina-creds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("credentials");
        std::fs::write(&path, FILE).unwrap();
        let path: &'static str = Box::leak(path.display().to_string().into_boxed_str());
        let pairs: &'static [(&'static str, &'static str)] = Box::leak(Box::new([
            ("AWS_SHARED_CREDENTIALS_FILE", path),
            ("AWS_PROFILE", "ci"),
            ("AWS_CONFIG_FILE", "/nonexistent"),
        ]));
        let c = from_environment(env(pairs)).unwrap().unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.session_token.as_deref()),
            ("AKIDCI", Some("tok"))
        );
        assert_eq!(
            profile(FILE, "tools").unwrap(),
            None,
            "a profile without keys has none"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
