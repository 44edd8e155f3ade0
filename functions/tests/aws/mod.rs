//! The AWS side of the policy test (`functions/tests/policies.rs`): `template.yaml` as
//! CloudFormation and SAM deploy it ([`template`], [`iam`]), the calls each function makes
//! ([`recorder`]), one deployment on DynamoDB Local and moto ([`world`]) and the comparison of
//! the two ([`check`]); and the environment each function is given against what it reads
//! ([`environment`]).

pub mod check;
pub mod environment;
pub mod iam;
pub mod recorder;
pub mod template;
pub mod world;
