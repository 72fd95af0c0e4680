//! CreateFunctionUrlConfig, GetFunctionUrlConfig, UpdateFunctionUrlConfig,
//! DeleteFunctionUrlConfig and ListFunctionUrlConfigs: the URLs of a function's `$LATEST`
//! and of its aliases, kept in the function's record (so they go with it), and which URL an
//! id names when a request arrives at one.

use lamina_model::paging::Page;
use lamina_model::url::{
    FunctionUrlConfigRequest, FunctionUrlConfigResponse, UrlConfig, check_qualifier, url_timestamp,
};
use lamina_model::{FunctionRef, LambdaError};

use crate::Platform;

/// Create, Get, Update, Delete and ListFunctionUrlConfigs. A view of the platform:
/// `platform.function_urls()`.
#[derive(Debug, Clone, Copy)]
pub struct FunctionUrls<'a> {
    pub(crate) p: &'a Platform,
}

/// What a URL id names, when a request arrives at it.
#[derive(Debug, Clone)]
pub struct UrlTarget {
    /// The function's name.
    pub function: String,
    /// The alias, for an alias's URL.
    pub qualifier: Option<String>,
    /// The URL's configuration.
    pub config: UrlConfig,
}

impl FunctionUrls<'_> {
    /// The function and qualifier (`$LATEST` when none) a call names; an alias must exist.
    fn target(&self, name: &str, qualifier: Option<&str>) -> Result<(String, String), LambdaError> {
        let r = FunctionRef::parse_with_qualifier(name, qualifier, self.p.identity())?;
        if let Some(q) = r.qualifier.as_deref() {
            check_qualifier(q)?;
        }
        self.p.registry().resolve(&r)?;
        Ok((r.name, r.qualifier.unwrap_or_else(|| "$LATEST".into())))
    }

    /// The URL at which `config` is served.
    pub fn url_of(&self, config: &UrlConfig) -> String {
        format!(
            "http://{}.lambda-url.{}.{}/",
            config.url_id,
            self.p.identity().region,
            self.p.inner.url_host
        )
    }

    /// The domain URLs are named under, without the port (`localhost`).
    pub fn domain(&self) -> &str {
        let host = self.p.inner.url_host.as_str();
        match host.rsplit_once(':') {
            Some((domain, port)) if port.bytes().all(|b| b.is_ascii_digit()) => domain,
            _ => host,
        }
    }

    fn arn(&self, function: &str, qualifier: &str) -> String {
        if qualifier == "$LATEST" {
            self.p.identity().function_arn(function)
        } else {
            self.p.identity().qualified_arn(function, qualifier)
        }
    }

    fn answer(&self, function: &str, qualifier: &str, c: &UrlConfig) -> FunctionUrlConfigResponse {
        FunctionUrlConfigResponse::new(c, self.url_of(c), self.arn(function, qualifier))
    }

    /// CreateFunctionUrlConfig: one URL per function or alias.
    pub async fn create(
        &self,
        name: &str,
        qualifier: Option<&str>,
        req: FunctionUrlConfigRequest,
    ) -> Result<FunctionUrlConfigResponse, LambdaError> {
        req.check()?;
        let (function, qualifier) = self.target(name, qualifier)?;
        let arn = self.arn(&function, &qualifier);
        let now = url_timestamp(chrono::Utc::now());
        let made = self
            .p
            .registry()
            .change_record(&function, |_, config| {
                if config.urls.contains_key(&qualifier) {
                    return Err(LambdaError::ResourceConflict(format!(
                        "Failed to create function url config for [functionArn = {arn}]. \
                         Error message:  FunctionUrlConfig exists for this Lambda function"
                    )));
                }
                let made = req.apply(None, &now)?;
                config.urls.insert(qualifier.clone(), made.clone());
                Ok(made)
            })
            .await?;
        let mut answer = self.answer(&function, &qualifier, &made);
        // Create's answer has no LastModifiedTime.
        answer.last_modified_time = None;
        Ok(answer)
    }

    /// GetFunctionUrlConfig.
    pub fn get(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<FunctionUrlConfigResponse, LambdaError> {
        let (function, qualifier) = self.target(name, qualifier)?;
        let entry = self.p.registry().lookup(&function, None)?;
        let config = entry.config.urls.get(&qualifier).ok_or_else(no_url)?;
        Ok(self.answer(&function, &qualifier, config))
    }

    /// UpdateFunctionUrlConfig: the members given replace the URL's.
    pub async fn update(
        &self,
        name: &str,
        qualifier: Option<&str>,
        req: FunctionUrlConfigRequest,
    ) -> Result<FunctionUrlConfigResponse, LambdaError> {
        req.check()?;
        let (function, qualifier) = self.target(name, qualifier)?;
        let now = url_timestamp(chrono::Utc::now());
        let updated = self
            .p
            .registry()
            .change_record(&function, |_, config| {
                let base = config.urls.get(&qualifier).cloned().ok_or_else(no_url)?;
                let next = req.apply(Some(base), &now)?;
                config.urls.insert(qualifier.clone(), next.clone());
                Ok(next)
            })
            .await?;
        Ok(self.answer(&function, &qualifier, &updated))
    }

    /// DeleteFunctionUrlConfig. A URL made again later gets a new id.
    pub async fn delete(&self, name: &str, qualifier: Option<&str>) -> Result<(), LambdaError> {
        let (function, qualifier) = self.target(name, qualifier)?;
        self.p
            .registry()
            .change_record(&function, |_, config| {
                config
                    .urls
                    .remove(&qualifier)
                    .map(|_| ())
                    .ok_or_else(no_url)
            })
            .await
    }

    /// ListFunctionUrlConfigs: the function's URLs, `$LATEST`'s and its aliases'.
    pub fn list(
        &self,
        name: &str,
        page: &Page,
    ) -> Result<(Vec<FunctionUrlConfigResponse>, Option<String>), LambdaError> {
        let r = FunctionRef::parse(name, self.p.identity())?;
        let entry = self.p.registry().lookup(&r.name, None)?;
        let all: Vec<FunctionUrlConfigResponse> = entry
            .config
            .urls
            .iter()
            .map(|(q, c)| self.answer(&r.name, q, c))
            .collect();
        page.slice(all, page.size(50, 50))
    }

    /// What the URL with id `url_id` (any case) serves, if it exists.
    pub fn resolve(&self, url_id: &str) -> Option<UrlTarget> {
        let id = url_id.to_ascii_lowercase();
        let (entry, qualifier) = self.p.registry().url(&id)?;
        let config = entry.config.urls.get(&qualifier)?.clone();
        Some(UrlTarget {
            function: entry.config.name.clone(),
            qualifier: (qualifier != "$LATEST").then_some(qualifier),
            config,
        })
    }
}

fn no_url() -> LambdaError {
    LambdaError::ResourceNotFound("The resource you requested does not exist.".into())
}
