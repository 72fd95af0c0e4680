//! The application a template describes, with every intrinsic function evaluated and every
//! name chosen: what the deploy creates, in the shapes of the API requests that create it.

use std::path::PathBuf;

use serde_json::{Map, Value};

/// Everything a template deploys.
#[derive(Debug, Default)]
pub struct Application {
    /// The application's name (CloudFormation's stack name).
    pub name: String,
    /// `AWS::Serverless::LayerVersion`s.
    pub layers: Vec<Layer>,
    /// `AWS::SQS::Queue`s.
    pub queues: Vec<Queue>,
    /// `AWS::S3::Bucket`s, with the notifications the functions' S3 events ask of them.
    pub buckets: Vec<Bucket>,
    /// `AWS::Serverless::Function`s with their triggers.
    pub functions: Vec<Function>,
    /// What the template asks that Lamina accepts without acting on (IAM, tracing), to be
    /// shown to the user rather than dropped in silence.
    pub notes: Vec<String>,
}

/// Where a function's or a layer's code is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeUri {
    /// A directory, to build and zip.
    Dir(PathBuf),
    /// A .zip file, taken as it is.
    Zip(PathBuf),
}

/// A layer version to publish.
#[derive(Debug, Clone)]
pub struct Layer {
    pub logical_id: String,
    /// LayerName.
    pub name: String,
    pub content: CodeUri,
    /// PublishLayerVersion's body without `Content`.
    pub body: Map<String, Value>,
    /// `RetentionPolicy: Retain`: older versions stay when a new one is published.
    pub retain: bool,
}

/// A queue to create.
#[derive(Debug, Clone)]
pub struct Queue {
    pub logical_id: String,
    pub name: String,
    /// CreateQueue's `Attributes`.
    pub attributes: Map<String, Value>,
}

/// A bucket to create.
#[derive(Debug, Clone)]
pub struct Bucket {
    pub logical_id: String,
    pub name: String,
    /// The LambdaFunctionConfigurations (JSON form, `LambdaFunctionArn` set) of the
    /// functions' S3 events on it.
    pub notifications: Vec<Value>,
}

/// A function and what triggers it.
#[derive(Debug, Clone)]
pub struct Function {
    pub logical_id: String,
    pub name: String,
    pub code: CodeUri,
    /// CreateFunction's body without `FunctionName`, `Code` and `Layers`.
    pub config: Map<String, Value>,
    pub layers: Vec<LayerRef>,
    pub reserved_concurrency: Option<u64>,
    /// ProvisionedConcurrencyConfig's count, on the alias.
    pub provisioned_concurrency: Option<u64>,
    /// AutoPublishAlias: each code or configuration change publishes a version this alias
    /// points at, and triggers call the alias.
    pub alias: Option<String>,
    /// PutFunctionEventInvokeConfig's body.
    pub event_invoke: Option<Map<String, Value>>,
    /// CreateFunctionUrlConfig's body (from FunctionUrlConfig, or the HttpApi/Api events).
    pub url: Option<Map<String, Value>>,
    /// The routes its HttpApi/Api events name, shown beside the URL.
    pub routes: Vec<String>,
    pub triggers: Vec<Trigger>,
}

/// A layer a function uses: one of the template's, or an ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerRef {
    /// The logical id of an `AWS::Serverless::LayerVersion` of the template.
    Template(String),
    /// A layer version ARN.
    Arn(String),
}

/// One of a function's events that needs its own resource.
#[derive(Debug, Clone)]
pub struct Trigger {
    /// The event's name under `Events`.
    pub event: String,
    pub kind: TriggerKind,
}

/// What a trigger is, as the requests that make it.
#[derive(Debug, Clone)]
pub enum TriggerKind {
    /// An EventBridge rule (`Schedule`, `EventBridgeRule`): PutRule's and the target's
    /// bodies (the target's `Arn` is set).
    Rule {
        name: String,
        bus: String,
        rule: Map<String, Value>,
        target: Map<String, Value>,
    },
    /// An EventBridge Scheduler schedule (`ScheduleV2`): CreateSchedule's body.
    Schedule {
        name: String,
        group: String,
        body: Map<String, Value>,
    },
    /// An event source mapping (`SQS`): CreateEventSourceMapping's body.
    Mapping { body: Map<String, Value> },
}

impl Function {
    /// The ARN triggers call: the alias's when there is one.
    pub fn target_arn(&self, region: &str, account: &str) -> String {
        let arn = format!("arn:aws:lambda:{region}:{account}:function:{}", self.name);
        match &self.alias {
            Some(a) => format!("{arn}:{a}"),
            None => arn,
        }
    }
}
