//! Calls by path or by operation, for commands that drive several services' APIs (a
//! template's deploy: Lambda's REST paths, EventBridge's and SQS's JSON operations, S3's
//! XML).

use reqwest::Method;

use crate::{Client, ClientError};

impl Client {
    /// A REST-JSON call (Lambda's, Scheduler's): its answer, or `null` for an empty one.
    pub async fn rest(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, ClientError> {
        let mut req = self.http.request(method, self.url(path));
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = self.send(req).await?;
        let bytes = resp.bytes().await.map_err(|e| ClientError::Protocol {
            endpoint: self.endpoint.clone(),
            detail: e.to_string(),
        })?;
        if bytes.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol {
            endpoint: self.endpoint.clone(),
            detail: e.to_string(),
        })
    }

    /// A JSON-protocol operation (`X-Amz-Target: AWSEvents.PutRule`, …) in JSON 1.1.
    pub async fn operation(
        &self,
        target: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, ClientError> {
        let req = self
            .http
            .post(self.url("/"))
            .header("X-Amz-Target", target)
            .header("Content-Type", "application/x-amz-json-1.1")
            .body(body.to_string());
        let resp = self.send(req).await?;
        self.json(resp).await
    }

    /// An S3 call whose answer is not needed (CreateBucket, DeleteBucket,
    /// PutBucketNotificationConfiguration), with an XML body if any. S3's path-style
    /// requests are told from the other services' by their signature, so this one is always
    /// signed: with the client's key, else an anonymous one (a server without
    /// `--credentials` serves unchecked requests as anonymous).
    pub async fn s3(
        &self,
        method: Method,
        path: &str,
        xml: Option<String>,
    ) -> Result<(), ClientError> {
        let mut req = self.http.request(method, self.url(path));
        if let Some(x) = xml {
            req = req.header("Content-Type", "application/xml").body(x);
        }
        let req = req.build().map_err(|e| ClientError::Protocol {
            endpoint: self.endpoint.clone(),
            detail: e.to_string(),
        })?;
        let anonymous = (
            lamina_sigv4::Credentials {
                access_key_id: "anonymous".into(),
                secret_access_key: "anonymous".into(),
                session_token: None,
            },
            "us-east-1".to_string(),
        );
        let (creds, region) = self.signing.as_ref().unwrap_or(&anonymous);
        let req = Client::sign(req, creds, region, "s3");
        self.execute(req).await?;
        Ok(())
    }
}
