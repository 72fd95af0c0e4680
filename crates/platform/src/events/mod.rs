//! EventBridge: event buses, rules and their targets (the view `platform.events()`, methods
//! named after the API's operations), kept as documents (`event-bus` by name, `rule` by
//! `bus/name`, targets inside their rule). `put` routes events (PutEvents) through the
//! rules' patterns to their targets; a rule's schedule is fired by the Scheduler's timer.
//!
//! The `default` bus always exists and cannot be deleted; a bus with rules cannot be
//! deleted either, as in AWS.

mod put;

use std::sync::{Arc, Mutex};

use lamina_model::events::{
    BusRecord, DEFAULT_BUS, EventsError, PutRuleRequest, RuleRecord, TARGETS_PER_RULE_MAX, Tag,
    check_name, check_target,
};
use lamina_model::status::LastResult;
use lamina_pattern::Pattern;
use serde_json::Value;

use crate::Platform;

pub(crate) const RULE: &str = "rule";
const BUS: &str = "event-bus";

/// EventBridge's buses, rules and targets. A view of the platform: `platform.events()`.
#[derive(Debug, Clone, Copy)]
pub struct EventBus<'a> {
    pub(crate) p: &'a Platform,
}

/// A rule ready to match: its record and compiled pattern.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) rule: RuleRecord,
    pub(crate) pattern: Option<Pattern>,
}

/// The rules PutEvents matches against, read once per change, and the last event this node
/// delivered for each.
#[derive(Debug, Default)]
pub(crate) struct RuleCache {
    rules: Mutex<Option<Arc<Vec<Compiled>>>>,
    last: Mutex<std::collections::HashMap<String, LastResult>>,
}

impl RuleCache {
    /// The last event delivered for the rule `arn`.
    pub(crate) fn last(&self, arn: &str) -> Option<LastResult> {
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(arn)
            .cloned()
    }

    fn delivered(&self, arn: &str, result: String) {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).insert(
            arn.to_string(),
            LastResult {
                at: chrono::Utc::now().to_rfc3339(),
                result,
            },
        );
    }

    /// Rules changed: read them again on next use.
    pub(crate) fn changed(&self) {
        *self.rules.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

fn internal(e: impl std::fmt::Display) -> EventsError {
    EventsError::Internal(e.to_string())
}

fn now_s() -> f64 {
    chrono::Utc::now().timestamp_millis() as f64 / 1000.0
}

fn decode<T: serde::de::DeserializeOwned>(doc: &str) -> Result<T, EventsError> {
    serde_json::from_str(doc).map_err(internal)
}

fn encode<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// A page: `limit` items after the key `token`, and the next page's token.
fn page<T>(
    items: Vec<(String, T)>,
    limit: Option<i64>,
    token: Option<&str>,
) -> Result<(Vec<T>, Option<String>), EventsError> {
    let limit = match limit {
        None => 100,
        Some(l) if (1..=100).contains(&l) => l as usize,
        Some(l) => {
            return Err(EventsError::Validation(format!(
                "1 validation error detected: Value '{l}' at 'limit' failed to satisfy constraint: Member must have value between 1 and 100"
            )));
        }
    };
    Ok(crate::paging::after(items, limit, token))
}

/// A bus given by name or ARN: its name.
fn bus_name(given: Option<&str>) -> Result<String, EventsError> {
    let name = match given {
        None => return Ok(DEFAULT_BUS.to_string()),
        Some(g) => g.rsplit_once(":event-bus/").map_or(g, |(_, n)| n),
    };
    let ok = (1..=256).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '-' | '_'));
    if ok {
        Ok(name.to_string())
    } else {
        Err(EventsError::Validation(format!(
            "Event bus name {name} is not valid"
        )))
    }
}

fn rule_not_found(name: &str, bus: &str) -> EventsError {
    EventsError::NotFound(format!("Rule {name} does not exist on EventBus {bus}."))
}

