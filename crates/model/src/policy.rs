//! A function's resource-based policy: the statements AddPermission adds, in the JSON shape
//! AWS returns from GetPolicy. Stored and returned; enforcement comes with authentication.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::LambdaError;

/// AddPermission's body (the qualifier and the function come from the path and query).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddPermissionRequest {
    /// Unique within the policy.
    pub statement_id: Option<String>,
    /// `lambda:InvokeFunction`, `lambda:GetFunction`, `lambda:*`, ...
    pub action: Option<String>,
    /// A service (`s3.amazonaws.com`), an account id, an ARN, or `*`.
    pub principal: Option<String>,
    /// Condition: the calling resource.
    pub source_arn: Option<String>,
    /// Condition: the account of the calling resource.
    pub source_account: Option<String>,
    /// Condition: Alexa's event source token.
    pub event_source_token: Option<String>,
    /// Condition: the principal's organisation.
    #[serde(rename = "PrincipalOrgID")]
    pub principal_org_id: Option<String>,
    /// Condition: `NONE` or `AWS_IAM`, for function URLs.
    pub function_url_auth_type: Option<String>,
    /// Optimistic lock on the policy.
    pub revision_id: Option<String>,
}

/// The policy of one function (or of one of its qualifiers): its statements, and a revision
/// that changes whenever a statement is added or removed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Statements in the order they were added.
    pub statements: Vec<Value>,
    /// Changes on every change of the statements.
    pub revision_id: String,
}

impl Policy {
    /// The policy document GetPolicy returns, as a JSON string.
    pub fn document(&self) -> String {
        json!({"Version": "2012-10-17", "Id": "default", "Statement": self.statements}).to_string()
    }

    /// Whether a statement with this id exists.
    pub fn has(&self, sid: &str) -> bool {
        self.statements.iter().any(|s| s["Sid"] == sid)
    }

    /// Removes the statement `sid`; false if there was none.
    pub fn remove(&mut self, sid: &str) -> bool {
        let before = self.statements.len();
        self.statements.retain(|s| s["Sid"] != sid);
        before != self.statements.len()
    }
}

fn required<'a>(value: &'a Option<String>, field: &str) -> Result<&'a str, LambdaError> {
    value
        .as_deref()
        .ok_or_else(|| LambdaError::null_member(field))
}

/// Builds the statement AddPermission adds for `req` on `resource` (a function ARN, qualified
/// when the permission is for a version or alias), checking its fields as Lambda does.
pub fn statement(req: &AddPermissionRequest, resource: &str) -> Result<Value, LambdaError> {
    let sid = required(&req.statement_id, "statementId")?;
    if sid.is_empty()
        || sid.len() > 100
        || !sid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(LambdaError::invalid_member(
            Some(sid),
            "statementId",
            "Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+) and have length between 1 and 100",
        ));
    }
    let action = required(&req.action, "action")?;
    let action_ok = action == "*"
        || action.strip_prefix("lambda:").is_some_and(|a| {
            a == "*" || (!a.is_empty() && a.bytes().all(|b| b.is_ascii_alphabetic()))
        });
    if !action_ok {
        return Err(LambdaError::invalid_member(
            Some(action),
            "action",
            "Member must satisfy regular expression pattern: (lambda:[*]|lambda:[a-zA-Z]+|[*])",
        ));
    }
    let principal = required(&req.principal, "principal")?;
    let principal_json = if principal == "*" {
        json!("*")
    } else if principal.len() == 12 && principal.bytes().all(|b| b.is_ascii_digit()) {
        json!({"AWS": format!("arn:aws:iam::{principal}:root")})
    } else if principal.starts_with("arn:") {
        json!({"AWS": principal})
    } else if principal.contains('.') && !principal.contains(char::is_whitespace) {
        json!({"Service": principal})
    } else {
        return Err(LambdaError::InvalidParameterValue(format!(
            "The provided principal was invalid. Please check the principal and try again: {principal}"
        )));
    };
    let mut string_equals = Map::new();
    let mut conditions = Map::new();
    if let Some(v) = &req.source_account {
        string_equals.insert("AWS:SourceAccount".into(), json!(v));
    }
    if let Some(v) = &req.principal_org_id {
        string_equals.insert("aws:PrincipalOrgID".into(), json!(v));
    }
    if let Some(v) = &req.event_source_token {
        string_equals.insert("lambda:EventSourceToken".into(), json!(v));
    }
    if let Some(v) = &req.function_url_auth_type {
        if v != "NONE" && v != "AWS_IAM" {
            return Err(LambdaError::invalid_member(
                Some(&v.to_string()),
                "functionUrlAuthType",
                "Member must satisfy enum value set: [AWS_IAM, NONE]",
            ));
        }
        string_equals.insert("lambda:FunctionUrlAuthType".into(), json!(v));
    }
    if !string_equals.is_empty() {
        conditions.insert("StringEquals".into(), Value::Object(string_equals));
    }
    if let Some(v) = &req.source_arn {
        conditions.insert("ArnLike".into(), json!({"AWS:SourceArn": v}));
    }
    let mut s = json!({
        "Sid": sid,
        "Effect": "Allow",
        "Principal": principal_json,
        "Action": action,
        "Resource": resource,
    });
    if !conditions.is_empty() {
        s["Condition"] = Value::Object(conditions);
    }
    Ok(s)
}

