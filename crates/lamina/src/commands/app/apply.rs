//! One step of a template's deploy, as the API calls that take it: each kind of resource
//! is made, changed and removed through the same API the AWS clients use (Lambda's REST
//! paths, EventBridge's and SQS's JSON operations, Scheduler's REST, S3's XML).

use std::collections::BTreeMap;

use anyhow::Context;
use base64::Engine;
use lamina_client::Client;
use lamina_template::Application;
use lamina_template::app::{Function, LayerRef, TriggerKind};
use lamina_template::plan::{Action, Kind, Step};
use reqwest::Method;
use serde_json::{Map, Value, json};

/// What applying steps needs besides the steps.
pub struct Applier<'a> {
    pub client: &'a Client,
    pub app: &'a Application,
    /// Each function's and layer's package, by logical id.
    pub packages: &'a BTreeMap<String, Vec<u8>>,
    /// Layer version ARNs by logical id: the record's, then what was published.
    pub layer_arns: BTreeMap<String, String>,
    /// The server's account, which queue URLs hold.
    pub account: String,
}

fn seg(s: &str) -> String {
    lamina_client::segment(s)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Ignores "not found": what is to be removed is already gone.
fn gone_ok<T>(r: Result<T, lamina_client::ClientError>) -> anyhow::Result<()> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

impl Applier<'_> {
    /// Takes `step`: what to record of the resource afterwards (`None` once deleted).
    pub async fn apply(&mut self, step: &Step) -> anyhow::Result<Option<String>> {
        let id = step.key.split_once(':').map_or("", |(_, id)| id);
        let recorded = step.recorded.as_deref().unwrap_or_default();
        if matches!(step.action, Action::Delete | Action::Replace) {
            self.delete(step.kind, recorded).await?;
            if step.action == Action::Delete {
                return Ok(None);
            }
        }
        let update = step.action == Action::Update;
        let physical = match step.kind {
            Kind::Layer => self.layer(id, recorded, update).await?,
            Kind::Queue => self.queue(id, update).await?,
            Kind::Bucket => {
                let b = self.bucket_named(id)?;
                if !update {
                    self.client
                        .s3(Method::PUT, &format!("/{}", seg(&b.name)), None)
                        .await?;
                }
                b.name.clone()
            }
            Kind::Function => self.function(id, update).await?,
            Kind::Url => self.url(id, update).await?,
            Kind::Rule | Kind::Schedule | Kind::Mapping => self.trigger(id, update).await?,
            Kind::Notification => {
                let b = self.bucket_named(id)?;
                let xml = notification_xml(&b.notifications);
                self.client
                    .s3(
                        Method::PUT,
                        &format!("/{}?notification", seg(&b.name)),
                        Some(xml),
                    )
                    .await?;
                b.name.clone()
            }
        };
        Ok(Some(physical))
    }

    fn bucket_named(&self, id: &str) -> anyhow::Result<&lamina_template::app::Bucket> {
        self.app
            .buckets
            .iter()
            .find(|b| b.logical_id == id)
            .context("no such bucket in the template")
    }

    fn function_named(&self, id: &str) -> anyhow::Result<&Function> {
        self.app
            .functions
            .iter()
            .find(|f| f.logical_id == id)
            .with_context(|| format!("no function {id} in the template"))
    }

    /// Removes what `physical` names, of `kind`.
    async fn delete(&self, kind: Kind, physical: &str) -> anyhow::Result<()> {
        let c = self.client;
        match kind {
            Kind::Layer => {
                if let Some((name, version)) = layer_version(physical) {
                    gone_ok(
                        c.rest(
                            Method::DELETE,
                            &format!("/2018-10-31/layers/{}/versions/{version}", seg(name)),
                            None,
                        )
                        .await,
                    )?;
                }
            }
            Kind::Queue => {
                let url = format!("{}/{}/{physical}", c.endpoint(), self.account);
                gone_ok(c.sqs("DeleteQueue", &json!({ "QueueUrl": url })).await)?;
            }
            Kind::Bucket => match c
                .s3(Method::DELETE, &format!("/{}", seg(physical)), None)
                .await
            {
                Err(lamina_client::ClientError::Api { error_type, .. })
                    if error_type == "BucketNotEmpty" =>
                {
                    anyhow::bail!(
                        "bucket {physical} is not empty: empty it, then delete again \
                         (as CloudFormation, Lamina does not delete objects)"
                    )
                }
                r => gone_ok(r)?,
            },
            Kind::Function => gone_ok(c.delete_function(physical).await)?,
            Kind::Url => {
                let (name, qualifier) = physical.split_once(':').unwrap_or((physical, "$LATEST"));
                let mut path = format!("/2021-10-31/functions/{}/url", seg(name));
                if qualifier != "$LATEST" {
                    path.push_str(&format!("?Qualifier={}", seg(qualifier)));
                }
                gone_ok(c.rest(Method::DELETE, &path, None).await)?;
            }
            Kind::Rule => {
                let (bus, rule) = physical.split_once('/').unwrap_or(("default", physical));
                let on = json!({ "Rule": rule, "EventBusName": bus });
                match c.operation("AWSEvents.ListTargetsByRule", &on).await {
                    Ok(targets) => {
                        let ids: Vec<Value> = targets["Targets"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|t| t["Id"].clone())
                            .collect();
                        if !ids.is_empty() {
                            let body = json!({ "Rule": rule, "EventBusName": bus, "Ids": ids });
                            c.operation("AWSEvents.RemoveTargets", &body).await?;
                        }
                    }
                    Err(e) if e.is_not_found() => return Ok(()),
                    Err(e) => return Err(e.into()),
                }
                let body = json!({ "Name": rule, "EventBusName": bus });
                gone_ok(c.operation("AWSEvents.DeleteRule", &body).await)?;
            }
            Kind::Schedule => {
                let (group, name) = physical.split_once('/').unwrap_or(("default", physical));
                let path = format!("/schedules/{}?groupName={}", seg(name), seg(group));
                gone_ok(c.rest(Method::DELETE, &path, None).await)?;
            }
            Kind::Mapping => {
                let path = format!("/2015-03-31/event-source-mappings/{}", seg(physical));
                gone_ok(c.rest(Method::DELETE, &path, None).await)?;
            }
            Kind::Notification => {
                let xml = notification_xml(&[]);
                gone_ok(
                    c.s3(
                        Method::PUT,
                        &format!("/{}?notification", seg(physical)),
                        Some(xml),
                    )
                    .await,
                )?;
            }
        }
        Ok(())
    }

    async fn layer(&mut self, id: &str, old: &str, update: bool) -> anyhow::Result<String> {
        let l = self
            .app
            .layers
            .iter()
            .find(|l| l.logical_id == id)
            .context("no such layer")?;
        let mut body = l.body.clone();
        let zip = self.packages.get(id).context("layer not built")?;
        body.insert("Content".into(), json!({ "ZipFile": b64(zip) }));
        let made = self
            .client
            .rest(
                Method::POST,
                &format!("/2018-10-31/layers/{}/versions", seg(&l.name)),
                Some(&Value::Object(body)),
            )
            .await?;
        let arn = made["LayerVersionArn"]
            .as_str()
            .context("PublishLayerVersion answered no LayerVersionArn")?
            .to_string();
        self.layer_arns.insert(id.to_string(), arn.clone());
        if update && !l.retain && !old.is_empty() {
            // As in Lambda, a deleted layer version's content stays for the functions that
            // use it: the old version can go before they move to the new one.
            self.delete(Kind::Layer, old).await?;
        }
        Ok(arn)
    }

    async fn queue(&self, id: &str, update: bool) -> anyhow::Result<String> {
        let q = self
            .app
            .queues
            .iter()
            .find(|q| q.logical_id == id)
            .context("no such queue")?;
        if update {
            let url = format!("{}/{}/{}", self.client.endpoint(), self.account, q.name);
            let body = json!({ "QueueUrl": url, "Attributes": q.attributes });
            self.client.sqs("SetQueueAttributes", &body).await?;
        } else {
            let body = json!({ "QueueName": q.name, "Attributes": q.attributes });
            self.client.sqs("CreateQueue", &body).await?;
        }
        Ok(q.name.clone())
    }

    async fn function(&mut self, id: &str, update: bool) -> anyhow::Result<String> {
        let f = self.function_named(id)?;
        let c = self.client;
        let name = seg(&f.name);
        let zip = self.packages.get(id).context("function not built")?;
        let layers: Vec<String> = f
            .layers
            .iter()
            .map(|l| match l {
                LayerRef::Arn(a) => Ok(a.clone()),
                LayerRef::Template(lid) => self
                    .layer_arns
                    .get(lid)
                    .cloned()
                    .with_context(|| format!("layer {lid} was not published")),
            })
            .collect::<anyhow::Result<_>>()?;
        let mut config: Map<String, Value> = f.config.clone();
        config.insert("Layers".into(), json!(layers));
        if update {
            let current = c.get_configuration(&f.name).await?;
            if current.code_sha256 != super::sha256_b64(zip) {
                let body = json!({ "ZipFile": b64(zip) });
                c.rest(
                    Method::PUT,
                    &format!("/2015-03-31/functions/{name}/code"),
                    Some(&body),
                )
                .await?;
            }
            // What left the template is reset: a configuration update replaces only what
            // it names.
            config
                .entry("Environment")
                .or_insert_with(|| json!({ "Variables": {} }));
            config
                .entry("DeadLetterConfig")
                .or_insert_with(|| json!({ "TargetArn": "" }));
            config.remove("Tags");
            c.rest(
                Method::PUT,
                &format!("/2015-03-31/functions/{name}/configuration"),
                Some(&Value::Object(config)),
            )
            .await?;
        } else {
            config.insert("FunctionName".into(), f.name.clone().into());
            config.insert("Code".into(), json!({ "ZipFile": b64(zip) }));
            c.rest(
                Method::POST,
                "/2015-03-31/functions",
                Some(&Value::Object(config)),
            )
            .await?;
        }
        let reserved = f
            .reserved_concurrency
            .map(|n| json!({ "ReservedConcurrentExecutions": n }));
        let path = format!("/2017-10-31/functions/{name}/concurrency");
        self.setting(&path, reserved, update).await?;
        let invoke_config = f.event_invoke.clone().map(Value::Object);
        let path = format!("/2019-09-25/functions/{name}/event-invoke-config");
        self.setting(&path, invoke_config, update).await?;
        if let Some(alias) = &f.alias {
            let version = c
                .rest(
                    Method::POST,
                    &format!("/2015-03-31/functions/{name}/versions"),
                    Some(&json!({})),
                )
                .await?;
            let version = version["Version"].as_str().unwrap_or("$LATEST").to_string();
            let body = json!({ "Name": alias, "FunctionVersion": version });
            let aliases = format!("/2015-03-31/functions/{name}/aliases");
            match c.rest(Method::POST, &aliases, Some(&body)).await {
                Err(lamina_client::ClientError::Api { status: 409, .. }) => {
                    let path = format!("{aliases}/{}", seg(alias));
                    c.rest(Method::PUT, &path, Some(&body)).await?;
                }
                r => {
                    r?;
                }
            }
            let path = format!(
                "/2019-09-30/functions/{name}/provisioned-concurrency?Qualifier={}",
                seg(alias)
            );
            let provisioned = f
                .provisioned_concurrency
                .map(|n| json!({ "ProvisionedConcurrentExecutions": n }));
            self.setting(&path, provisioned, update).await?;
        }
        Ok(f.name.clone())
    }

    /// Puts a function's setting (`body`) at `path`, or, on an update where the template
    /// no longer has it, removes it.
    async fn setting(&self, path: &str, body: Option<Value>, update: bool) -> anyhow::Result<()> {
        match body {
            Some(b) => {
                self.client.rest(Method::PUT, path, Some(&b)).await?;
            }
            None if update => gone_ok(self.client.rest(Method::DELETE, path, None).await)?,
            None => {}
        }
        Ok(())
    }

    async fn url(&self, id: &str, update: bool) -> anyhow::Result<String> {
        let f = self.function_named(id)?;
        let body = Value::Object(f.url.clone().unwrap_or_default());
        let qualifier = f.alias.as_deref().unwrap_or("$LATEST");
        let mut path = format!("/2021-10-31/functions/{}/url", seg(&f.name));
        if let Some(a) = &f.alias {
            path.push_str(&format!("?Qualifier={}", seg(a)));
        }
        let method = if update { Method::PUT } else { Method::POST };
        self.client.rest(method, &path, Some(&body)).await?;
        Ok(format!("{}:{qualifier}", f.name))
    }

    async fn trigger(&self, id: &str, update: bool) -> anyhow::Result<String> {
        let (fid, event) = id
            .split_once('.')
            .context("a trigger's key is Function.Event")?;
        let f = self.function_named(fid)?;
        let t = f
            .triggers
            .iter()
            .find(|t| t.event == event)
            .with_context(|| format!("no event {event} on {fid}"))?;
        let c = self.client;
        match &t.kind {
            TriggerKind::Rule {
                name,
                bus,
                rule,
                target,
            } => {
                c.operation("AWSEvents.PutRule", &Value::Object(rule.clone()))
                    .await?;
                let body = json!({ "Rule": name, "EventBusName": bus, "Targets": [target] });
                let answer = c.operation("AWSEvents.PutTargets", &body).await?;
                if answer["FailedEntryCount"].as_u64().unwrap_or(0) > 0 {
                    anyhow::bail!(
                        "PutTargets failed for rule {name}: {}",
                        answer["FailedEntries"]
                    );
                }
                Ok(format!("{bus}/{name}"))
            }
            TriggerKind::Schedule { name, group, body } => {
                let method = if update { Method::PUT } else { Method::POST };
                let path = format!("/schedules/{}", seg(name));
                c.rest(method, &path, Some(&Value::Object(body.clone())))
                    .await?;
                Ok(format!("{group}/{name}"))
            }
            TriggerKind::Mapping { body } => {
                let made = c
                    .rest(
                        Method::POST,
                        "/2015-03-31/event-source-mappings/",
                        Some(&Value::Object(body.clone())),
                    )
                    .await?;
                made["UUID"]
                    .as_str()
                    .map(str::to_string)
                    .context("CreateEventSourceMapping answered no UUID")
            }
        }
    }
}

