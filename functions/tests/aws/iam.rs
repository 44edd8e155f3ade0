//! A function's IAM role as SAM builds it from `template.yaml`, and what a call needs from it.
//!
//! The role is the function's `Policies` (inline policy documents; a SAM policy template or a
//! managed policy name is refused with a message saying what to model) plus what SAM attaches
//! on its own: for an `SQS` event the managed `AWSLambdaSQSQueueExecutionRole`, for a
//! `DynamoDB` event `AWSLambdaDynamoDBExecutionRole` (only their SQS and DynamoDB actions
//! matter here). Evaluation is IAM's for the statements the template uses: an explicit Deny
//! wins, otherwise some Allow must match the action (case-insensitive, `*`/`?` wildcards) and
//! the resource ARN (`*`/`?` wildcards). A statement with a `Condition`, `NotAction`,
//! `NotResource` or `Principal` is refused: the template has none, and a model that ignored one
//! would answer wrongly.
//!
//! IAM facts the checks rely on (IAM service authorization reference, DynamoDB and SQS):
//! - `TransactWriteItems` / `TransactGetItems` are not IAM actions: each part is authorised as
//!   `PutItem`, `UpdateItem`, `DeleteItem`, `ConditionCheckItem` / `GetItem` on its table.
//! - A `Query` or `Scan` of an index is authorised on the index ARN,
//!   `arn:aws:dynamodb:<region>:<account>:table/<table>/index/<index>`, not the table's.
//! - `SendMessageBatch`, `DeleteMessageBatch` and `ChangeMessageVisibilityBatch` are authorised
//!   as `SendMessage`, `DeleteMessage` and `ChangeMessageVisibility`.
//! - `dynamodb:ListStreams` supports no resource-level permission: it needs `Resource: "*"`.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::Value as Json;

use super::template::Function;

/// One action on one resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    /// `service:Action`, e.g. `dynamodb:Query`.
    pub action: String,
    /// An ARN, or `*` for actions without resource-level permissions.
    pub resource: String,
}

