//! The AWS SDK clients of a function: built once per cold start, from the environment the
//! template gives the function, on the SDK's default configuration chain (region and
//! credentials from the Lambda runtime).
//!
//! Every DynamoDB and SQS client a function uses is built here, so whatever is attached to
//! [`AwsClients`] sees every AWS call the function makes: the policy test
//! (`functions/tests/policies.rs`) attaches an interceptor that records each call and checks it
//! against the function's policy in `template.yaml`.
//!
//! Environment:
//! - `PIXGW_TABLE` — the DynamoDB table; `DYNAMODB_ENDPOINT` — optional, e.g. DynamoDB Local.
//! - `PIXGW_QUEUE_PREFIX` — queues are `<prefix>-<queue>`; `SQS_ENDPOINT` — optional, e.g. moto.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::{Intercept, SharedInterceptor};
use pixgw_queue_sqs::SqsQueues;
use pixgw_store_dynamodb::DynamoStore;

use crate::BootstrapError;

/// An environment lookup: the process environment on Lambda
/// ([`pixgw_providers::env::process_env`]), a map in tests.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A variable's value, trimmed; blank counts as unset (CloudFormation writes `''` for an empty
/// parameter).
pub fn optional(env: Env<'_>, name: &str) -> Option<String> {
    env(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// A variable that must be set.
pub fn required(env: Env<'_>, name: &'static str) -> Result<String, BootstrapError> {
    optional(env, name).ok_or(BootstrapError::Missing(name))
}

/// Builds the function's DynamoDB store and SQS queues.
#[derive(Clone, Debug)]
pub struct AwsClients {
    config: SdkConfig,
    interceptors: Vec<SharedInterceptor>,
}

impl AwsClients {
    /// The default configuration chain, as the Lambda runtime provides it.
    pub async fn load() -> AwsClients {
        AwsClients::new(aws_config::defaults(BehaviorVersion::latest()).load().await)
    }

    /// On a configuration the caller made (tests: a fixed region, no credentials chain).
    pub fn new(config: SdkConfig) -> AwsClients {
        AwsClients {
            config,
            interceptors: Vec::new(),
        }
    }

    /// Every client built from now on runs `interceptor` on each of its calls.
    pub fn with_interceptor(mut self, interceptor: impl Intercept + 'static) -> AwsClients {
        self.interceptors.push(SharedInterceptor::new(interceptor));
        self
    }

    /// The store on `PIXGW_TABLE` (at `DYNAMODB_ENDPOINT`, if set).
    pub fn store(&self, env: Env<'_>) -> Result<DynamoStore, BootstrapError> {
        let table = required(env, pixgw_store_dynamodb::TABLE_ENV)?;
        let mut config = aws_sdk_dynamodb::config::Builder::from(&self.config);
        if let Some(endpoint) = optional(env, pixgw_store_dynamodb::ENDPOINT_ENV) {
            config.set_endpoint_url(Some(endpoint));
        }
        for interceptor in &self.interceptors {
            config.push_interceptor(interceptor.clone());
        }
        let client = aws_sdk_dynamodb::Client::from_conf(config.build());
        Ok(DynamoStore::new(client, table))
    }

    /// The queues named `<PIXGW_QUEUE_PREFIX>-<queue>` (at `SQS_ENDPOINT`, if set).
    pub fn queues(&self, env: Env<'_>) -> Result<SqsQueues, BootstrapError> {
        let prefix = required(env, "PIXGW_QUEUE_PREFIX")?;
        let mut config = aws_sdk_sqs::config::Builder::from(&self.config);
        if let Some(endpoint) = optional(env, "SQS_ENDPOINT") {
            config.set_endpoint_url(Some(endpoint));
        }
        for interceptor in &self.interceptors {
            config.push_interceptor(interceptor.clone());
        }
        let client = aws_sdk_sqs::Client::from_conf(config.build());
        Ok(SqsQueues::new(client, prefix))
    }
}
