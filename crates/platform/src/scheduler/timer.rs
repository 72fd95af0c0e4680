//! The timer: one task that keeps every enabled schedule's next fire in memory, sleeps until
//! the earliest, and fires what is due by queueing an asynchronous invocation of its target
//! (durable before the fire is marked done). After each fire it writes the schedule's mark
//! (the due time it fired for, and how it went), so that a restart or another node taking
//! over never fires one due time twice; missed fires are not replayed, as in AWS.
//!
//! A change of schedules (here, or announced by another node) makes the timer read them
//! again; schedules whose record did not change keep their planned fire. In a cluster, the
//! live node with the smallest id fires; and every fire first claims its due time (a
//! document that can be written once), so that two nodes that both believe they lead for a
//! moment (one joining, one leaving) still fire each due time once.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use lamina_model::events::RuleRecord;
use lamina_model::schedule::Schedule;
use lamina_model::scheduler::ScheduleRecord;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::{CLAIM, MARK, fire};
use crate::Platform;

/// Tunables of the Scheduler.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// How long a minute of `rate()` and of flexible windows lasts (60 s, but in tests).
    pub minute: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            minute: Duration::from_secs(60),
        }
    }
}

/// What is remembered of a schedule's last fire.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Mark {
    /// The due time it fired for, epoch ms.
    pub due_ms: i64,
    /// When it fired, epoch ms.
    pub fired_ms: i64,
    /// `queued <request id>` or why it could not be.
    pub result: String,
}

/// What the timer fires: a schedule, or a rule's schedule (EventBridge's legacy scheduled
/// rules, always in UTC, counted from when the rule was put).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Job {
    Schedule(ScheduleRecord),
    Rule(RuleRecord),
}

impl Job {
    /// Its key among marks and claims: `group/name` for a schedule (names cannot hold
    /// `:`), `rule:bus/name` for a rule.
    pub(crate) fn key(&self) -> String {
        match self {
            Job::Schedule(r) => format!("{}/{}", r.group_name, r.name),
            Job::Rule(r) => format!("rule:{}/{}", r.event_bus_name, r.name),
        }
    }

    fn arn(&self) -> &str {
        match self {
            Job::Schedule(r) => &r.arn,
            Job::Rule(r) => &r.arn,
        }
    }

    pub(crate) fn state(&self) -> &str {
        match self {
            Job::Schedule(r) => &r.state,
            Job::Rule(r) => &r.state,
        }
    }

    pub(crate) fn next_due(&self, after: DateTime<Utc>, minute: Duration) -> Option<DateTime<Utc>> {
        match self {
            Job::Schedule(r) => fire::next_due(r, after, minute),
            Job::Rule(r) => fire::next_of(
                Schedule::parse(r.schedule_expression.as_deref()?).ok()?,
                lamina_model::schedule::Tz::UTC,
                fire::from_epoch_s(r.created)?,
                None,
                after,
                minute,
            ),
        }
    }

    fn fire_time(&self, due: DateTime<Utc>, minute: Duration, unit: f64) -> DateTime<Utc> {
        match self {
            Job::Schedule(r) => fire::fire_time(r, due, minute, unit),
            Job::Rule(_) => due,
        }
    }
}

/// One job's plan.
#[derive(Debug, Clone)]
struct Planned {
    job: Job,
    /// The due time of its next fire, and when (within its window) that fire happens.
    next: Option<(DateTime<Utc>, DateTime<Utc>)>,
    last: Option<Mark>,
}

/// The timer's state, in the platform.
#[derive(Debug)]
pub(crate) struct Timer {
    config: SchedulerConfig,
    wake: Arc<Notify>,
    dirty: AtomicBool,
    plans: Mutex<BTreeMap<String, Planned>>,
    members: Option<Arc<dyn lamina_store::Membership>>,
}

impl Timer {
    pub(crate) fn new(
        config: SchedulerConfig,
        members: Option<Arc<dyn lamina_store::Membership>>,
    ) -> Timer {
        Timer {
            config,
            wake: Arc::new(Notify::new()),
            dirty: AtomicBool::new(true),
            plans: Mutex::new(BTreeMap::new()),
            members,
        }
    }

