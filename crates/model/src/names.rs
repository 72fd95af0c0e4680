//! Function names as the API receives them: a plain name, `name:qualifier`, a partial ARN
//! (`123456789012:function:name`) or a full ARN, each possibly with a version or alias.
//! Also builds the ARNs the platform hands out, from the configured region and account.

use crate::LambdaError;
use crate::limits::FUNCTION_NAME_MAX_CHARS;

/// The region and account this server answers as; every ARN it hands out carries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// AWS region name, e.g. `us-east-1`.
    pub region: String,
    /// Twelve-digit account id.
    pub account: String,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            region: "us-east-1".into(),
            account: "000000000000".into(),
        }
    }
}

impl Identity {
    /// `arn:aws:lambda:REGION:ACCOUNT:function:NAME`.
    pub fn function_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{}",
            self.region, self.account, name
        )
    }

    /// The function ARN with `:QUALIFIER` appended.
    pub fn qualified_arn(&self, name: &str, qualifier: &str) -> String {
        format!("{}:{}", self.function_arn(name), qualifier)
    }
}

/// A parsed reference to a function, possibly qualified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    /// The bare function name.
    pub name: String,
    /// `$LATEST`, a version number or an alias, when the reference carried one.
    pub qualifier: Option<String>,
}

impl FunctionRef {
    /// Parses any of the accepted forms, checking the region and account of ARNs against
    /// `identity` (a function of another account is simply not found here).
    pub fn parse(input: &str, identity: &Identity) -> Result<FunctionRef, LambdaError> {
        let invalid = || {
            LambdaError::invalid_member(
                Some(input),
                "functionName",
                "Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?",
            )
        };
        if input.is_empty() || input.len() > 256 {
            return Err(invalid());
        }
        let parts: Vec<&str> = input.split(':').collect();
        let (region, account, name, qualifier) = match parts.as_slice() {
            [
                "arn",
                partition,
                "lambda",
                region,
                account,
                "function",
                name,
                qualifier @ ..,
            ] if qualifier.len() <= 1 => {
                check_partition(partition).ok_or_else(invalid)?;
                (
                    Some(*region),
                    Some(*account),
                    *name,
                    qualifier.first().copied(),
                )
            }
            [account, "function", name] => (None, Some(*account), *name, None),
            [account, "function", name, qualifier] => {
                (None, Some(*account), *name, Some(*qualifier))
            }
            [name] => (None, None, *name, None),
            [name, qualifier] => (None, None, *name, Some(*qualifier)),
            _ => return Err(invalid()),
        };
        if !valid_name(name) {
            return Err(invalid());
        }
        if let Some(account) = account
            && (account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(invalid());
        }
        if let Some(q) = qualifier
            && !valid_qualifier(q)
        {
            return Err(invalid());
        }
        let foreign = region.is_some_and(|r| r != identity.region)
            || account.is_some_and(|a| a != identity.account);
        if foreign {
            return Err(LambdaError::function_not_found(input));
        }
        Ok(FunctionRef {
            name: name.to_string(),
            qualifier: qualifier.map(str::to_string),
        })
    }

    /// Parses a reference and merges a separately given `?Qualifier=`; the two must agree.
    pub fn parse_with_qualifier(
        input: &str,
        query_qualifier: Option<&str>,
        identity: &Identity,
    ) -> Result<FunctionRef, LambdaError> {
        let mut r = FunctionRef::parse(input, identity)?;
        if let Some(q) = query_qualifier {
            if !valid_qualifier(q) {
                return Err(LambdaError::invalid_member(
                    Some(q),
                    "qualifier",
                    "Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)",
                ));
            }
            match &r.qualifier {
                Some(existing) if existing != q => {
                    return Err(LambdaError::InvalidParameterValue(
                        "The derived qualifier from the function name does not match the \
                         specified qualifier."
                            .into(),
                    ));
                }
                _ => r.qualifier = Some(q.to_string()),
            }
        }
        Ok(r)
    }

    /// True when the reference points at `$LATEST` (explicitly or by carrying no qualifier).
    pub fn is_latest(&self) -> bool {
        matches!(self.qualifier.as_deref(), None | Some("$LATEST"))
    }
}

fn check_partition(p: &str) -> Option<()> {
    (p.starts_with("aws") && p.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-')).then_some(())
}

/// `[a-zA-Z0-9-_]{1,64}`: the characters Lambda allows in a function name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= FUNCTION_NAME_MAX_CHARS
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn valid_qualifier(q: &str) -> bool {
    q == "$LATEST"
        || (!q.is_empty()
            && q.len() <= 128
            && q.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> Identity {
        Identity {
            region: "eu-west-1".into(),
            account: "123456789012".into(),
        }
    }

    #[test]
    fn accepts_every_form() {
        let want = FunctionRef {
            name: "my-fn".into(),
            qualifier: None,
        };
        assert_eq!(FunctionRef::parse("my-fn", &id()).unwrap(), want);
        assert_eq!(
            FunctionRef::parse("123456789012:function:my-fn", &id()).unwrap(),
            want
        );
        assert_eq!(
            FunctionRef::parse(
                "arn:aws:lambda:eu-west-1:123456789012:function:my-fn",
                &id()
            )
            .unwrap(),
            want
        );
        let q = FunctionRef::parse(
            "arn:aws:lambda:eu-west-1:123456789012:function:my-fn:$LATEST",
            &id(),
        )
        .unwrap();
        assert_eq!(q.qualifier.as_deref(), Some("$LATEST"));
        assert!(q.is_latest());
        let alias = FunctionRef::parse("my-fn:prod", &id()).unwrap();
        assert_eq!(alias.qualifier.as_deref(), Some("prod"));
        assert!(!alias.is_latest());
    }

    #[test]
    fn rejects_bad_names_with_validation_errors() {
        for bad in [
            "",
            "has space",
            "a:b:c:d:e",
            "x/y",
            &"n".repeat(65),
            "12:function:f",
        ] {
            let e = FunctionRef::parse(bad, &id()).unwrap_err();
            assert_eq!(e.error_type(), "ValidationException", "{bad}");
        }
    }

    #[test]
    fn foreign_account_is_not_found() {
        let e = FunctionRef::parse("arn:aws:lambda:eu-west-1:999999999999:function:f", &id())
            .unwrap_err();
        assert_eq!(e.error_type(), "ResourceNotFoundException");
    }

    #[test]
    fn query_qualifier_must_agree() {
        assert!(FunctionRef::parse_with_qualifier("f:1", Some("2"), &id()).is_err());
        let r = FunctionRef::parse_with_qualifier("f", Some("$LATEST"), &id()).unwrap();
        assert!(r.is_latest());
    }

    #[test]
    fn builds_arns() {
        assert_eq!(
            id().function_arn("f"),
            "arn:aws:lambda:eu-west-1:123456789012:function:f"
        );
        assert_eq!(
            id().qualified_arn("f", "$LATEST"),
            "arn:aws:lambda:eu-west-1:123456789012:function:f:$LATEST"
        );
    }
}
