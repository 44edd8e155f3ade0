//! `template.yaml` as CloudFormation would deploy it: parameters (defaults, or overrides), the
//! `Conditions`, the `Rules`, `Globals`, and the intrinsic functions the template uses
//! (short `!Tag` and long `Fn::` forms), resolved against the physical names of one deployment.
//!
//! Resolution answers JSON. `!Ref AWS::NoValue` removes the key or list element it stands in,
//! as CloudFormation does. Dynamic references (`{{resolve:secretsmanager:…}}`) are replaced by
//! the values the deployment was given for those secrets. Anything this model does not know
//! (an intrinsic, a resource attribute) panics, naming it: a template change the test cannot
//! follow must be taught to it, never skipped.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value as Json};
use serde_norway::{Mapping, Value as Yaml};

/// The parsed template.
pub struct Template {
    root: Mapping,
}

impl Template {
    /// `template.yaml` at the repository root.
    pub fn load() -> Template {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
        let text = std::fs::read_to_string(path).expect("template.yaml at the repository root");
        Template::parse(&text)
    }

    pub fn parse(text: &str) -> Template {
        match serde_norway::from_str(text).expect("template.yaml is YAML") {
            Yaml::Mapping(root) => Template { root },
            _ => panic!("template.yaml is not a mapping"),
        }
    }

    /// A top-level section (empty if absent).
    fn section(&self, name: &str) -> Mapping {
        match self.root.get(name) {
            Some(Yaml::Mapping(m)) => m.clone(),
            None => Mapping::new(),
            Some(other) => panic!("template section {name} is not a mapping: {other:?}"),
        }
    }

    /// Every parameter's default (`''` for one without).
    pub fn parameter_defaults(&self) -> BTreeMap<String, String> {
        self.section("Parameters")
            .iter()
            .map(|(name, spec)| {
                let default = match spec.get("Default") {
                    Some(Yaml::String(s)) => s.clone(),
                    Some(Yaml::Number(n)) => n.to_string(),
                    None => String::new(),
                    Some(other) => panic!("parameter {name:?}: default {other:?}"),
                };
                (key(name).to_owned(), default)
            })
            .collect()
    }
}

fn key(k: &Yaml) -> &str {
    k.as_str()
        .unwrap_or_else(|| panic!("non-string key {k:?} in template.yaml"))
}

/// Where one deployment of the template lives: the names and identities CloudFormation
/// would give its resources.
#[derive(Debug, Clone)]
pub struct Stack {
    pub name: String,
    pub region: String,
    pub account: String,
    /// The physical name of the `AWS::DynamoDB::Table` (the template lets CloudFormation
    /// name it).
    pub table: String,
    /// The label CloudFormation's table stream gets (the last segment of its ARN).
    pub stream_label: String,
}

impl Stack {
    pub fn table_arn(&self) -> String {
        format!(
            "arn:aws:dynamodb:{}:{}:table/{}",
            self.region, self.account, self.table
        )
    }

    pub fn queue_arn(&self, queue_name: &str) -> String {
        format!("arn:aws:sqs:{}:{}:{queue_name}", self.region, self.account)
    }
}

/// A function of the template, as deployed.
#[derive(Debug, Clone)]
pub struct Function {
    pub logical_id: String,
    /// `Metadata.BuildProperties.Binary`: the binary under `functions/src/bin/`.
    pub binary: String,
    /// `Globals.Function.Environment.Variables` overlaid with the function's own, secrets
    /// resolved.
    pub environment: BTreeMap<String, String>,
    /// The names of the function's own variables (not from `Globals`).
    pub own_variables: BTreeSet<String>,
    /// The names of the variables whose value holds a Secrets Manager dynamic reference.
    pub secret_variables: BTreeSet<String>,
    /// `Properties.Policies`, resolved.
    pub policies: Vec<Json>,
    /// `Properties.Events`, resolved: (event name, `{Type, Properties}`).
    pub events: Vec<(String, Json)>,
}

/// The template with its parameters set, on a [`Stack`].
pub struct Deployment {
    template: Template,
    pub stack: Stack,
    pub parameters: BTreeMap<String, String>,
    /// Secret (name or ARN, as the dynamic reference names it) → its value.
    secrets: BTreeMap<String, String>,
}

