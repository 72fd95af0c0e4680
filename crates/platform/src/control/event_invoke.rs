//! PutFunctionEventInvokeConfig, UpdateFunctionEventInvokeConfig,
//! GetFunctionEventInvokeConfig, ListFunctionEventInvokeConfigs and
//! DeleteFunctionEventInvokeConfig: how asynchronous invocations of a function or qualifier
//! are retried and where their results go.

use lamina_model::event_invoke::{
    EventInvokeConfig, EventInvokeConfigRequest, FunctionEventInvokeConfig,
};
use lamina_model::{FunctionRef, LambdaError};
use lamina_queue::now_ms;

use lamina_model::paging::Page;

use crate::Platform;

/// Put, Update, Get, List and DeleteFunctionEventInvokeConfig. A view of the platform: `platform.event_invoke_configs()`.
#[derive(Debug, Clone, Copy)]
pub struct EventInvokeConfigs<'a> {
    pub(crate) p: &'a Platform,
}

impl EventInvokeConfigs<'_> {
    /// The qualifier a configuration call names (default `$LATEST`), checked to exist.
    fn event_config_target(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<(String, String), LambdaError> {
        let r = FunctionRef::parse_with_qualifier(name, qualifier, self.p.identity())?;
        self.p.registry().resolve(&r)?;
        Ok((r.name, r.qualifier.unwrap_or_else(|| "$LATEST".into())))
    }

    fn check_destination(&self, arn: &str) -> Result<(), LambdaError> {
        let invalid = || {
            LambdaError::InvalidParameterValue(format!(
                "The destination ARN {arn} is invalid: Lamina delivers to SQS queues and \
                 functions of this region and account (arn:aws:sqs:{r}:{a}:NAME, \
                 arn:aws:lambda:{r}:{a}:function:NAME).",
                r = self.p.identity().region,
                a = self.p.identity().account
            ))
        };
        if !arn.starts_with("arn:") {
            return Err(invalid());
        }
        if let Some(name) = arn.strip_prefix(&self.p.sqs().arn("")) {
            return lamina_model::sqs::queue::check_name(name).map_err(|_| invalid());
        }
        FunctionRef::parse(arn, self.p.identity()).map_err(|_| invalid())?;
        Ok(())
    }

    /// PutFunctionEventInvokeConfig (replace) or UpdateFunctionEventInvokeConfig (merge).
    pub async fn put_event_invoke_config(
        &self,
        name: &str,
        qualifier: Option<&str>,
        req: EventInvokeConfigRequest,
        merge: bool,
    ) -> Result<FunctionEventInvokeConfig, LambdaError> {
        let (function, qualifier) = self.event_config_target(name, qualifier)?;
        let arn = self.p.identity().qualified_arn(&function, &qualifier);
        let stored = self
            .p
            .registry()
            .change_record(&function, |_, config| {
                let base = match config.event_invoke.get(&qualifier) {
                    Some(old) if merge => old.clone(),
                    None if merge => return Err(no_event_config(&arn)),
                    _ => EventInvokeConfig::default(),
                };
                let mut next = req.apply(base, |a| self.check_destination(a))?;
                next.last_modified = now_ms() as f64 / 1000.0;
                config.event_invoke.insert(qualifier.clone(), next.clone());
                Ok(next)
            })
            .await?;
        Ok(FunctionEventInvokeConfig::new(arn, &stored))
    }

    /// GetFunctionEventInvokeConfig.
    pub fn get_event_invoke_config(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<FunctionEventInvokeConfig, LambdaError> {
        let (function, qualifier) = self.event_config_target(name, qualifier)?;
        let arn = self.p.identity().qualified_arn(&function, &qualifier);
        let entry = self.p.registry().lookup(&function, None)?;
        let config = entry
            .config
            .event_invoke
            .get(&qualifier)
            .ok_or_else(|| no_event_config(&arn))?;
        Ok(FunctionEventInvokeConfig::new(arn, config))
    }

    /// ListFunctionEventInvokeConfigs.
    pub fn list_event_invoke_configs(
        &self,
        name: &str,
        page: &Page,
    ) -> Result<(Vec<FunctionEventInvokeConfig>, Option<String>), LambdaError> {
        let r = FunctionRef::parse(name, self.p.identity())?;
        let max = page.size(50, 50);
        let entry = self.p.registry().lookup(&r.name, None)?;
        let all: Vec<FunctionEventInvokeConfig> = entry
            .config
            .event_invoke
            .iter()
            .map(|(q, c)| {
                FunctionEventInvokeConfig::new(self.p.identity().qualified_arn(&r.name, q), c)
            })
            .collect();
        page.slice(all, max)
    }

    /// DeleteFunctionEventInvokeConfig.
    pub async fn delete_event_invoke_config(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<(), LambdaError> {
        let (function, qualifier) = self.event_config_target(name, qualifier)?;
        let arn = self.p.identity().qualified_arn(&function, &qualifier);
        self.p
            .registry()
            .change_record(&function, |_, config| {
                config
                    .event_invoke
                    .remove(&qualifier)
                    .map(|_| ())
                    .ok_or_else(|| no_event_config(&arn))
            })
            .await
    }
}

fn no_event_config(arn: &str) -> LambdaError {
    LambdaError::ResourceNotFound(format!(
        "The function {arn} doesn't have an EventInvokeConfig"
    ))
}