    /// Schedules changed: read them again.
    pub(crate) fn changed(&self) {
        self.dirty.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    fn plans(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Planned>> {
        self.plans.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long a minute lasts here.
    pub(crate) fn minute(&self) -> Duration {
        self.config.minute
    }

    /// When the job of `key` fires next, if this node plans it.
    pub(crate) fn next_fire(&self, key: &str) -> Option<DateTime<Utc>> {
        self.plans()
            .get(key)
            .and_then(|plan| plan.next.map(|(_, at)| at))
    }

    fn plan(&self, job: &Job, after: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if job.state() != "ENABLED" {
            return None;
        }
        let due = job.next_due(after, self.config.minute)?;
        let at = job.fire_time(due, self.config.minute, lamina_model::random_unit());
        Some((due, at))
    }
}

/// Starts the timer; it ends with the platform.
pub(crate) fn start(p: &Platform) {
    let weak = Arc::downgrade(&p.inner);
    tokio::spawn(async move {
        loop {
            let Some(inner) = weak.upgrade() else {
                return;
            };
            let p = Platform { inner };
            let wait = round(&p).await;
            // Not holding the platform while asleep: it may end meanwhile. A change made
            // between the round and the sleep left a permit, so it is not missed.
            let wake = p.inner.timer.wake.clone();
            drop(p);
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    });
}

/// One round: reads the schedules if they changed, fires what is due, and says how long
/// to sleep.
async fn round(p: &Platform) -> Duration {
    let timer = &p.inner.timer;
    if let Some(m) = &timer.members
        && !(m.holds() && m.live().first().map(String::as_str) == Some(m.id()))
    {
        // Another node fires; this one checks again soon, in case it is gone.
        timer.dirty.store(true, Ordering::SeqCst);
        return Duration::from_secs(2);
    }
    if timer.dirty.swap(false, Ordering::SeqCst)
        && let Err(e) = reload(p).await
    {
        tracing::warn!(error = %e, "could not read the schedules; trying again");
        timer.dirty.store(true, Ordering::SeqCst);
        return Duration::from_secs(1);
    }
    let now = Utc::now();
    let due: Vec<(String, Job, DateTime<Utc>)> = timer
        .plans()
        .iter()
        .filter_map(|(k, plan)| match plan.next {
            Some((due, at)) if at <= now => Some((k.clone(), plan.job.clone(), due)),
            _ => None,
        })
        .collect();
    for (key, job, due) in due {
        fire_one(p, &key, &job, due).await;
    }
    let earliest = timer
        .plans()
        .values()
        .filter_map(|plan| plan.next.map(|(_, at)| at))
        .min();
    let idle = if timer.members.is_some() {
        Duration::from_secs(2)
    } else {
        Duration::from_secs(60)
    };
    match earliest {
        Some(at) => (at - Utc::now()).to_std().unwrap_or_default().min(idle),
        None => idle,
    }
}

/// Reads every schedule and scheduled rule, and its mark; one whose record is unchanged
/// keeps its plan.
async fn reload(p: &Platform) -> Result<(), String> {
    let schedules = p.scheduler().all().await.map_err(|e| e.to_string())?;
    let rules = p.events().all_rules().await.map_err(|e| e.to_string())?;
    let jobs = schedules.into_iter().map(Job::Schedule).chain(
        rules
            .into_iter()
            .filter(|r| r.schedule_expression.is_some())
            .map(Job::Rule),
    );
    let docs = p.inner.documents.as_ref();
    let now = Utc::now();
    let mut fresh = BTreeMap::new();
    for job in jobs {
        let key = job.key();
        let kept = p
            .inner
            .timer
            .plans()
            .get(&key)
            .filter(|plan| plan.job == job)
            .cloned();
        let plan = match kept {
            Some(plan) => plan,
            None => {
                let last: Option<Mark> = docs
                    .get(MARK, &key)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|d| serde_json::from_str(&d).ok());
                // Never again for a due time already fired; never for one missed.
                let fired = last
                    .as_ref()
                    .and_then(|m| DateTime::from_timestamp_millis(m.due_ms));
                let after = fired.map_or(now, |f| f.max(now));
                Planned {
                    next: p.inner.timer.plan(&job, after),
                    job,
                    last,
                }
            }
        };
        fresh.insert(key, plan);
    }
    *p.inner.timer.plans() = fresh;
    Ok(())
}

/// Fires one due schedule, marks it, plans its next fire (or completes it).
async fn fire_one(p: &Platform, key: &str, job: &Job, due: DateTime<Utc>) {
    let docs = p.inner.documents.as_ref();
    let claim = format!("{key}@{}", due.timestamp_millis());
    let skip = |why: &str| {
        tracing::debug!(schedule = %job.arn(), %due, why, "fire skipped");
        let next = p.inner.timer.plan(job, due.max(Utc::now()));
        // Only the plan of this very record: it may have changed meanwhile.
        if let Some(plan) = p.inner.timer.plans().get_mut(key)
            && plan.job == *job
        {
            plan.next = next;
        }
    };
    match docs.insert(CLAIM, &claim, "{}").await {
        Ok(true) => {}
        Ok(false) => return skip("another node fired it"),
        Err(e) => {
            // Tried again on the next round.
            tracing::warn!(schedule = %job.arn(), error = %e, "could not claim a fire");
            return;
        }
    }
    // A node whose plan is stale (it led before, or believed so for a moment) finds a
    // later fire in the mark: due times only move forward.
    let marked: Option<Mark> = docs
        .get(MARK, key)
        .await
        .ok()
        .flatten()
        .and_then(|d| serde_json::from_str(&d).ok());
    if marked
        .as_ref()
        .is_some_and(|m| m.due_ms >= due.timestamp_millis())
    {
        let _ = docs.delete(CLAIM, &claim).await;
        return skip("a later due time fired already");
    }
    let result = match job {
        Job::Schedule(record) => {
            let execution_id = lamina_model::new_id().replace('-', "")[..16].to_string();
            let payload = fire::payload(record, due, &execution_id);
            p.async_invoke()
                .enqueue_delivery(
                    &record.target.arn,
                    Bytes::from(payload),
                    fire::delivery(record),
                )
                .await
                .map(|request_id| format!("queued {request_id}"))
                .map_err(|e| e.to_string())
        }
        Job::Rule(rule) => p
            .events()
            .fire_rule(rule, due)
            .await
            .map(|()| format!("queued for {} target(s)", rule.targets.len())),
    };
    let result = result.unwrap_or_else(|e| {
        tracing::warn!(schedule = %job.arn(), error = %e, "could not deliver a scheduled event");
        format!("failed: {e}")
    });
    let mark = Mark {
        due_ms: due.timestamp_millis(),
        fired_ms: Utc::now().timestamp_millis(),
        result,
    };
    if let Err(e) = docs
        .put(MARK, key, &serde_json::to_string(&mark).unwrap_or_default())
        .await
    {
        tracing::warn!(schedule = %job.arn(), error = %e, "could not record a fire");
    }
    // The previous fire's claim is no longer needed once the mark, written first, says a
    // later one fired.
    if let Some(previous) = marked {
        let _ = docs
            .delete(CLAIM, &format!("{key}@{}", previous.due_ms))
            .await;
    }
    if let Job::Schedule(record) = job
        && matches!(record.schedule(), Some(Schedule::At(_)))
        && record.action_after_completion == "DELETE"
    {
        if let Err(e) = p
            .scheduler()
            .delete_schedule(&record.name, Some(&record.group_name))
            .await
        {
            tracing::warn!(schedule = %record.arn, error = %e, "could not delete a completed schedule");
        }
        p.inner.timer.plans().remove(key);
        return;
    }
    let next = p.inner.timer.plan(job, due.max(Utc::now()));
    // A record changed while it fired was planned again from scratch: keep that plan.
    if let Some(plan) = p.inner.timer.plans().get_mut(key) {
        if plan.job == *job {
            plan.next = next;
        }
        plan.last = Some(mark);
    }
}
