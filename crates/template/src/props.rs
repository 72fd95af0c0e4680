//! Reading a resource's `Properties`: the ones Lamina knows, the required ones, and a
//! refusal that names every property it does not know (never a silent skip).

use serde_json::{Map, Value};

use crate::TemplateError;

/// Refuses the properties of `p` not in `known`, naming them all.
pub fn only(p: &Map<String, Value>, known: &[&str], at: &str) -> Result<(), TemplateError> {
    let unknown: Vec<&str> = p
        .keys()
        .map(String::as_str)
        .filter(|k| !known.contains(k))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(TemplateError::Unsupported {
        what: format!(
            "propert{} {}",
            if unknown.len() == 1 { "y" } else { "ies" },
            unknown.join(", ")
        ),
        at: at.to_string(),
    })
}

/// The required property `key`.
pub fn req(p: &Map<String, Value>, key: &str, at: &str) -> Result<Value, TemplateError> {
    p.get(key).cloned().ok_or_else(|| TemplateError::Invalid {
        at: at.to_string(),
        message: format!("{key} is required"),
    })
}

/// Copies the `keys` that `p` has into `out`.
pub fn copy(p: &Map<String, Value>, out: &mut Map<String, Value>, keys: &[&str]) {
    for k in keys {
        if let Some(v) = p.get(*k) {
            out.insert((*k).to_string(), v.clone());
        }
    }
}

/// `globals` under `local`, as SAM merges `Globals`: maps merged key by key, lists
/// concatenated (globals first), anything else taken from `local`.
pub fn merge(globals: &Value, local: &Value) -> Value {
    match (globals, local) {
        (Value::Object(g), Value::Object(l)) => {
            let mut out = g.clone();
            for (k, v) in l {
                let merged = match g.get(k) {
                    Some(gv) => merge(gv, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(g), Value::Array(l)) => {
            Value::Array(g.iter().chain(l.iter()).cloned().collect())
        }
        (_, l) => l.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_every_unknown_property() {
        let p = json!({"Handler": "x", "VpcConfig": {}, "KmsKeyArn": "k"});
        let e = only(
            p.as_object().unwrap(),
            &["Handler"],
            "Resources.F.Properties",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("KmsKeyArn, VpcConfig") && e.contains("Resources.F"),
            "{e}"
        );
    }

    #[test]
    fn globals_merge_as_sam_merges_them() {
        let g = json!({"Timeout": 3, "Environment": {"Variables": {"A": "1", "B": "1"}}, "Layers": ["l1"]});
        let l = json!({"Timeout": 9, "Environment": {"Variables": {"B": "2"}}, "Layers": ["l2"]});
        assert_eq!(
            merge(&g, &l),
            json!({"Timeout": 9, "Environment": {"Variables": {"A": "1", "B": "2"}}, "Layers": ["l1", "l2"]})
        );
    }
}
