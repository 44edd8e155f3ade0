//! Records every DynamoDB and SQS call a function makes: an SDK interceptor on the clients the
//! function's bootstrap builds ([`pixgw_functions::aws::AwsClients::with_interceptor`]). The
//! operation comes from the orchestrator's metadata in the config bag, the table, index and
//! queue from the serialized request (both services speak JSON), and each call is turned
//! into the IAM permissions it needs (see [`super::iam`] for the rules).

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use serde_json::Value as Json;

use super::iam::Permission;
use super::template::Stack;

/// One AWS call of one function.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Call {
    /// The binary that made it.
    pub function: String,
    /// `DynamoDB` or `SQS`.
    pub service: String,
    /// The API operation, e.g. `TransactWriteItems`.
    pub operation: String,
    /// What IAM checks for it.
    pub needs: Vec<Permission>,
}

/// The calls every function made, shared by the recorders of one test world.
#[derive(Debug, Clone, Default)]
pub struct CallLog(Arc<Mutex<Vec<Call>>>);

impl CallLog {
    pub fn calls(&self) -> Vec<Call> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn push(&self, call: Call) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(call);
    }
}

/// The interceptor attached to one function's clients.
#[derive(Debug, Clone)]
pub struct Recorder {
    function: String,
    stack: Stack,
    log: CallLog,
}

impl Recorder {
    pub fn new(function: &str, stack: &Stack, log: &CallLog) -> Recorder {
        Recorder {
            function: function.to_owned(),
            stack: stack.clone(),
            log: log.clone(),
        }
    }
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "pixgw-policy-recorder"
    }

    // After serialization, before the retry loop: once per call, whatever the retries.
    fn read_after_serialization(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let metadata = cfg
            .load::<Metadata>()
            .expect("the SDK stores the operation's metadata");
        let body = context.request().body().bytes().unwrap_or_default();
        let request: Json = if body.is_empty() {
            Json::Null
        } else {
            serde_json::from_slice(body).expect("DynamoDB and SQS requests are JSON")
        };
        let needs = needs(&self.stack, metadata.service(), metadata.name(), &request);
        self.log.push(Call {
            function: self.function.clone(),
            service: metadata.service().to_owned(),
            operation: metadata.name().to_owned(),
            needs,
        });
        Ok(())
    }
}

/// The permissions IAM checks for `operation` of `service` with this request body.
pub fn needs(stack: &Stack, service: &str, operation: &str, request: &Json) -> Vec<Permission> {
    match service {
        "DynamoDB" => dynamodb_needs(stack, operation, request),
        "SQS" => sqs_needs(stack, operation, request),
        // Never allowed: the check reports it, naming the service.
        other => vec![Permission::new(format!("{other}:{operation}"), "*")],
    }
}

fn table_arn(stack: &Stack, table: &str) -> String {
    format!(
        "arn:aws:dynamodb:{}:{}:table/{table}",
        stack.region, stack.account
    )
}

fn dynamodb_needs(stack: &Stack, operation: &str, request: &Json) -> Vec<Permission> {
    let table = |value: &Json| {
        let name = value["TableName"]
            .as_str()
            .unwrap_or_else(|| panic!("{operation} without TableName: {value}"));
        table_arn(stack, name)
    };
    match operation {
        "TransactWriteItems" | "TransactGetItems" => request["TransactItems"]
            .as_array()
            .expect("TransactItems")
            .iter()
            .map(|item| {
                let (part, body) = item
                    .as_object()
                    .and_then(|o| o.iter().next())
                    .expect("a transaction part");
                let action = match part.as_str() {
                    "Put" => "dynamodb:PutItem",
                    "Update" => "dynamodb:UpdateItem",
                    "Delete" => "dynamodb:DeleteItem",
                    "ConditionCheck" => "dynamodb:ConditionCheckItem",
                    "Get" => "dynamodb:GetItem",
                    other => panic!("transaction part {other}"),
                };
                Permission::new(action, table(body))
            })
            .collect(),
        "BatchGetItem" | "BatchWriteItem" => request["RequestItems"]
            .as_object()
            .expect("RequestItems")
            .keys()
            .map(|name| Permission::new(format!("dynamodb:{operation}"), table_arn(stack, name)))
            .collect(),
        "Query" | "Scan" => {
            let mut resource = table(request);
            if let Some(index) = request["IndexName"].as_str() {
                resource = format!("{resource}/index/{index}");
            }
            vec![Permission::new(format!("dynamodb:{operation}"), resource)]
        }
        "ListTables" => vec![Permission::new("dynamodb:ListTables", "*")],
        _ => vec![Permission::new(
            format!("dynamodb:{operation}"),
            table(request),
        )],
    }
}

fn sqs_needs(stack: &Stack, operation: &str, request: &Json) -> Vec<Permission> {
    let action = match operation {
        "SendMessageBatch" => "SendMessage",
        "DeleteMessageBatch" => "DeleteMessage",
        "ChangeMessageVisibilityBatch" => "ChangeMessageVisibility",
        other => other,
    };
    let resource = match (request["QueueName"].as_str(), request["QueueUrl"].as_str()) {
        (Some(name), _) => stack.queue_arn(name),
        (None, Some(url)) => stack.queue_arn(url.rsplit('/').next().expect("queue URL")),
        (None, None) => "*".to_owned(),
    };
    vec![Permission::new(format!("sqs:{action}"), resource)]
}