/// AddPermission's answer: the statement added, as a JSON string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddPermissionResponse {
    /// The statement.
    pub statement: String,
}

/// GetPolicy's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetPolicyResponse {
    /// The policy document, as a JSON string.
    pub policy: String,
    /// The policy's revision.
    pub revision_id: String,
}

/// TagResource's body and ListTags' answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagsBody {
    /// The tags.
    #[serde(rename = "Tags", default)]
    pub tags: Option<std::collections::BTreeMap<String, String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(sid: &str, principal: &str) -> AddPermissionRequest {
        AddPermissionRequest {
            statement_id: Some(sid.into()),
            action: Some("lambda:InvokeFunction".into()),
            principal: Some(principal.into()),
            ..Default::default()
        }
    }

    #[test]
    fn statements_take_aws_shape() {
        let mut r = req("s3", "s3.amazonaws.com");
        r.source_arn = Some("arn:aws:s3:::bucket".into());
        r.source_account = Some("123456789012".into());
        let s = statement(&r, "arn:aws:lambda:us-east-1:123456789012:function:f").unwrap();
        assert_eq!(s["Principal"], json!({"Service": "s3.amazonaws.com"}));
        assert_eq!(
            s["Condition"],
            json!({"StringEquals": {"AWS:SourceAccount": "123456789012"},
                   "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"}})
        );
        let s = statement(&req("acct", "210987654321"), "r").unwrap();
        assert_eq!(
            s["Principal"],
            json!({"AWS": "arn:aws:iam::210987654321:root"})
        );
        assert!(s.get("Condition").is_none());
        assert_eq!(statement(&req("any", "*"), "r").unwrap()["Principal"], "*");
    }

    #[test]
    fn bad_fields_are_refused() {
        assert!(matches!(
            statement(&req("bad id!", "*"), "r"),
            Err(LambdaError::Validation(_))
        ));
        let mut r = req("x", "*");
        r.action = Some("s3:GetObject".into());
        assert!(matches!(
            statement(&r, "r"),
            Err(LambdaError::Validation(_))
        ));
        assert!(matches!(
            statement(&req("x", "not a principal"), "r"),
            Err(LambdaError::InvalidParameterValue(_))
        ));
        let mut r = req("x", "*");
        r.principal = None;
        assert!(matches!(
            statement(&r, "r"),
            Err(LambdaError::Validation(_))
        ));
    }

    #[test]
    fn policy_document_and_removal() {
        let mut p = Policy::default();
        p.statements.push(statement(&req("a", "*"), "r").unwrap());
        assert!(p.has("a"));
        let doc: Value = serde_json::from_str(&p.document()).unwrap();
        assert_eq!(doc["Version"], "2012-10-17");
        assert_eq!(doc["Statement"][0]["Sid"], "a");
        assert!(p.remove("a") && !p.remove("a"));
    }
}
