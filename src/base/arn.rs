//! ARNs and account IDs, parsed in one place: every "is this an account ID", "which
//! account does this ARN name" and "is this a KMS key ARN" in kmsproof is answered here,
//! so the rules cannot drift apart.

/// An ARN's six colon-separated parts: `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
/// The resource keeps any further colons (`arn:aws:logs:…:log-group:name:*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// `None` when `text` does not start with `arn:` or has fewer than six parts.
    pub fn parse(text: &'a str) -> Option<Arn<'a>> {
        let [_, partition, service, region, account, resource] = split(text)?;
        Some(Arn { partition, service, region, account, resource })
    }

    /// A KMS key: service `kms`, a region, a 12-digit account and `key/ID`.
    pub fn is_kms_key(&self) -> bool {
        self.service == "kms"
            && !self.region.is_empty()
            && is_account_id(self.account)
            && self.resource.strip_prefix("key/").is_some_and(|id| !id.is_empty())
    }
}

/// Splits an ARN into its six parts (`arn`, partition, service, region, account,
/// resource); the resource part keeps any further colons. `None` when not an ARN.
pub fn split(text: &str) -> Option<[&str; 6]> {
    let mut parts = text.splitn(6, ':');
    let arn = [parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?];
    (arn[0] == "arn").then_some(arn)
}

/// An AWS account ID: exactly twelve ASCII digits.
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// The account part of an ARN (possibly empty, as in S3 ARNs); `None` when not an ARN.
pub fn account_of(text: &str) -> Option<&str> {
    Arn::parse(text).map(|a| a.account)
}

/// The account ID an ARN or a bare account ID names; `None` when it names none (no ARN,
/// an empty or malformed account part).
pub fn account_id(text: &str) -> Option<&str> {
    account_of(text).or(Some(text)).filter(|a| is_account_id(a))
}

/// A KMS key ARN (see [`Arn::is_kms_key`]).
pub fn is_key_arn(text: &str) -> bool {
    Arn::parse(text).is_some_and(|a| a.is_kms_key())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_and_accounts() {
        let a = Arn::parse("arn:aws:logs:us-east-1:111122223333:log-group:x:*").unwrap();
        assert_eq!((a.service, a.account, a.resource), ("logs", "111122223333", "log-group:x:*"));
        assert_eq!(account_of("arn:aws:s3:::bucket"), Some(""));
        assert_eq!(account_id("arn:aws:s3:::bucket"), None);
        assert_eq!(account_id("111122223333"), Some("111122223333"));
        assert_eq!(account_id("arn:aws:iam::111122223333:root"), Some("111122223333"));
        assert!(!is_account_id("11112222333a"));
        assert!(Arn::parse("aws:iam::1:root").is_none());
    }

    #[test]
    fn key_arns() {
        assert!(is_key_arn("arn:aws:kms:us-east-1:111122223333:key/1234"));
        assert!(!is_key_arn("arn:aws:kms::111122223333:key/1234"));
        assert!(!is_key_arn("arn:aws:kms:us-east-1:111122223333:key/"));
        assert!(!is_key_arn("arn:aws:kms:us-east-1:111122223333:alias/a"));
        assert!(!is_key_arn("arn:aws:kms:us-east-1:1111222233:key/1234"));
    }
}
