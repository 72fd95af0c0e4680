//! Reserved concurrency: PutFunctionConcurrency, GetFunctionConcurrency,
//! DeleteFunctionConcurrency; and the throttle counts.

use std::sync::atomic::Ordering;

use lamina_model::function::FunctionConcurrency;
use lamina_model::{FunctionRef, LambdaError};

use crate::Platform;

/// Reserved concurrency (Put, Get and DeleteFunctionConcurrency) and throttle counts. A view
/// of the platform: `platform.reservations()`.
#[derive(Debug, Clone, Copy)]
pub struct Reservations<'a> {
    pub(crate) p: &'a Platform,
}

impl Reservations<'_> {
    /// PutFunctionConcurrency.
    pub async fn put_function_concurrency(
        &self,
        name: &str,
        req: FunctionConcurrency,
    ) -> Result<FunctionConcurrency, LambdaError> {
        let function = self.concurrency_function(name)?;
        let wanted = LambdaError::count_at_least(
            req.reserved_concurrent_executions,
            "reservedConcurrentExecutions",
            0,
        )?;
        let state = self.p.inner.concurrency.clone();
        self.change_reservation(&function, |old| {
            let others = state.reserved_total.load(Ordering::SeqCst) - old.unwrap_or(0);
            if state.limit.saturating_sub(others.saturating_add(wanted)) < state.unreserved_minimum
            {
                return Err(LambdaError::InvalidParameterValue(format!(
                    "Specified ReservedConcurrentExecutions for function decreases account's \
                     UnreservedConcurrentExecution below its minimum value of [{}].",
                    state.unreserved_minimum
                )));
            }
            Ok(Some(wanted))
        })
        .await?;
        Ok(FunctionConcurrency {
            reserved_concurrent_executions: Some(i64::from(wanted)),
        })
    }

    /// GetFunctionConcurrency.
    pub fn get_function_concurrency(&self, name: &str) -> Result<FunctionConcurrency, LambdaError> {
        let function = self.concurrency_function(name)?;
        let entry = self.p.registry().lookup(&function, None)?;
        Ok(FunctionConcurrency {
            reserved_concurrent_executions: entry.config.reserved_concurrency.map(i64::from),
        })
    }

    /// DeleteFunctionConcurrency.
    pub async fn delete_function_concurrency(&self, name: &str) -> Result<(), LambdaError> {
        let function = self.concurrency_function(name)?;
        self.change_reservation(&function, |_| Ok(None)).await
    }

    /// Throttled invocations of `name` since the server started.
    pub fn throttle_count(&self, name: &str) -> u64 {
        self.p.inner.concurrency.throttles(name)
    }

    /// Concurrent executions of the whole server.
    pub fn concurrency_limit(&self) -> u32 {
        self.p.inner.concurrency.limit
    }

    fn concurrency_function(&self, name: &str) -> Result<String, LambdaError> {
        let r = FunctionRef::parse(name, self.p.identity())?;
        if r.qualifier.is_some() {
            return Err(LambdaError::InvalidParameterValue(
                "Reserved concurrency applies to the whole function: give the unqualified \
                 function name."
                    .into(),
            ));
        }
        self.p.registry().lookup(&r.name, None)?;
        Ok(r.name)
    }

    async fn change_reservation(
        &self,
        function: &str,
        decide: impl FnOnce(Option<u32>) -> Result<Option<u32>, LambdaError>,
    ) -> Result<(), LambdaError> {
        let (old, new) = self
            .p
            .registry()
            .change_record(function, |_, config| {
                let old = config.reserved_concurrency;
                config.reserved_concurrency = decide(old)?;
                Ok((old, config.reserved_concurrency))
            })
            .await?;
        let total = &self.p.inner.concurrency.reserved_total;
        total.fetch_add(new.unwrap_or(0), Ordering::SeqCst);
        total.fetch_sub(old.unwrap_or(0), Ordering::SeqCst);
        Ok(())
    }
}
