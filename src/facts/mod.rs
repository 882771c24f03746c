//! AWS facts as data tables with their sources: the service authorization reference
//! (actions, condition keys, their types and applicability), KMS's own rules, and the
//! undocumented readings a proof may rest on.

pub mod action_groups;
pub mod catalog;
pub mod kms_rules;
pub mod readings;