impl Deployment {
    /// `overrides` on top of the parameters' defaults, as `sam deploy --parameter-overrides`.
    pub fn new(template: Template, stack: Stack, overrides: &[(&str, &str)]) -> Deployment {
        let mut parameters = template.parameter_defaults();
        for (name, value) in overrides {
            assert!(
                parameters.contains_key(*name),
                "no parameter {name} in template.yaml"
            );
            parameters.insert((*name).to_owned(), (*value).to_owned());
        }
        Deployment {
            template,
            stack,
            parameters,
            secrets: BTreeMap::new(),
        }
    }

    /// The value Secrets Manager holds for secret `id` (its name, or the ARN the template's
    /// `!Ref` of an `AWS::SecretsManager::Secret` gives).
    pub fn with_secret(mut self, id: &str, value: &str) -> Deployment {
        self.secrets.insert(id.to_owned(), value.to_owned());
        self
    }

    /// The ARN `!Ref` gives for the secret resource `logical_id`.
    pub fn secret_arn(&self, logical_id: &str) -> String {
        format!(
            "arn:aws:secretsmanager:{}:{}:secret:{logical_id}",
            self.stack.region, self.stack.account
        )
    }

    /// Resources of `resource_type` that this deployment creates (their `Condition` holds).
    pub fn resources(&self, resource_type: &str) -> Vec<(String, Mapping)> {
        self.template
            .section("Resources")
            .iter()
            .filter_map(|(name, spec)| {
                let spec = spec.as_mapping().expect("a resource is a mapping").clone();
                let kind = spec.get("Type").and_then(Yaml::as_str);
                let created = match spec.get("Condition") {
                    Some(condition) => self.condition(condition.as_str().expect("condition name")),
                    None => true,
                };
                (kind == Some(resource_type) && created).then(|| (key(name).to_owned(), spec))
            })
            .collect()
    }

    /// The type of resource `logical_id`, if the template has it.
    fn resource_type(&self, logical_id: &str) -> Option<String> {
        self.template
            .section("Resources")
            .get(logical_id)
            .and_then(|r| r.get("Type"))
            .and_then(Yaml::as_str)
            .map(str::to_owned)
    }

    /// A resource's property, resolved.
    pub fn property(&self, spec: &Mapping, name: &str) -> Option<Json> {
        spec.get("Properties")
            .and_then(|p| p.get(name))
            .and_then(|v| self.resolve(v))
    }

    /// Every `AWS::Serverless::Function` this deployment creates.
    pub fn functions(&self) -> Vec<Function> {
        let globals = self.template.section("Globals");
        let global_environment = globals
            .get("Function")
            .and_then(|f| f.get("Environment"))
            .and_then(|e| e.get("Variables"))
            .and_then(|v| self.resolve(v));
        self.resources("AWS::Serverless::Function")
            .into_iter()
            .map(|(logical_id, spec)| {
                let binary = spec
                    .get("Metadata")
                    .and_then(|m| m.get("BuildProperties"))
                    .and_then(|b| b.get("Binary"))
                    .and_then(Yaml::as_str)
                    .unwrap_or_else(|| panic!("{logical_id}: Metadata.BuildProperties.Binary"))
                    .to_owned();
                let mut environment = BTreeMap::new();
                let mut secret_variables = BTreeSet::new();
                let own = self
                    .property(&spec, "Environment")
                    .and_then(|e| e.get("Variables").cloned());
                let own_variables = own
                    .iter()
                    .flat_map(|v| v.as_object().expect("variables").keys().cloned())
                    .collect();
                for variables in [global_environment.clone(), own].into_iter().flatten() {
                    for (name, value) in variables.as_object().expect("variables").clone() {
                        let value = value
                            .as_str()
                            .unwrap_or_else(|| panic!("{logical_id}: {name} is not a string"));
                        if value.contains("{{resolve:") {
                            secret_variables.insert(name.clone());
                        }
                        environment.insert(name, self.dereference(value));
                    }
                }
                let policies = match self.property(&spec, "Policies") {
                    Some(Json::Array(items)) => items,
                    Some(single) => vec![single],
                    None => Vec::new(),
                };
                let events = match self.property(&spec, "Events") {
                    Some(Json::Object(events)) => events.into_iter().collect(),
                    _ => Vec::new(),
                };
                Function {
                    logical_id,
                    binary,
                    environment,
                    own_variables,
                    secret_variables,
                    policies,
                    events,
                }
            })
            .collect()
    }