impl Permission {
    pub fn new(action: impl Into<String>, resource: impl Into<String>) -> Permission {
        Permission {
            action: action.into(),
            resource: resource.into(),
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {}", self.action, self.resource)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

/// One policy statement.
#[derive(Debug, Clone)]
pub struct Statement {
    /// Where it comes from: `Policies[i]/Sid`, or the managed policy SAM attaches.
    pub origin: String,
    effect: Effect,
    actions: Vec<String>,
    resources: Vec<String>,
}

impl Statement {
    fn allow(origin: &str, actions: &[&str], resources: &[&str]) -> Statement {
        Statement {
            origin: origin.to_owned(),
            effect: Effect::Allow,
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
            resources: resources.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    fn parse(origin: String, statement: &Json) -> Statement {
        let fields = statement.as_object().expect("a statement is an object");
        for unsupported in ["Condition", "NotAction", "NotResource", "Principal"] {
            assert!(
                !fields.contains_key(unsupported),
                "{origin}: {unsupported} is not modelled by functions/tests/aws/iam.rs"
            );
        }
        let effect = match statement["Effect"].as_str() {
            Some("Allow") => Effect::Allow,
            Some("Deny") => Effect::Deny,
            other => panic!("{origin}: Effect {other:?}"),
        };
        let list = |field: &str| -> Vec<String> {
            match &statement[field] {
                Json::String(s) => vec![s.clone()],
                Json::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().expect("a string").to_owned())
                    .collect(),
                other => panic!("{origin}: {field} {other:?}"),
            }
        };
        Statement {
            effect,
            actions: list("Action"),
            resources: list("Resource"),
            origin,
        }
    }

    fn matches(&self, permission: &Permission) -> bool {
        self.actions.iter().any(|a| {
            glob(
                &a.to_ascii_lowercase(),
                &permission.action.to_ascii_lowercase(),
            )
        }) && self.resources.iter().any(|r| glob(r, &permission.resource))
    }
}

/// IAM's wildcard match: `*` any run of characters, `?` one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some((b'?', rest)) => !t.is_empty() && go(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

/// A function's role.
pub struct Role {
    /// From the template's `Policies`.
    pub explicit: Vec<Statement>,
    /// Attached by SAM for the function's event sources.
    pub implicit: Vec<Statement>,
}

/// The SQS actions of the managed `AWSLambdaSQSQueueExecutionRole` (Resource "*").
const SQS_EXECUTION_ROLE: &[&str] = &[
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
];
/// The DynamoDB actions of the managed `AWSLambdaDynamoDBExecutionRole` (Resource "*"); the
/// first three are what a stream mapping needs on its stream.
const DYNAMODB_EXECUTION_ROLE: &[&str] = &[
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
];

impl Role {
    pub fn of(function: &Function) -> Role {
        let mut explicit = Vec::new();
        for (i, policy) in function.policies.iter().enumerate() {
            let origin = format!("{}.Policies[{i}]", function.logical_id);
            match policy {
                Json::Object(document) if document.contains_key("Statement") => {
                    let statements = match &document["Statement"] {
                        Json::Array(items) => items.clone(),
                        single => vec![single.clone()],
                    };
                    for statement in &statements {
                        let sid = statement["Sid"].as_str().unwrap_or("(no Sid)");
                        explicit.push(Statement::parse(format!("{origin}/{sid}"), statement));
                    }
                }
                Json::Object(template) => panic!(
                    "{origin}: SAM policy template {:?} is not modelled: add its expansion \
                     (samtranslator's policy_templates.json) to functions/tests/aws/iam.rs",
                    template.keys().collect::<Vec<_>>()
                ),
                other => panic!("{origin}: managed policy {other} is not modelled"),
            }
        }
        let mut implicit = Vec::new();
        for (name, event) in &function.events {
            let origin =
                |policy: &str| format!("{}.Events.{name} → SAM: {policy}", function.logical_id);
            match event["Type"].as_str() {
                Some("SQS") => implicit.push(Statement::allow(
                    &origin("AWSLambdaSQSQueueExecutionRole"),
                    SQS_EXECUTION_ROLE,
                    &["*"],
                )),
                Some("DynamoDB") => {
                    assert!(
                        event["Properties"]["DestinationConfig"]["OnFailure"]["Type"].is_null(),
                        "{name}: an OnFailure Type makes SAM add a policy this model lacks"
                    );
                    implicit.push(Statement::allow(
                        &origin("AWSLambdaDynamoDBExecutionRole"),
                        DYNAMODB_EXECUTION_ROLE,
                        &["*"],
                    ));
                }
                Some("HttpApi" | "ScheduleV2") => {}
                other => panic!("{name}: event type {other:?} is not modelled"),
            }
        }
        Role { explicit, implicit }
    }

    pub fn allows(&self, permission: &Permission) -> bool {
        let all = || self.explicit.iter().chain(&self.implicit);
        !all().any(|s| s.effect == Effect::Deny && s.matches(permission))
            && all().any(|s| s.effect == Effect::Allow && s.matches(permission))
    }

    /// What the explicit statements allow, each action against each resource of `universe`
    /// (and `*`) that its resource patterns match: a wildcard grants every index, queue or
    /// stream it matches, used or not.
    pub fn explicit_grants(&self, universe: &BTreeSet<String>) -> Vec<(Permission, String)> {
        let mut grants = Vec::new();
        for statement in self.explicit.iter().filter(|s| s.effect == Effect::Allow) {
            for action in &statement.actions {
                assert!(
                    !action.contains(['*', '?']),
                    "{}: action {action}: name the actions, no wildcards",
                    statement.origin
                );
                for resource in universe.iter().map(String::as_str).chain(["*"]) {
                    if statement.resources.iter().any(|r| glob(r, resource)) {
                        grants.push((Permission::new(action, resource), statement.origin.clone()));
                    }
                }
            }
        }
        grants
    }
}

/// What a function's event source mappings do with its role: poll its queues, read its
/// stream, report to their on-failure destinations.
pub fn event_source_needs(function: &Function, stream_of_table: &str) -> Vec<(Permission, String)> {
    let mut needs = Vec::new();
    for (name, event) in &function.events {
        let why = format!("{}.Events.{name}", function.logical_id);
        let properties = &event["Properties"];
        match event["Type"].as_str() {
            Some("SQS") => {
                let queue = properties["Queue"].as_str().expect("an SQS event's Queue");
                for action in SQS_EXECUTION_ROLE {
                    needs.push((Permission::new(*action, queue), why.clone()));
                }
            }
            Some("DynamoDB") => {
                let stream = properties["Stream"]
                    .as_str()
                    .expect("a DynamoDB event's Stream");
                assert_eq!(stream, stream_of_table, "{why}: the table's stream");
                for action in &DYNAMODB_EXECUTION_ROLE[..3] {
                    needs.push((Permission::new(*action, stream), why.clone()));
                }
                needs.push((Permission::new("dynamodb:ListStreams", "*"), why.clone()));
                if let Some(destination) =
                    properties["DestinationConfig"]["OnFailure"]["Destination"].as_str()
                {
                    assert!(
                        destination.starts_with("arn:aws:sqs:"),
                        "{why}: {destination}"
                    );
                    needs.push((Permission::new("sqs:SendMessage", destination), why.clone()));
                }
            }
            _ => {}
        }
    }
    needs
}
