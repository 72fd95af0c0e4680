//! Lamina's own routes (`/_lamina/…`), beside the AWS APIs: the status `lamina ps` shows,
//! triggers, buckets, failed asynchronous events, health, and the records of applications
//! deployed from templates. Reached through [`Client::lamina`].

use lamina_model::application::{Applications, Record};
use lamina_model::event_invoke::{FailedEvent, FailedEventsResponse, ReplayedEvent};
use percent_encoding::utf8_percent_encode;

use crate::{Client, ClientError, SEGMENT};

/// Lamina's own routes of a [`Client`]'s server.
pub struct Own<'a> {
    c: &'a Client,
}

impl Client {
    /// Lamina's own routes (`/_lamina/…`).
    pub fn lamina(&self) -> Own<'_> {
        Own { c: self }
    }
}

impl Own<'_> {
    /// The server's status: environments per function version and state, concurrency,
    /// throttles and invocation metrics (`GET /_lamina/status`).
    pub async fn status(&self) -> Result<lamina_model::status::ServerStatus, ClientError> {
        let req = self.c.http.get(self.c.url("/_lamina/status"));
        self.c.json(self.c.send(req).await?).await
    }

    /// Buckets with their contents and notification rules (`GET /_lamina/buckets`).
    pub async fn buckets(&self) -> Result<Vec<lamina_model::s3::wire::BucketLine>, ClientError> {
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(rename = "Buckets")]
            buckets: Vec<lamina_model::s3::wire::BucketLine>,
        }
        let req = self.c.http.get(self.c.url("/_lamina/buckets"));
        let answer: Answer = self.c.json(self.c.send(req).await?).await?;
        Ok(answer.buckets)
    }

    /// Sets the notification configuration of another store's bucket (an empty one removes
    /// it): `PUT /_lamina/s3/external/{bucket}`.
    pub async fn set_external_bucket(
        &self,
        bucket: &str,
        config: &lamina_model::s3::wire::WireConfiguration,
    ) -> Result<lamina_model::s3::wire::WireConfiguration, ClientError> {
        let path = format!(
            "/_lamina/s3/external/{}",
            utf8_percent_encode(bucket, SEGMENT)
        );
        let req = self
            .c
            .http
            .put(self.c.url(&path))
            .header("Content-Type", "application/json")
            .body(serde_json::to_vec(config).unwrap_or_default());
        self.c.json(self.c.send(req).await?).await
    }

    /// Schedules and rules with their next and last fires (`GET /_lamina/triggers`).
    pub async fn triggers(&self) -> Result<lamina_model::status::Triggers, ClientError> {
        let req = self.c.http.get(self.c.url("/_lamina/triggers"));
        self.c.json(self.c.send(req).await?).await
    }

    /// Asynchronous events that failed for good (`GET /_lamina/events/failed`), of one
    /// function or all.
    pub async fn failed_events(
        &self,
        function: Option<&str>,
    ) -> Result<Vec<FailedEvent>, ClientError> {
        let path = match function {
            Some(f) => format!(
                "/_lamina/events/failed?FunctionName={}",
                utf8_percent_encode(f, SEGMENT)
            ),
            None => "/_lamina/events/failed".to_string(),
        };
        let req = self.c.http.get(self.c.url(&path));
        let answer: FailedEventsResponse = self.c.json(self.c.send(req).await?).await?;
        Ok(answer.failed_events)
    }

    /// Puts a failed event back in its function's queue; returns its new id.
    pub async fn replay_failed_event(&self, id: i64) -> Result<i64, ClientError> {
        let req = self
            .c
            .http
            .post(self.c.url(&format!("/_lamina/events/failed/{id}/replay")));
        let replayed: ReplayedEvent = self.c.json(self.c.send(req).await?).await?;
        Ok(replayed.id)
    }

    fn application_path(name: &str) -> String {
        format!(
            "/_lamina/applications/{}",
            utf8_percent_encode(name, SEGMENT)
        )
    }

    /// The record of application `name`, if it was deployed.
    pub async fn application(&self, name: &str) -> Result<Option<Record>, ClientError> {
        let req = self.c.http.get(self.c.url(&Own::application_path(name)));
        match self.c.send(req).await {
            Ok(resp) => self.c.json(resp).await.map(Some),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Keeps the record of application `name`.
    pub async fn put_application(&self, name: &str, record: &Record) -> Result<(), ClientError> {
        let req = self
            .c
            .http
            .put(self.c.url(&Own::application_path(name)))
            .json(record);
        self.c.send(req).await?;
        Ok(())
    }

    /// Forgets application `name`.
    pub async fn delete_application(&self, name: &str) -> Result<(), ClientError> {
        let req = self.c.http.delete(self.c.url(&Own::application_path(name)));
        self.c.send(req).await?;
        Ok(())
    }

    /// Every application's record.
    pub async fn applications(&self) -> Result<Vec<Record>, ClientError> {
        let req = self.c.http.get(self.c.url("/_lamina/applications"));
        let answer: Applications = self.c.json(self.c.send(req).await?).await?;
        Ok(answer.applications)
    }

    /// `/_lamina/health`: the server's version, region, account, isolation and runtimes.
    pub async fn health(&self) -> Result<serde_json::Value, ClientError> {
        let req = self.c.http.get(self.c.url("/_lamina/health"));
        self.c.json(self.c.send(req).await?).await
    }
}