    /// The names (with their descriptions) of the rules whose assertions fail for these
    /// parameters: CloudFormation refuses to deploy them.
    pub fn failing_rules(&self) -> Vec<String> {
        let mut failing = Vec::new();
        for (name, rule) in &self.template.section("Rules") {
            let applies = rule
                .get("RuleCondition")
                .is_none_or(|c| self.truth(c, "a RuleCondition"));
            if !applies {
                continue;
            }
            let assertions = rule
                .get("Assertions")
                .and_then(Yaml::as_sequence)
                .expect("a rule's Assertions");
            for assertion in assertions {
                let holds = self.truth(assertion.get("Assert").expect("Assert"), "an Assert");
                if !holds {
                    let description = assertion
                        .get("AssertDescription")
                        .and_then(Yaml::as_str)
                        .unwrap_or("");
                    failing.push(format!("{}: {description}", key(name)));
                }
            }
        }
        failing
    }

    /// A condition of the `Conditions` section.
    pub fn condition(&self, name: &str) -> bool {
        let conditions = self.template.section("Conditions");
        let expression = conditions
            .get(name)
            .unwrap_or_else(|| panic!("no condition {name}"));
        self.truth(expression, name)
    }

    fn truth(&self, expression: &Yaml, what: &str) -> bool {
        match self.resolve(expression) {
            Some(Json::Bool(b)) => b,
            other => panic!("{what} is not a boolean: {other:?}"),
        }
    }

    /// `value` resolved; `None` for `AWS::NoValue`.
    pub fn resolve(&self, value: &Yaml) -> Option<Json> {
        match value {
            Yaml::Null => Some(Json::Null),
            Yaml::Bool(b) => Some(Json::Bool(*b)),
            Yaml::Number(n) => {
                Some(serde_json::from_str(&n.to_string()).expect("a YAML number is JSON"))
            }
            Yaml::String(s) => Some(Json::String(s.clone())),
            Yaml::Sequence(items) => Some(Json::Array(
                items.iter().filter_map(|i| self.resolve(i)).collect(),
            )),
            Yaml::Mapping(map) => {
                if map.len() == 1
                    && let Some((name, argument)) = map.iter().next()
                    && let Some(name) = name.as_str()
                    && (name == "Ref" || name.starts_with("Fn::"))
                {
                    return self.intrinsic(name.trim_start_matches("Fn::"), argument);
                }
                let mut out = Map::new();
                for (k, v) in map {
                    if let Some(v) = self.resolve(v) {
                        out.insert(key(k).to_owned(), v);
                    }
                }
                Some(Json::Object(out))
            }
            Yaml::Tagged(tagged) => {
                let tag = tagged.tag.to_string();
                self.intrinsic(tag.trim_start_matches('!'), &tagged.value)
            }
        }
    }

    fn string(&self, value: &Yaml, what: &str) -> String {
        match self.resolve(value) {
            Some(Json::String(s)) => s,
            other => panic!("{what}: expected a string, got {other:?}"),
        }
    }