/// (name, version) of a layer version ARN.
fn layer_version(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.rsplitn(3, ':');
    let version = parts.next()?;
    let name = parts.next()?;
    Some((name, version))
}

/// S3's PutBucketNotificationConfiguration body for LambdaFunctionConfigurations in their
/// JSON form.
fn notification_xml(rules: &[Value]) -> String {
    fn esc(s: &str) -> String {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    }
    let mut x = String::from(
        r#"<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">"#,
    );
    for r in rules {
        x.push_str("<CloudFunctionConfiguration>");
        if let Some(id) = r["Id"].as_str() {
            x.push_str(&format!("<Id>{}</Id>", esc(id)));
        }
        let arn = r["LambdaFunctionArn"].as_str().unwrap_or_default();
        x.push_str(&format!("<CloudFunction>{}</CloudFunction>", esc(arn)));
        for e in r["Events"].as_array().into_iter().flatten() {
            x.push_str(&format!(
                "<Event>{}</Event>",
                esc(e.as_str().unwrap_or_default())
            ));
        }
        let rules = r["Filter"]["Key"]["FilterRules"].as_array();
        if let Some(rules) = rules.filter(|r| !r.is_empty()) {
            x.push_str("<Filter><S3Key>");
            for fr in rules {
                x.push_str(&format!(
                    "<FilterRule><Name>{}</Name><Value>{}</Value></FilterRule>",
                    esc(fr["Name"].as_str().unwrap_or_default()),
                    esc(fr["Value"].as_str().unwrap_or_default())
                ));
            }
            x.push_str("</S3Key></Filter>");
        }
        x.push_str("</CloudFunctionConfiguration>");
    }
    x.push_str("</NotificationConfiguration>");
    x
}
