//! `kmsproof-solver`: the only crate of kmsproof that will link Z3.
//!
//! It is an empty member for now; the typed logic layer (partition-encoded strings, CIDR
//! atoms over bit-vectors, sets of strings) arrives with the symbolic engine. Keeping the
//! crate boundary from day one keeps Z3 out of the policy model and the evaluator.