    fn arguments<'a>(&self, value: &'a Yaml, function: &str, n: usize) -> &'a [Yaml] {
        match value.as_sequence() {
            Some(items) if items.len() == n => items,
            _ => panic!("Fn::{function} takes a list of {n}: {value:?}"),
        }
    }

    fn intrinsic(&self, function: &str, argument: &Yaml) -> Option<Json> {
        let boolean = |b: bool| Some(Json::Bool(b));
        match function {
            "Ref" => self.reference(argument.as_str().expect("Ref of a name")),
            "GetAtt" => {
                let (resource, attribute) = match argument {
                    Yaml::String(s) => s.split_once('.').expect("GetAtt Resource.Attribute"),
                    Yaml::Sequence(items) if items.len() == 2 => (
                        items[0].as_str().expect("GetAtt resource"),
                        items[1].as_str().expect("GetAtt attribute"),
                    ),
                    other => panic!("GetAtt {other:?}"),
                };
                Some(Json::String(self.attribute(resource, attribute)))
            }
            "Sub" => {
                let (text, variables) = match argument {
                    Yaml::Sequence(items) if items.len() == 2 => {
                        (items[0].clone(), self.resolve(&items[1]))
                    }
                    other => (other.clone(), None),
                };
                let text = text.as_str().expect("Sub of a string");
                Some(Json::String(self.substitute(text, variables.as_ref())))
            }
            "If" => {
                let [condition, yes, no] = self.arguments(argument, "If", 3) else {
                    unreachable!()
                };
                let chosen = if self.condition(condition.as_str().expect("If condition")) {
                    yes
                } else {
                    no
                };
                self.resolve(chosen)
            }
            "Equals" => {
                let [a, b] = self.arguments(argument, "Equals", 2) else {
                    unreachable!()
                };
                boolean(self.resolve(a) == self.resolve(b))
            }
            "Not" => {
                let [a] = self.arguments(argument, "Not", 1) else {
                    unreachable!()
                };
                boolean(!self.truth(a, "Fn::Not"))
            }
            "And" => boolean(
                argument
                    .as_sequence()
                    .expect("And of a list")
                    .iter()
                    .all(|c| self.truth(c, "Fn::And")),
            ),
            "Or" => boolean(
                argument
                    .as_sequence()
                    .expect("Or of a list")
                    .iter()
                    .any(|c| self.truth(c, "Fn::Or")),
            ),
            "Condition" => boolean(self.condition(argument.as_str().expect("condition name"))),
            // A rule function: is the string one of the list's?
            "Contains" => {
                let [list, value] = self.arguments(argument, "Contains", 2) else {
                    unreachable!()
                };
                let list = self.resolve(list).expect("Contains list");
                let value = self.resolve(value).expect("Contains value");
                boolean(list.as_array().expect("a list").contains(&value))
            }
            "Select" => {
                let [index, list] = self.arguments(argument, "Select", 2) else {
                    unreachable!()
                };
                let index: usize = match self.resolve(index) {
                    Some(Json::Number(n)) => n.as_u64().expect("index") as usize,
                    Some(Json::String(s)) => s.parse().expect("index"),
                    other => panic!("Select index {other:?}"),
                };
                let list = self.resolve(list).expect("Select list");
                Some(list.as_array().expect("a list")[index].clone())
            }
            "Split" => {
                let [delimiter, text] = self.arguments(argument, "Split", 2) else {
                    unreachable!()
                };
                let delimiter = self.string(delimiter, "Split delimiter");
                let text = self.string(text, "Split string");
                Some(Json::Array(
                    text.split(delimiter.as_str())
                        .map(|s| Json::String(s.to_owned()))
                        .collect(),
                ))
            }
            "Join" => {
                let [delimiter, list] = self.arguments(argument, "Join", 2) else {
                    unreachable!()
                };
                let delimiter = self.string(delimiter, "Join delimiter");
                let list = self.resolve(list).expect("Join list");
                let parts: Vec<&str> = list
                    .as_array()
                    .expect("a list")
                    .iter()
                    .map(|p| p.as_str().expect("Join of strings"))
                    .collect();
                Some(Json::String(parts.join(&delimiter)))
            }
            other => panic!("intrinsic function {other} is not modelled by functions/tests/aws"),
        }
    }

    fn reference(&self, name: &str) -> Option<Json> {
        let s = |v: String| Some(Json::String(v));
        match name {
            "AWS::NoValue" => None,
            "AWS::StackName" => s(self.stack.name.clone()),
            "AWS::Region" => s(self.stack.region.clone()),
            "AWS::AccountId" => s(self.stack.account.clone()),
            "AWS::Partition" => s("aws".into()),
            "AWS::URLSuffix" => s("amazonaws.com".into()),
            _ => {
                if let Some(value) = self.parameters.get(name) {
                    return s(value.clone());
                }
                match self.resource_type(name).as_deref() {
                    Some("AWS::DynamoDB::Table") => s(self.stack.table.clone()),
                    Some("AWS::SQS::Queue") => s(format!(
                        "https://sqs.{}.amazonaws.com/{}/{}",
                        self.stack.region,
                        self.stack.account,
                        self.queue_name(name)
                    )),
                    Some("AWS::SecretsManager::Secret") => s(self.secret_arn(name)),
                    Some(_) => s(name.to_owned()),
                    None => panic!("Ref {name}: no such parameter or resource"),
                }
            }
        }
    }

    fn queue_name(&self, logical_id: &str) -> String {
        let resources = self.template.section("Resources");
        let spec = resources
            .get(logical_id)
            .and_then(Yaml::as_mapping)
            .expect("queue");
        match self.property(spec, "QueueName") {
            Some(Json::String(name)) => name,
            other => panic!("{logical_id}: QueueName {other:?}"),
        }
    }

    fn attribute(&self, resource: &str, attribute: &str) -> String {
        match (self.resource_type(resource).as_deref(), attribute) {
            (Some("AWS::DynamoDB::Table"), "Arn") => self.stack.table_arn(),
            (Some("AWS::DynamoDB::Table"), "StreamArn") => {
                format!(
                    "{}/stream/{}",
                    self.stack.table_arn(),
                    self.stack.stream_label
                )
            }
            (Some("AWS::SQS::Queue"), "Arn") => self.stack.queue_arn(&self.queue_name(resource)),
            (Some("AWS::SQS::Queue"), "QueueName") => self.queue_name(resource),
            (Some(_), _) => format!("{resource}.{attribute}"),
            (None, _) => panic!("GetAtt {resource}.{attribute}: no such resource"),
        }
    }

    /// `Fn::Sub`: `${Name}` (a parameter, pseudo parameter, resource or variable),
    /// `${Resource.Attribute}`, and `${!Literal}`.
    fn substitute(&self, text: &str, variables: Option<&Json>) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("unclosed ${ in Fn::Sub") + start;
            let name = &rest[start + 2..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(value) = variables.and_then(|v| v.get(name)) {
                out.push_str(value.as_str().expect("a Sub variable is a string"));
            } else if let Some((resource, attribute)) = name.split_once('.') {
                out.push_str(&self.attribute(resource, attribute));
            } else {
                match self.reference(name) {
                    Some(Json::String(s)) => out.push_str(&s),
                    other => panic!("Fn::Sub ${{{name}}}: {other:?}"),
                }
            }
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// A value with its `{{resolve:secretsmanager:ID:SecretString[:key]}}` dynamic references
    /// replaced by the secrets' values (a JSON key of the secret when one is named).
    pub fn dereference(&self, value: &str) -> String {
        let Some(start) = value.find("{{resolve:") else {
            return value.to_owned();
        };
        let end = value[start..]
            .find("}}")
            .expect("unclosed dynamic reference")
            + start;
        let reference = &value[start + "{{resolve:".len()..end];
        let spec = reference
            .strip_prefix("secretsmanager:")
            .unwrap_or_else(|| panic!("dynamic reference {reference} is not modelled"));
        let (id, key) = match spec.split_once(":SecretString") {
            Some((id, rest)) => (id, rest.strip_prefix(':').filter(|k| !k.is_empty())),
            None => panic!("dynamic reference {reference}: only SecretString is modelled"),
        };
        let secret = self
            .secrets
            .get(id)
            .unwrap_or_else(|| panic!("no value given for secret {id}"));
        let resolved = match key {
            None => secret.clone(),
            Some(key) => serde_json::from_str::<Json>(secret)
                .ok()
                .and_then(|json| json.get(key).and_then(Json::as_str).map(str::to_owned))
                .unwrap_or_else(|| panic!("secret {id} has no JSON key {key}")),
        };
        format!(
            "{}{resolved}{}",
            &value[..start],
            self.dereference(&value[end + 2..])
        )
    }
}
