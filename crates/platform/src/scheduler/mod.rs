//! EventBridge Scheduler: schedules and schedule groups (the view `platform.scheduler()`,
//! methods named after the API's operations), kept as documents (`schedule` by
//! `group/name`, `schedule-group` by name), and the timer that fires them (`timer`), each
//! fire queued as an asynchronous invocation of the target function (`fire` builds it).
//!
//! The `default` group always exists and cannot be deleted; deleting another group deletes
//! its schedules. Tags belong to groups, as in AWS.

mod fire;
mod timer;

use lamina_model::scheduler::{
    DEFAULT_GROUP, GroupRecord, ScheduleRecord, ScheduleRequest, SchedulerError, Tag, check_name,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

mod status;

pub(crate) use timer::{Job, Timer, start as start_timer};
pub use timer::{Mark, SchedulerConfig};

use crate::Platform;

const SCHEDULE: &str = "schedule";
const GROUP: &str = "schedule-group";
/// What the timer remembers of each schedule: its last fire.
const MARK: &str = "schedule-mark";
/// A fire's claim, `group/name@due-ms`: written once, by the node that fires it.
const CLAIM: &str = "schedule-claim";

/// Schedules and schedule groups. A view of the platform: `platform.scheduler()`.
#[derive(Debug, Clone, Copy)]
pub struct Scheduler<'a> {
    pub(crate) p: &'a Platform,
}

fn internal(e: impl std::fmt::Display) -> SchedulerError {
    SchedulerError::Internal(e.to_string())
}

fn now_s() -> f64 {
    chrono::Utc::now().timestamp_millis() as f64 / 1000.0
}

fn decode<T: DeserializeOwned>(doc: &str) -> Result<T, SchedulerError> {
    serde_json::from_str(doc).map_err(internal)
}

fn encode<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// A page of a listing: `max` items after the key `token`, and the token of the next page.
fn page<T>(
    items: Vec<(String, T)>,
    max: Option<i64>,
    token: Option<&str>,
) -> Result<(Vec<T>, Option<String>), SchedulerError> {
    let max = match max {
        None => 100,
        Some(m) if (1..=100).contains(&m) => m as usize,
        Some(m) => {
            return Err(SchedulerError::Validation(format!(
                "Value '{m}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 100"
            )));
        }
    };
    Ok(crate::paging::after(items, max, token))
}

