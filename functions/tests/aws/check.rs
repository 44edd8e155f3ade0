//! What the recorded calls and the template's event sources need, against what each
//! function's role allows: every need allowed, every explicit grant needed, every function
//! driven.

use std::collections::{BTreeMap, BTreeSet};

use super::iam::{Permission, Role, event_source_needs};
use super::template::Deployment;
use super::world::World;

/// The ARNs a grant can be about: the table, each of its indexes, its stream, each queue.
pub fn universe(deployment: &Deployment) -> BTreeSet<String> {
    let stack = &deployment.stack;
    let mut arns = BTreeSet::new();
    arns.insert(stack.table_arn());
    for (_, table) in deployment.resources("AWS::DynamoDB::Table") {
        for index in deployment
            .property(&table, "GlobalSecondaryIndexes")
            .and_then(|i| i.as_array().cloned())
            .unwrap_or_default()
        {
            let name = index["IndexName"].as_str().expect("IndexName");
            arns.insert(format!("{}/index/{name}", stack.table_arn()));
        }
    }
    arns.insert(stream_arn(deployment));
    for (_, queue) in deployment.resources("AWS::SQS::Queue") {
        let name = deployment
            .property(&queue, "QueueName")
            .and_then(|n| n.as_str().map(str::to_owned))
            .expect("QueueName");
        arns.insert(stack.queue_arn(&name));
    }
    arns
}

fn stream_arn(deployment: &Deployment) -> String {
    format!(
        "{}/stream/{}",
        deployment.stack.table_arn(),
        deployment.stack.stream_label
    )
}

/// A grant on the table that a function needs on a path no flow of the test can reach, and
/// that path.
pub struct Unreached {
    pub function: &'static str,
    pub action: &'static str,
    pub path: &'static str,
}

/// Every problem found, one line each, sorted by function. A grant listed in `unreached`
/// counts as needed, but must be granted and must really be unreached (a listed grant that a
/// flow reaches is a stale entry).
pub fn problems(world: &World, unreached: &[Unreached]) -> Vec<String> {
    let universe = universe(&world.deployment);
    let calls = world.log.calls();
    let invoked = world.invoked();
    let mut problems = Vec::new();
    for (binary, lambda) in &world.lambdas {
        let function = &lambda.function;
        let name = format!("{binary} ({})", function.logical_id);
        if !invoked.contains(binary) {
            problems.push(format!("{name}: no flow of the test invoked it"));
        }
        let role = Role::of(function);
        // Need → why (the first operation or event source that needed it).
        let mut needs: BTreeMap<Permission, String> = BTreeMap::new();
        for call in calls.iter().filter(|c| &c.function == binary) {
            for need in &call.needs {
                needs
                    .entry(need.clone())
                    .or_insert_with(|| format!("{} {}", call.service, call.operation));
            }
        }
        for (need, why) in event_source_needs(function, &stream_arn(&world.deployment)) {
            needs.entry(need).or_insert(why);
        }
        for (need, why) in &needs {
            if !role.allows(need) {
                problems.push(format!(
                    "{name}: {why} needs {need}: its policy does not allow it"
                ));
            }
        }
        let needed: BTreeSet<(String, String)> = needs
            .keys()
            .map(|p| (p.action.to_ascii_lowercase(), p.resource.clone()))
            .collect();
        let grants = role.explicit_grants(&universe);
        let table = world.deployment.stack.table_arn();
        for entry in unreached.iter().filter(|u| u.function == binary) {
            let action = entry.action.to_ascii_lowercase();
            if needed.contains(&(action.clone(), table.clone())) {
                problems.push(format!(
                    "{name}: {} is listed as unreached ({}), but a flow needed it: remove the entry",
                    entry.action, entry.path
                ));
            }
            if !grants
                .iter()
                .any(|(g, _)| g.action.to_ascii_lowercase() == action && g.resource == table)
            {
                problems.push(format!(
                    "{name}: {} is listed as unreached ({}), but not granted",
                    entry.action, entry.path
                ));
            }
        }
        let mut unused = BTreeSet::new();
        for (grant, origin) in grants {
            let action = grant.action.to_ascii_lowercase();
            let listed = grant.resource == table
                && unreached
                    .iter()
                    .any(|u| u.function == binary && u.action.to_ascii_lowercase() == action);
            if !listed && !needed.contains(&(action, grant.resource.clone())) {
                unused.insert(format!(
                    "{name}: {origin} grants {grant}, which nothing it does needs"
                ));
            }
        }
        problems.extend(unused);
    }
    problems
}

/// Per function: the calls recorded and the distinct permissions they needed.
pub fn summary(world: &World) -> String {
    let calls = world.log.calls();
    let mut lines = Vec::new();
    for binary in world.lambdas.keys() {
        let mine: Vec<_> = calls.iter().filter(|c| &c.function == binary).collect();
        let permissions: BTreeSet<&Permission> = mine.iter().flat_map(|c| &c.needs).collect();
        let operations: BTreeSet<&str> = mine.iter().map(|c| c.operation.as_str()).collect();
        lines.push(format!(
            "{binary}: {} calls, {} permissions, operations {:?}",
            mine.len(),
            permissions.len(),
            operations
        ));
        for p in permissions {
            lines.push(format!("    {p}"));
        }
    }
    lines.join("\n")
}
