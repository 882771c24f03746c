//! Points of AWS semantics that AWS does not document, where kmsproof picks one reading
//! (`semantics.md` marks them UNCONFIRMED). The evaluator and the encoder implement the
//! chosen reading; the encoder can also encode the other one, so a proof (`unsat`) whose
//! answer would change under it says that it rests on the chosen reading.

/// One undocumented point the encoder decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reading {
    /// `ForAnyValue:…IfExists` on an absent (or empty) key.
    ForAnyValueIfExistsAbsent,
    /// A list-valued key under an operator without `ForAllValues:`/`ForAnyValue:`.
    ListWithoutSetOperator,
    /// A permissions boundary and a key-policy `Allow` that names the caller's role ARN.
    BoundaryCapsRoleArn,
    /// `ForAllValues:`/`ForAnyValue:` on a key that holds one value.
    SetOperatorOnSingleValue,
    /// A grant's `SourceArn` constraint on `DescribeKey`, `GetPublicKey` and `RetireGrant`.
    SourceArnOnEveryOperation,
    /// The network keys of a call an AWS service makes on the caller's behalf.
    ServiceCallNetwork,
    /// Whether every request carries `aws:ViaAWSService`.
    ViaAwsServiceAlwaysPresent,
}

/// What each reading says, what kmsproof chose and why.
pub struct ReadingInfo {
    pub reading: Reading,
    pub id: &'static str,
    pub chosen: &'static str,
    pub alternative: &'static str,
    pub evidence: &'static str,
}

pub const READINGS: &[ReadingInfo] = &[
    ReadingInfo {
        reading: Reading::ForAnyValueIfExistsAbsent,
        id: "foranyvalue-ifexists-absent",
        chosen: "ForAnyValue:…IfExists on an absent key is false",
        alternative: "true (IfExists read as \"absent ⇒ true\" before the set operator)",
        evidence: "a real-AWS test reported on AWS re:Post (question QU9HFmDzP0QGuU-fd7rS6B7w) observed false, as old \
                   iam-simulate did; the IAM User Guide is silent",
    },
    ReadingInfo {
        reading: Reading::ListWithoutSetOperator,
        id: "list-without-set-operator",
        chosen: "a key holding a list, compared by an operator without ForAllValues:/ForAnyValue:, makes the \
                 condition false",
        alternative: "the condition holds when any value of the list matches (as ForAnyValue)",
        evidence: "AWS says multivalued keys require a set operator and does not document the result; iam-simulate \
                   evaluates false",
    },
    ReadingInfo {
        reading: Reading::BoundaryCapsRoleArn,
        id: "boundary-caps-role-arn",
        chosen:
            "a permissions boundary caps a key-policy Allow that names the caller's role ARN (only a policy naming \
                 the exact session or user ARN is exempt)",
        alternative: "a key-policy Allow naming the role ARN is not capped by the role's boundary",
        evidence:
            "IAM policy evaluation logic: a resource-based policy naming the session or user ARN is not limited by \
                   the boundary; AWS does not say which rule applies to a role ARN (semantics.md 4.2)",
    },
    ReadingInfo {
        reading: Reading::SetOperatorOnSingleValue,
        id: "set-operator-on-single-value",
        chosen: "ForAllValues:/ForAnyValue: on a key holding one value compare that value as a one-element set",
        alternative: "the condition is false (the value is not a list)",
        evidence: "AWS warns that set operators on single-valued keys can be overly permissive and KMS documents the \
                   ForAllValues effect on kms:EncryptionContext:k; iam-simulate evaluates false (semantics.md 3.5)",
    },
    ReadingInfo {
        reading: Reading::SourceArnOnEveryOperation,
        id: "source-arn-on-every-operation",
        chosen: "a grant's SourceArn constraint applies to every operation of the grant, DescribeKey, GetPublicKey \
                 and RetireGrant included (the request's aws:SourceArn must equal it)",
        alternative: "like the encryption-context constraints, it is not checked on DescribeKey, GetPublicKey and \
                      RetireGrant",
        evidence: "KMS API reference, GrantConstraints: SourceArn is \"effectively the same as having the \
                   aws:SourceArn global condition key in the grant\" and, unlike the encryption-context \
                   constraints, \"can also be applied to\" DescribeKey; AWS does not list the operations it skips",
    },
    ReadingInfo {
        reading: Reading::ServiceCallNetwork,
        id: "service-call-network",
        chosen: "a call an AWS service makes on the caller's behalf (kms:ViaService, aws:ViaAWSService true) comes \
                 from the service's own network: its aws:SourceIp is an address of AWS's, outside every range the \
                 policies name (except ranges spanning all addresses), and it carries no aws:SourceVpc, \
                 aws:SourceVpce or aws:VpcSourceIp",
        alternative: "the originating caller's address and network are kept on the service's call",
        evidence: "the KMS Developer Guide (\"Using the IP address condition\": EC2's request \"comes from an IP \
                   address associated with the Amazon EC2 infrastructure, not the IP address of the originating \
                   user\") and the AWS knowledge center (\"You can't pass the originating IP address through a \
                   calling service\") say the service's address; the IAM User Guide's deny-by-source-IP example \
                   now says forward access sessions keep the original requester's address; AWS publishes its \
                   address ranges, but not as data kmsproof carries",
    },
    ReadingInfo {
        reading: Reading::ViaAwsServiceAlwaysPresent,
        id: "via-aws-service-always-present",
        chosen: "every request to KMS carries aws:ViaAWSService: true on a call an AWS service makes on the \
                 caller's behalf, false on every other call (a request that does not give it has it false)",
        alternative: "aws:ViaAWSService may be absent from a request",
        evidence: "IAM User Guide, global condition keys (aws:ViaAWSService, Availability: \"always included in the \
                   request context for most services\"; semantics.md 7: always); AWS does not list the services \
                   that omit it",
    },
];

pub fn info(r: Reading) -> &'static ReadingInfo {
    // Cannot fail: `every_reading_has_a_row` (below) asks for each variant.
    READINGS.iter().find(|i| i.reading == r).expect("every reading has a row")
}

/// "rests on an UNCONFIRMED reading: …", for proofs and reports.
pub fn describe(r: Reading) -> String {
    let i = info(r);
    format!("{} ({}: {}; under the other reading, {}, the answer changes)", i.chosen, i.id, i.evidence, i.alternative)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reading_has_a_row() {
        // The match fails to compile when a variant is added: add it here and to READINGS.
        let all = |r: Reading| match r {
            Reading::ForAnyValueIfExistsAbsent
            | Reading::ListWithoutSetOperator
            | Reading::BoundaryCapsRoleArn
            | Reading::SetOperatorOnSingleValue
            | Reading::SourceArnOnEveryOperation
            | Reading::ServiceCallNetwork
            | Reading::ViaAwsServiceAlwaysPresent => r,
        };
        for r in [
            Reading::ForAnyValueIfExistsAbsent,
            Reading::ListWithoutSetOperator,
            Reading::BoundaryCapsRoleArn,
            Reading::SetOperatorOnSingleValue,
            Reading::SourceArnOnEveryOperation,
            Reading::ServiceCallNetwork,
            Reading::ViaAwsServiceAlwaysPresent,
        ] {
            assert_eq!(info(all(r)).reading, r);
        }
    }
}