impl Scheduler<'_> {
    fn docs(&self) -> &dyn lamina_store::Documents {
        self.p.inner.documents.as_ref()
    }

    fn schedule_arn(&self, group: &str, name: &str) -> String {
        let id = self.p.identity();
        format!(
            "arn:aws:scheduler:{}:{}:schedule/{group}/{name}",
            id.region, id.account
        )
    }

    fn group_arn(&self, name: &str) -> String {
        let id = self.p.identity();
        format!(
            "arn:aws:scheduler:{}:{}:schedule-group/{name}",
            id.region, id.account
        )
    }

    /// The default group, which always exists.
    fn default_group(&self) -> GroupRecord {
        GroupRecord {
            arn: self.group_arn(DEFAULT_GROUP),
            name: DEFAULT_GROUP.into(),
            state: "ACTIVE".into(),
            creation_date: 0.0,
            last_modification_date: 0.0,
        }
    }

    async fn group(&self, name: &str) -> Result<GroupRecord, SchedulerError> {
        if name == DEFAULT_GROUP {
            return Ok(self.default_group());
        }
        match self.docs().get(GROUP, name).await.map_err(internal)? {
            Some(doc) => decode(&doc),
            None => Err(SchedulerError::NotFound(format!(
                "Schedule group {name} does not exist."
            ))),
        }
    }

    /// CreateSchedule: the new schedule's ARN.
    pub async fn create_schedule(
        &self,
        name: &str,
        request: ScheduleRequest,
    ) -> Result<String, SchedulerError> {
        let group = request.group_name.clone().unwrap_or(DEFAULT_GROUP.into());
        check_name("groupName", &group)?;
        let now = now_s();
        let record = request.into_record(name, self.schedule_arn(&group, name), now, now)?;
        self.group(&group).await?;
        let key = format!("{group}/{name}");
        if !self
            .docs()
            .insert(SCHEDULE, &key, &encode(&record))
            .await
            .map_err(internal)?
        {
            return Err(SchedulerError::Conflict(format!(
                "Schedule {name} already exists."
            )));
        }
        self.p.inner.timer.changed();
        Ok(record.arn)
    }

    /// UpdateSchedule: replaces every member (those not given take their defaults).
    pub async fn update_schedule(
        &self,
        name: &str,
        request: ScheduleRequest,
    ) -> Result<String, SchedulerError> {
        let group = request.group_name.clone().unwrap_or(DEFAULT_GROUP.into());
        check_name("groupName", &group)?;
        let old = self.get_schedule(name, Some(&group)).await?;
        let record = request.into_record(name, old.arn.clone(), old.creation_date, now_s())?;
        let key = format!("{group}/{name}");
        if !self
            .docs()
            .replace(SCHEDULE, &key, &encode(&record))
            .await
            .map_err(internal)?
        {
            return Err(not_found(name));
        }
        self.p.inner.timer.changed();
        Ok(record.arn)
    }

    /// GetSchedule.
    pub async fn get_schedule(
        &self,
        name: &str,
        group: Option<&str>,
    ) -> Result<ScheduleRecord, SchedulerError> {
        let group = group.unwrap_or(DEFAULT_GROUP);
        check_name("name", name)?;
        check_name("groupName", group)?;
        match self
            .docs()
            .get(SCHEDULE, &format!("{group}/{name}"))
            .await
            .map_err(internal)?
        {
            Some(doc) => decode(&doc),
            None => Err(not_found(name)),
        }
    }

    /// DeleteSchedule.
    pub async fn delete_schedule(
        &self,
        name: &str,
        group: Option<&str>,
    ) -> Result<(), SchedulerError> {
        let group = group.unwrap_or(DEFAULT_GROUP);
        check_name("name", name)?;
        check_name("groupName", group)?;
        let key = format!("{group}/{name}");
        if !self.docs().delete(SCHEDULE, &key).await.map_err(internal)? {
            return Err(not_found(name));
        }
        self.forget_fires(&key).await;
        self.p.inner.timer.changed();
        Ok(())
    }

    /// Drops what the timer kept of a deleted schedule.
    async fn forget_fires(&self, key: &str) {
        let _ = self.docs().delete(MARK, key).await;
        if let Ok(claims) = self.docs().list(CLAIM, &format!("{key}@")).await {
            for (claim, _) in claims {
                let _ = self.docs().delete(CLAIM, &claim).await;
            }
        }
    }

    /// ListSchedules: by group, name prefix and state, a page at a time.
    pub async fn list_schedules(
        &self,
        group: Option<&str>,
        prefix: Option<&str>,
        state: Option<&str>,
        max: Option<i64>,
        token: Option<&str>,
    ) -> Result<(Vec<ScheduleRecord>, Option<String>), SchedulerError> {
        if let Some(group) = group {
            self.group(group).await?;
        }
        if let Some(state) = state
            && state != "ENABLED"
            && state != "DISABLED"
        {
            return Err(SchedulerError::Validation(format!(
                "Value '{state}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]"
            )));
        }
        let key_prefix = group.map(|g| format!("{g}/")).unwrap_or_default();
        let mut items = Vec::new();
        for (key, doc) in self
            .docs()
            .list(SCHEDULE, &key_prefix)
            .await
            .map_err(internal)?
        {
            let record: ScheduleRecord = decode(&doc)?;
            if prefix.is_some_and(|p| !record.name.starts_with(p))
                || state.is_some_and(|s| record.state != s)
            {
                continue;
            }
            items.push((key, record));
        }
        page(items, max, token)
    }

    /// Every schedule (the timer's reading).
    pub(crate) async fn all(&self) -> Result<Vec<ScheduleRecord>, SchedulerError> {
        self.docs()
            .list(SCHEDULE, "")
            .await
            .map_err(internal)?
            .iter()
            .map(|(_, doc)| decode(doc))
            .collect()
    }

    /// CreateScheduleGroup: the new group's ARN.
    pub async fn create_schedule_group(
        &self,
        name: &str,
        tags: Vec<Tag>,
    ) -> Result<String, SchedulerError> {
        check_name("name", name)?;
        check_tags(&tags)?;
        let now = now_s();
        let record = GroupRecord {
            arn: self.group_arn(name),
            name: name.to_string(),
            state: "ACTIVE".into(),
            creation_date: now,
            last_modification_date: now,
        };
        let stored = GroupDoc {
            record: record.clone(),
            tags,
        };
        if name == DEFAULT_GROUP
            || !self
                .docs()
                .insert(GROUP, name, &encode(&stored))
                .await
                .map_err(internal)?
        {
            return Err(SchedulerError::Conflict(format!(
                "Schedule group {name} already exists."
            )));
        }
        Ok(record.arn)
    }

    /// GetScheduleGroup.
    pub async fn get_schedule_group(&self, name: &str) -> Result<GroupRecord, SchedulerError> {
        check_name("name", name)?;
        self.group_doc(name).await.map(|d| d.record)
    }

    async fn group_doc(&self, name: &str) -> Result<GroupDoc, SchedulerError> {
        if name == DEFAULT_GROUP {
            return Ok(GroupDoc {
                record: self.default_group(),
                tags: Vec::new(),
            });
        }
        match self.docs().get(GROUP, name).await.map_err(internal)? {
            Some(doc) => decode(&doc),
            None => Err(SchedulerError::NotFound(format!(
                "Schedule group {name} does not exist."
            ))),
        }
    }

    /// DeleteScheduleGroup: the group and every schedule in it.
    pub async fn delete_schedule_group(&self, name: &str) -> Result<(), SchedulerError> {
        check_name("name", name)?;
        if name == DEFAULT_GROUP {
            return Err(SchedulerError::Validation(
                "The default schedule group cannot be deleted.".into(),
            ));
        }
        self.group(name).await?;
        let prefix = format!("{name}/");
        for (key, _) in self
            .docs()
            .list(SCHEDULE, &prefix)
            .await
            .map_err(internal)?
        {
            self.docs().delete(SCHEDULE, &key).await.map_err(internal)?;
            self.forget_fires(&key).await;
        }
        self.docs().delete(GROUP, name).await.map_err(internal)?;
        self.p.inner.timer.changed();
        Ok(())
    }

    /// ListScheduleGroups (the default group first among the others, by name).
    pub async fn list_schedule_groups(
        &self,
        prefix: Option<&str>,
        max: Option<i64>,
        token: Option<&str>,
    ) -> Result<(Vec<GroupRecord>, Option<String>), SchedulerError> {
        let mut items = vec![(DEFAULT_GROUP.to_string(), self.default_group())];
        for (key, doc) in self.docs().list(GROUP, "").await.map_err(internal)? {
            items.push((key, decode::<GroupDoc>(&doc)?.record));
        }
        items.sort_by(|a, b| a.0.cmp(&b.0));
        items.retain(|(k, _)| prefix.is_none_or(|p| k.starts_with(p)));
        page(items, max, token)
    }

    /// The group an ARN names (tags are a group's, in the Scheduler).
    fn group_of_arn<'n>(&self, arn: &'n str) -> Result<&'n str, SchedulerError> {
        let prefix = self.group_arn("");
        arn.strip_prefix(prefix.as_str())
            .filter(|name| check_name("resourceArn", name).is_ok())
            .ok_or_else(|| {
                SchedulerError::NotFound(format!(
                    "Resource {arn} does not exist: tags belong to schedule groups."
                ))
            })
    }

    /// ListTagsForResource.
    pub async fn list_tags_for_resource(&self, arn: &str) -> Result<Vec<Tag>, SchedulerError> {
        let name = self.group_of_arn(arn)?;
        Ok(self.group_doc(name).await?.tags)
    }

    /// TagResource: adds or replaces tags.
    pub async fn tag_resource(&self, arn: &str, tags: Vec<Tag>) -> Result<(), SchedulerError> {
        check_tags(&tags)?;
        self.retag(arn, |current| {
            for tag in tags {
                current.retain(|t| t.key != tag.key);
                current.push(tag);
            }
        })
        .await
    }

    /// UntagResource.
    pub async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<(), SchedulerError> {
        self.retag(arn, |current| current.retain(|t| !keys.contains(&t.key)))
            .await
    }

    async fn retag(
        &self,
        arn: &str,
        change: impl FnOnce(&mut Vec<Tag>),
    ) -> Result<(), SchedulerError> {
        let name = self.group_of_arn(arn)?;
        if name == DEFAULT_GROUP {
            return Err(SchedulerError::Validation(
                "The default schedule group cannot be tagged.".into(),
            ));
        }
        let mut doc = self.group_doc(name).await?;
        change(&mut doc.tags);
        check_tags(&doc.tags)?;
        self.docs()
            .replace(GROUP, name, &encode(&doc))
            .await
            .map_err(internal)?;
        Ok(())
    }
}

fn not_found(name: &str) -> SchedulerError {
    SchedulerError::NotFound(format!("Schedule {name} does not exist."))
}

fn check_tags(tags: &[Tag]) -> Result<(), SchedulerError> {
    if tags.len() > 200 {
        return Err(SchedulerError::Validation(
            "A resource has at most 200 tags.".into(),
        ));
    }
    for tag in tags {
        if tag.key.is_empty() || tag.key.len() > 128 || tag.value.len() > 256 {
            return Err(SchedulerError::Validation(format!(
                "Tag {:?} is not valid: keys have 1 to 128 characters, values at most 256",
                tag.key
            )));
        }
    }
    Ok(())
}

/// A group as stored: its record and its tags.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct GroupDoc {
    #[serde(flatten)]
    record: GroupRecord,
    #[serde(default)]
    tags: Vec<Tag>,
}
