//! Bucket notifications on the wire: `s3s`'s NotificationConfiguration to and from the
//! model's, and who made a request (for the event records a write tells).

use std::net::SocketAddr;

use lamina_model::s3::{Destination, FilterRule, NotificationConfig, Rule};
use lamina_platform::s3::Requester;
use s3s::S3Request;
use s3s::dto;

/// Who made `req`: its peer's address, its signature's access key, a fresh request id.
pub(super) fn requester<T>(req: &S3Request<T>) -> Requester {
    let source_ip = req
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    Requester {
        source_ip,
        principal: req
            .credentials
            .as_ref()
            .map_or_else(|| "anonymous".to_string(), |c| c.access_key.clone()),
        request_id: lamina_model::new_id(),
    }
}

fn filter_of(filter: Option<dto::NotificationConfigurationFilter>) -> Vec<FilterRule> {
    filter
        .and_then(|f| f.key)
        .and_then(|k| k.filter_rules)
        .unwrap_or_default()
        .into_iter()
        .map(|r| FilterRule {
            name: r.name.map(|n| n.as_str().to_string()).unwrap_or_default(),
            value: r.value.unwrap_or_default(),
        })
        .collect()
}

fn filter_to(rules: &[FilterRule]) -> Option<dto::NotificationConfigurationFilter> {
    (!rules.is_empty()).then(|| dto::NotificationConfigurationFilter {
        key: Some(dto::S3KeyFilter {
            filter_rules: Some(
                rules
                    .iter()
                    .map(|r| dto::FilterRule {
                        name: Some(dto::FilterRuleName::from(r.name.clone())),
                        value: Some(r.value.clone()),
                    })
                    .collect(),
            ),
        }),
    })
}

fn events(list: dto::EventList) -> Vec<String> {
    list.into_iter().map(String::from).collect()
}

/// The model's configuration of what PutBucketNotificationConfiguration sent; topics and
/// EventBridge are refused (this server has neither).
fn config_of(c: dto::NotificationConfiguration) -> Result<NotificationConfig, String> {
    if c.topic_configurations
        .as_ref()
        .is_some_and(|t| !t.is_empty())
    {
        return Err(
            "Unable to validate the following destination configurations: \
                    SNS topics are not served by this server"
                .into(),
        );
    }
    if c.event_bridge_configuration.is_some() {
        return Err(
            "Unable to validate the following destination configurations: \
                    EventBridge delivery is not served by this server"
                .into(),
        );
    }
    let functions = c
        .lambda_function_configurations
        .unwrap_or_default()
        .into_iter()
        .map(|l| Rule {
            id: l.id.unwrap_or_default(),
            destination: Destination::Function(l.lambda_function_arn),
            events: events(l.events),
            filter: filter_of(l.filter),
        });
    let queues = c
        .queue_configurations
        .unwrap_or_default()
        .into_iter()
        .map(|q| Rule {
            id: q.id.unwrap_or_default(),
            destination: Destination::Queue(q.queue_arn),
            events: events(q.events),
            filter: filter_of(q.filter),
        });
    Ok(NotificationConfig {
        rules: functions.chain(queues).collect(),
    })
}

/// The configuration a PutBucketNotificationConfiguration request sends, or S3's
/// `InvalidArgument` saying why it cannot be taken.
pub(super) fn requested(c: dto::NotificationConfiguration) -> s3s::S3Result<NotificationConfig> {
    config_of(c).map_err(|m| s3s::S3Error::with_message(s3s::S3ErrorCode::InvalidArgument, m))
}

/// GetBucketNotificationConfiguration's answer for `config`.
pub(super) fn output_of(
    config: &NotificationConfig,
) -> dto::GetBucketNotificationConfigurationOutput {
    let mut functions = Vec::new();
    let mut queues = Vec::new();
    for r in &config.rules {
        let events: dto::EventList = r.events.iter().cloned().map(dto::Event::from).collect();
        match &r.destination {
            Destination::Function(arn) => functions.push(dto::LambdaFunctionConfiguration {
                events,
                filter: filter_to(&r.filter),
                id: Some(r.id.clone()),
                lambda_function_arn: arn.clone(),
            }),
            Destination::Queue(arn) => queues.push(dto::QueueConfiguration {
                events,
                filter: filter_to(&r.filter),
                id: Some(r.id.clone()),
                queue_arn: arn.clone(),
            }),
        }
    }
    dto::GetBucketNotificationConfigurationOutput {
        lambda_function_configurations: (!functions.is_empty()).then_some(functions),
        queue_configurations: (!queues.is_empty()).then_some(queues),
        ..Default::default()
    }
}