impl EventBus<'_> {
    fn docs(&self) -> &dyn lamina_store::Documents {
        self.p.inner.documents.as_ref()
    }

    fn arn(&self, resource: &str) -> String {
        let id = self.p.identity();
        format!("arn:aws:events:{}:{}:{resource}", id.region, id.account)
    }

    fn rule_arn(&self, bus: &str, name: &str) -> String {
        if bus == DEFAULT_BUS {
            self.arn(&format!("rule/{name}"))
        } else {
            self.arn(&format!("rule/{bus}/{name}"))
        }
    }

    fn changed(&self) {
        self.p.inner.rules.changed();
        self.p.inner.timer.changed();
    }

    async fn bus(&self, name: &str) -> Result<BusRecord, EventsError> {
        if name == DEFAULT_BUS {
            return Ok(BusRecord {
                name: DEFAULT_BUS.into(),
                arn: self.arn("event-bus/default"),
                description: None,
                creation_time: 0.0,
                last_modified_time: 0.0,
                tags: Vec::new(),
            });
        }
        match self.docs().get(BUS, name).await.map_err(internal)? {
            Some(doc) => decode(&doc),
            None => Err(EventsError::NotFound(format!(
                "Event bus {name} does not exist."
            ))),
        }
    }

    /// CreateEventBus.
    pub async fn create_event_bus(
        &self,
        name: &str,
        description: Option<String>,
        tags: Vec<Tag>,
    ) -> Result<String, EventsError> {
        let name = bus_name(Some(name))?;
        if name.starts_with("aws.") {
            return Err(EventsError::Validation(
                "Event bus names starting with aws. are reserved for partner event sources.".into(),
            ));
        }
        let now = now_s();
        let bus = BusRecord {
            arn: self.arn(&format!("event-bus/{name}")),
            name: name.clone(),
            description,
            creation_time: now,
            last_modified_time: now,
            tags,
        };
        if name == DEFAULT_BUS
            || !self
                .docs()
                .insert(BUS, &name, &encode(&bus))
                .await
                .map_err(internal)?
        {
            return Err(EventsError::AlreadyExists(format!(
                "Event bus {name} already exists."
            )));
        }
        Ok(bus.arn)
    }

    /// DescribeEventBus.
    pub async fn describe_event_bus(&self, name: Option<&str>) -> Result<BusRecord, EventsError> {
        self.bus(&bus_name(name)?).await
    }

    /// ListEventBuses.
    pub async fn list_event_buses(
        &self,
        prefix: Option<&str>,
        limit: Option<i64>,
        token: Option<&str>,
    ) -> Result<(Vec<BusRecord>, Option<String>), EventsError> {
        let mut items = vec![(DEFAULT_BUS.to_string(), self.bus(DEFAULT_BUS).await?)];
        for (key, doc) in self.docs().list(BUS, "").await.map_err(internal)? {
            items.push((key, decode(&doc)?));
        }
        items.sort_by(|a, b| a.0.cmp(&b.0));
        items.retain(|(k, _)| prefix.is_none_or(|p| k.starts_with(p)));
        page(items, limit, token)
    }

    /// DeleteEventBus: refused for the default bus and for a bus that still has rules.
    pub async fn delete_event_bus(&self, name: &str) -> Result<(), EventsError> {
        let name = bus_name(Some(name))?;
        if name == DEFAULT_BUS {
            return Err(EventsError::Validation(
                "Cannot delete event bus default.".into(),
            ));
        }
        let rules = self
            .docs()
            .list(RULE, &format!("{name}/"))
            .await
            .map_err(internal)?;
        if !rules.is_empty() {
            return Err(EventsError::Validation(format!(
                "Event bus {name} still has {} rule(s): delete them first.",
                rules.len()
            )));
        }
        // Deleting a bus that does not exist succeeds, as in AWS.
        self.docs().delete(BUS, &name).await.map_err(internal)?;
        Ok(())
    }

    async fn rule(&self, name: &str, bus: &str) -> Result<RuleRecord, EventsError> {
        check_name("name", name)?;
        match self
            .docs()
            .get(RULE, &format!("{bus}/{name}"))
            .await
            .map_err(internal)?
        {
            Some(doc) => decode(&doc),
            None => Err(rule_not_found(name, bus)),
        }
    }

    async fn save(&self, rule: &RuleRecord) -> Result<(), EventsError> {
        self.docs()
            .put(
                RULE,
                &format!("{}/{}", rule.event_bus_name, rule.name),
                &encode(rule),
            )
            .await
            .map_err(internal)?;
        self.changed();
        Ok(())
    }

    /// PutRule: creates the rule, or replaces it (keeping its targets and tags; members not
    /// given are cleared, as in AWS).
    pub async fn put_rule(&self, req: PutRuleRequest) -> Result<String, EventsError> {
        req.check()?;
        let bus = bus_name(req.event_bus_name.as_deref())?;
        self.bus(&bus).await?;
        if let Some(pattern) = &req.event_pattern {
            Pattern::parse(pattern).map_err(|e| EventsError::InvalidEventPattern(e.to_string()))?;
        }
        let name = req.name.clone().unwrap_or_default();
        let existing = match self.rule(&name, &bus).await {
            Ok(r) => Some(r),
            Err(EventsError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        let rule = RuleRecord {
            arn: self.rule_arn(&bus, &name),
            name,
            event_bus_name: bus,
            event_pattern: req.event_pattern,
            schedule_expression: req.schedule_expression,
            state: req.state.unwrap_or_else(|| "ENABLED".into()),
            description: req.description,
            role_arn: req.role_arn,
            created: now_s(),
            targets: existing
                .as_ref()
                .map(|r| r.targets.clone())
                .unwrap_or_default(),
            // Tags are set when a rule is made; PutRule on an existing rule ignores them.
            tags: match &existing {
                Some(r) => r.tags.clone(),
                None => req.tags.unwrap_or_default(),
            },
        };
        self.save(&rule).await?;
        Ok(rule.arn)
    }

    /// DescribeRule.
    pub async fn describe_rule(
        &self,
        name: &str,
        bus: Option<&str>,
    ) -> Result<RuleRecord, EventsError> {
        self.rule(name, &bus_name(bus)?).await
    }

    /// Every rule of every bus (the timer's and PutEvents' reading).
    pub(crate) async fn all_rules(&self) -> Result<Vec<RuleRecord>, EventsError> {
        self.docs()
            .list(RULE, "")
            .await
            .map_err(internal)?
            .iter()
            .map(|(_, doc)| decode(doc))
            .collect()
    }

    /// ListRules of a bus.
    pub async fn list_rules(
        &self,
        prefix: Option<&str>,
        bus: Option<&str>,
        limit: Option<i64>,
        token: Option<&str>,
    ) -> Result<(Vec<RuleRecord>, Option<String>), EventsError> {
        let bus = bus_name(bus)?;
        self.bus(&bus).await?;
        let mut items = Vec::new();
        for (_, doc) in self
            .docs()
            .list(RULE, &format!("{bus}/{}", prefix.unwrap_or("")))
            .await
            .map_err(internal)?
        {
            let rule: RuleRecord = decode(&doc)?;
            items.push((rule.name.clone(), rule));
        }
        page(items, limit, token)
    }

    /// DeleteRule: refused while it has targets.
    pub async fn delete_rule(&self, name: &str, bus: Option<&str>) -> Result<(), EventsError> {
        let bus = bus_name(bus)?;
        let rule = match self.rule(name, &bus).await {
            Ok(rule) => rule,
            // Deleting a rule that does not exist succeeds, as in AWS.
            Err(EventsError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        if !rule.targets.is_empty() {
            return Err(EventsError::Validation(
                "Rule can't be deleted since it has targets.".into(),
            ));
        }
        self.docs()
            .delete(RULE, &format!("{bus}/{name}"))
            .await
            .map_err(internal)?;
        self.changed();
        Ok(())
    }

    /// EnableRule and DisableRule.
    pub async fn set_rule_state(
        &self,
        name: &str,
        bus: Option<&str>,
        enabled: bool,
    ) -> Result<(), EventsError> {
        let mut rule = self.rule(name, &bus_name(bus)?).await?;
        rule.state = if enabled { "ENABLED" } else { "DISABLED" }.into();
        self.save(&rule).await
    }

    /// ListRuleNamesByTarget.
    pub async fn list_rule_names_by_target(
        &self,
        target_arn: &str,
        bus: Option<&str>,
        limit: Option<i64>,
        token: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), EventsError> {
        let (rules, _) = self.list_rules(None, bus, None, None).await?;
        let items = rules
            .into_iter()
            .filter(|r| r.targets.iter().any(|t| t.arn == target_arn))
            .map(|r| (r.name.clone(), r.name))
            .collect();
        page(items, limit, token)
    }

    /// PutTargets: adds or replaces targets by Id; the failed entries (code, message).
    pub async fn put_targets(
        &self,
        rule: &str,
        bus: Option<&str>,
        targets: &[Value],
    ) -> Result<Vec<Value>, EventsError> {
        if targets.is_empty() || targets.len() > 100 {
            return Err(EventsError::Validation(
                "Targets must have between 1 and 100 members.".into(),
            ));
        }
        let mut record = self.rule(rule, &bus_name(bus)?).await?;
        let mut failed = Vec::new();
        for value in targets {
            match check_target(value) {
                Ok(target) => {
                    record.targets.retain(|t| t.id != target.id);
                    record.targets.push(target);
                }
                Err((code, message)) => failed.push(serde_json::json!({
                    "TargetId": value.get("Id").cloned().unwrap_or(Value::Null),
                    "ErrorCode": code,
                    "ErrorMessage": message,
                })),
            }
        }
        if record.targets.len() > TARGETS_PER_RULE_MAX {
            return Err(EventsError::LimitExceeded(format!(
                "The requested resource exceeds the maximum number allowed: a rule has at most {TARGETS_PER_RULE_MAX} targets."
            )));
        }
        self.save(&record).await?;
        Ok(failed)
    }

    /// RemoveTargets.
    pub async fn remove_targets(
        &self,
        rule: &str,
        bus: Option<&str>,
        ids: &[String],
    ) -> Result<(), EventsError> {
        let mut record = self.rule(rule, &bus_name(bus)?).await?;
        record.targets.retain(|t| !ids.contains(&t.id));
        self.save(&record).await
    }

    /// ListTargetsByRule.
    pub async fn list_targets_by_rule(
        &self,
        rule: &str,
        bus: Option<&str>,
        limit: Option<i64>,
        token: Option<&str>,
    ) -> Result<(Vec<Value>, Option<String>), EventsError> {
        let record = self.rule(rule, &bus_name(bus)?).await?;
        let items = record
            .targets
            .iter()
            .map(|t| (t.id.clone(), serde_json::to_value(t).unwrap_or_default()))
            .collect();
        page(items, limit, token)
    }

    /// The document holding the tags of the rule or bus `arn` names.
    async fn tagged(&self, arn: &str) -> Result<(&'static str, String, Value), EventsError> {
        let missing = || EventsError::NotFound(format!("Resource {arn} does not exist."));
        let rest = arn.strip_prefix(&self.arn("")).ok_or_else(missing)?;
        let (kind, key) = if let Some(bus) = rest.strip_prefix("event-bus/") {
            (BUS, bus.to_string())
        } else if let Some(rule) = rest.strip_prefix("rule/") {
            match rule.split_once('/') {
                Some((bus, name)) => (RULE, format!("{bus}/{name}")),
                None => (RULE, format!("{DEFAULT_BUS}/{rule}")),
            }
        } else {
            return Err(missing());
        };
        let doc = self
            .docs()
            .get(kind, &key)
            .await
            .map_err(internal)?
            .ok_or_else(missing)?;
        Ok((kind, key, decode(&doc)?))
    }

    /// ListTagsForResource.
    pub async fn list_tags(&self, arn: &str) -> Result<Vec<Tag>, EventsError> {
        let (_, _, doc) = self.tagged(arn).await?;
        Ok(serde_json::from_value(doc["Tags"].clone()).unwrap_or_default())
    }

    /// TagResource and UntagResource.
    pub async fn retag(
        &self,
        arn: &str,
        add: Vec<Tag>,
        remove: &[String],
    ) -> Result<(), EventsError> {
        let (kind, key, mut doc) = self.tagged(arn).await?;
        let mut tags: Vec<Tag> = serde_json::from_value(doc["Tags"].clone()).unwrap_or_default();
        tags.retain(|t| !remove.contains(&t.key) && !add.iter().any(|a| a.key == t.key));
        tags.extend(add);
        if tags.len() > 50 {
            return Err(EventsError::LimitExceeded(
                "A resource has at most 50 tags.".into(),
            ));
        }
        doc["Tags"] = serde_json::to_value(tags).unwrap_or_default();
        self.docs()
            .replace(kind, &key, &doc.to_string())
            .await
            .map_err(internal)?;
        Ok(())
    }
}
