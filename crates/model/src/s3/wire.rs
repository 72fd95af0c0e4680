//! S3's notification configuration in its JSON form (the one boto3 and
//! `aws s3api put-bucket-notification-configuration --notification-configuration file://…`
//! take), which Lamina's own routes for external buckets read and answer; and what
//! `lamina buckets` shows.

use serde::{Deserialize, Serialize};

use super::{Destination, FilterRule, NotificationConfig, Rule};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WireFilterRule {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WireKeyFilter {
    #[serde(default)]
    pub filter_rules: Vec<WireFilterRule>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WireFilter {
    #[serde(default)]
    pub key: WireKeyFilter,
}

/// A LambdaFunctionConfiguration or a QueueConfiguration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WireRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda_function_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_arn: Option<String>,
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<WireFilter>,
}

/// A NotificationConfiguration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WireConfiguration {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lambda_function_configurations: Vec<WireRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queue_configurations: Vec<WireRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topic_configurations: Vec<serde_json::Value>,
}

fn rule_of(w: WireRule, destination: Destination) -> Rule {
    Rule {
        id: w.id.unwrap_or_default(),
        destination,
        events: w.events,
        filter: w
            .filter
            .map(|f| {
                f.key
                    .filter_rules
                    .into_iter()
                    .map(|r| FilterRule {
                        name: r.name,
                        value: r.value,
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

impl WireConfiguration {
    /// The model's configuration; SNS topics are refused (this server has none).
    pub fn into_config(self) -> Result<NotificationConfig, String> {
        if !self.topic_configurations.is_empty() {
            return Err(
                "Unable to validate the following destination configurations: \
                        SNS topics are not served by this server"
                    .into(),
            );
        }
        let mut rules = Vec::new();
        for l in self.lambda_function_configurations {
            let arn = l
                .lambda_function_arn
                .clone()
                .ok_or("A LambdaFunctionConfiguration needs its LambdaFunctionArn")?;
            rules.push(rule_of(l, Destination::Function(arn)));
        }
        for q in self.queue_configurations {
            let arn = q
                .queue_arn
                .clone()
                .ok_or("A QueueConfiguration needs its QueueArn")?;
            rules.push(rule_of(q, Destination::Queue(arn)));
        }
        Ok(NotificationConfig { rules })
    }

    /// The wire form of `config`.
    pub fn of(config: &NotificationConfig) -> WireConfiguration {
        let mut w = WireConfiguration::default();
        for r in &config.rules {
            let filter = (!r.filter.is_empty()).then(|| WireFilter {
                key: WireKeyFilter {
                    filter_rules: r
                        .filter
                        .iter()
                        .map(|f| WireFilterRule {
                            name: f.name.clone(),
                            value: f.value.clone(),
                        })
                        .collect(),
                },
            });
            let mut rule = WireRule {
                id: Some(r.id.clone()),
                events: r.events.clone(),
                filter,
                ..Default::default()
            };
            match &r.destination {
                Destination::Function(arn) => {
                    rule.lambda_function_arn = Some(arn.clone());
                    w.lambda_function_configurations.push(rule);
                }
                Destination::Queue(arn) => {
                    rule.queue_arn = Some(arn.clone());
                    w.queue_configurations.push(rule);
                }
            }
        }
        w
    }
}

/// One bucket as `lamina buckets` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BucketLine {
    pub name: String,
    /// `local` (this server's S3 service) or `external` (another store's, by webhook).
    pub kind: String,
    /// Objects and their bytes (none for an external bucket).
    pub objects: Option<u64>,
    pub bytes: Option<u64>,
    /// Its rules, one line each: `id: events [prefix/suffix] -> destination`.
    pub rules: Vec<String>,
}

/// One line per rule of `config`.
pub fn rule_lines(config: &NotificationConfig) -> Vec<String> {
    config
        .rules
        .iter()
        .map(|r| {
            let filter: Vec<String> = r
                .filter
                .iter()
                .map(|f| format!("{}={}", f.name.to_ascii_lowercase(), f.value))
                .collect();
            let to = match &r.destination {
                Destination::Function(a) | Destination::Queue(a) => a,
            };
            let filter = if filter.is_empty() {
                String::new()
            } else {
                format!(" [{}]", filter.join(" "))
            };
            format!("{}: {}{filter} -> {to}", r.id, r.events.join(","))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_form_round_trips() {
        let json = serde_json::json!({
            "LambdaFunctionConfigurations": [{
                "Id": "jpegs",
                "LambdaFunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:f",
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "Suffix", "Value": ".jpg"}]}}
            }],
            "QueueConfigurations": [{
                "Id": "q",
                "QueueArn": "arn:aws:sqs:us-east-1:000000000000:q",
                "Events": ["s3:ObjectRemoved:*"]
            }]
        });
        let w: WireConfiguration = serde_json::from_value(json.clone()).unwrap();
        let config = w.into_config().unwrap();
        assert_eq!(config.rules.len(), 2);
        assert_eq!(
            serde_json::to_value(WireConfiguration::of(&config)).unwrap(),
            json
        );
        assert_eq!(
            rule_lines(&config)[0],
            "jpegs: s3:ObjectCreated:* [suffix=.jpg] -> arn:aws:lambda:us-east-1:000000000000:function:f"
        );
        let topics: WireConfiguration =
            serde_json::from_value(serde_json::json!({"TopicConfigurations": [{}]})).unwrap();
        assert!(topics.into_config().is_err());
    }
}
