//! What `lamina schedules` and `lamina rules` show: every schedule and rule with when it
//! fires next and how its last fire (or, for a rule's pattern, the last event this node
//! delivered) went. On a node that does not fire (another leads the cluster), the next
//! fire is computed from the schedule and its mark.

use chrono::{DateTime, Utc};
use lamina_model::status::{LastResult, RuleLine, ScheduleLine, Triggers};

use super::{Job, MARK, Mark, Scheduler};

impl Scheduler<'_> {
    async fn mark(&self, key: &str) -> Option<Mark> {
        let doc = self.p.inner.documents.get(MARK, key).await.ok().flatten()?;
        serde_json::from_str(&doc).ok()
    }

    /// When `job` fires next, and its last fire.
    async fn when(&self, job: &Job) -> (Option<String>, Option<LastResult>) {
        let key = job.key();
        let mark = self.mark(&key).await;
        let timer = &self.p.inner.timer;
        let next = timer.next_fire(&key).or_else(|| {
            let fired = mark
                .as_ref()
                .and_then(|m| DateTime::from_timestamp_millis(m.due_ms));
            let after = fired.map_or(Utc::now(), |f| f.max(Utc::now()));
            (job.state() == "ENABLED")
                .then(|| job.next_due(after, timer.minute()))
                .flatten()
        });
        let last = mark.map(|m| LastResult {
            at: DateTime::from_timestamp_millis(m.fired_ms)
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
            result: m.result,
        });
        (next.map(|t| t.to_rfc3339()), last)
    }

    /// Every schedule and rule, with their next and last fires.
    pub async fn triggers(&self) -> Result<Triggers, String> {
        let mut out = Triggers::default();
        for record in self.all().await.map_err(|e| e.to_string())? {
            let job = Job::Schedule(record.clone());
            let (next_fire, last) = self.when(&job).await;
            out.schedules.push(ScheduleLine {
                group: record.group_name,
                name: record.name,
                expression: record.schedule_expression,
                timezone: record.schedule_expression_timezone,
                state: record.state,
                target: record.target.arn,
                next_fire,
                last,
            });
        }
        for rule in self
            .p
            .events()
            .all_rules()
            .await
            .map_err(|e| e.to_string())?
        {
            let (next_fire, last) = if rule.schedule_expression.is_some() {
                self.when(&Job::Rule(rule.clone())).await
            } else {
                (None, self.p.inner.rules.last(&rule.arn))
            };
            out.rules.push(RuleLine {
                targets: rule.targets.iter().map(|t| t.arn.clone()).collect(),
                bus: rule.event_bus_name,
                name: rule.name,
                state: rule.state,
                pattern: rule.event_pattern,
                schedule: rule.schedule_expression,
                next_fire,
                last,
            });
        }
        Ok(out)
    }
}
