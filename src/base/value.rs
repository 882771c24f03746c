//! Typed readings of condition values: exact decimals, instants, CIDR blocks, booleans,
//! base64. Policy values that do not read are policy errors; request values that do not
//! read make the comparison false (`semantics.md` §3.3, "Type mismatch").

use std::cmp::Ordering;
use std::net::IpAddr;

/// An exact decimal number: sign, integer digits, fraction digits (no float rounding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal {
    negative: bool,
    int: String,
    frac: String,
}

impl Decimal {
    /// Reads `-12`, `3.50`, `+7`, `1e3`. Leading/trailing zeros are normalised.
    pub fn parse(text: &str) -> Option<Decimal> {
        let t = text.trim();
        let (negative, t) = match t.as_bytes().first()? {
            b'-' => (true, &t[1..]),
            b'+' => (false, &t[1..]),
            _ => (false, t),
        };
        let (mantissa, exp) = match t.find(['e', 'E']) {
            Some(i) => (&t[..i], t[i + 1..].parse::<i32>().ok()?),
            None => (t, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int.is_empty() && frac.is_empty() || !(int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())) {
            return None;
        }
        if exp.unsigned_abs() > 400 {
            return None;
        }
        let digits = format!("{int}{frac}");
        let point = int.len() as i64 + exp as i64;
        let (int, frac) = if point <= 0 {
            (String::new(), format!("{}{}", "0".repeat((-point) as usize), digits))
        } else if point as usize >= digits.len() {
            (format!("{digits}{}", "0".repeat(point as usize - digits.len())), String::new())
        } else {
            (digits[..point as usize].to_string(), digits[point as usize..].to_string())
        };
        let int = int.trim_start_matches('0').to_string();
        let frac = frac.trim_end_matches('0').to_string();
        let negative = negative && !(int.is_empty() && frac.is_empty());
        Some(Decimal { negative, int, frac })
    }

    /// Digits after the decimal point.
    pub fn scale(&self) -> usize {
        self.frac.len()
    }

    /// The value times 10^`scale`, when that is an integer that fits in an `i128`.
    pub fn scaled(&self, scale: usize) -> Option<i128> {
        if self.frac.len() > scale || self.int.len() + scale > 36 {
            return None;
        }
        let digits = format!("{}{:0<scale$}", self.int, self.frac);
        let v: i128 = if digits.is_empty() { 0 } else { digits.parse().ok()? };
        Some(if self.negative { -v } else { v })
    }

    fn cmp_magnitude(&self, other: &Decimal) -> Ordering {
        self.int.len().cmp(&other.int.len()).then_with(|| self.int.cmp(&other.int)).then_with(|| {
            let n = self.frac.len().max(other.frac.len());
            let pad = |s: &str| format!("{s:0<n$}");
            pad(&self.frac).cmp(&pad(&other.frac))
        })
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Decimal) -> Ordering {
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Decimal) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// An instant as nanoseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant(pub i128);

/// How a date value was written, for warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateForm {
    Epoch,
    Zoned,
    /// ISO 8601 without a time zone: read as UTC (UNCONFIRMED, warned about).
    Unzoned,
}

/// Reads epoch seconds (all digits, optional fraction) or the W3C ISO 8601 profile:
/// `YYYY`, `YYYY-MM`, `YYYY-MM-DD`, `YYYY-MM-DDThh:mm[:ss[.s+]]TZD`.
pub fn parse_date(text: &str) -> Option<(Instant, DateForm)> {
    let t = text.trim();
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == '.') && t.len() != 4 {
        let d = Decimal::parse(t)?;
        let secs: i128 = if d.int.is_empty() { 0 } else { d.int.parse().ok()? };
        let nanos: i128 = format!("{:0<9}", &d.frac[..d.frac.len().min(9)]).parse().ok()?;
        return Some((Instant(secs * 1_000_000_000 + nanos), DateForm::Epoch));
    }
    parse_iso(t)
}

fn num(s: &str, len: usize) -> Option<i64> {
    (s.len() == len && s.chars().all(|c| c.is_ascii_digit())).then(|| s.parse().ok())?
}

fn parse_iso(t: &str) -> Option<(Instant, DateForm)> {
    let (date, time) = t.split_once('T').map_or((t, None), |(d, tm)| (d, Some(tm)));
    let mut parts = date.split('-');
    let year = num(parts.next()?, 4)?;
    let month = parts.next().map(|m| num(m, 2)).unwrap_or(Some(1))?;
    let day = parts.next().map(|d| num(d, 2)).unwrap_or(Some(1))?;
    if parts.next().is_some() || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut nanos = days_from_civil(year, month, day) as i128 * 86_400 * 1_000_000_000;
    let mut form = DateForm::Zoned;
    if let Some(time) = time {
        let (clock, offset) = split_zone(time)?;
        form = if offset.is_some() { DateForm::Zoned } else { DateForm::Unzoned };
        nanos += parse_clock(clock)? - offset.unwrap_or(0) as i128 * 60 * 1_000_000_000;
    }
    Some((Instant(nanos), form))
}

/// Splits `hh:mm:ssTZD` into the clock and the offset in minutes (`None`: no zone).
fn split_zone(time: &str) -> Option<(&str, Option<i64>)> {
    if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        return Some((clock, Some(0)));
    }
    match time.rfind(['+', '-']) {
        Some(i) => {
            let (h, m) = time[i + 1..].split_once(':')?;
            let mins = num(h, 2)? * 60 + num(m, 2)?;
            Some((&time[..i], Some(if &time[i..i + 1] == "-" { -mins } else { mins })))
        }
        None => Some((time, None)),
    }
}

fn parse_clock(clock: &str) -> Option<i128> {
    let mut parts = clock.split(':');
    let h = num(parts.next()?, 2)?;
    let m = num(parts.next()?, 2)?;
    let (s, frac) = match parts.next() {
        Some(sec) => {
            let (s, f) = sec.split_once('.').unwrap_or((sec, ""));
            if !f.chars().all(|c| c.is_ascii_digit()) || sec.contains('.') && f.is_empty() {
                return None;
            }
            (num(s, 2)?, f)
        }
        None => (0, ""),
    };
    if parts.next().is_some() || h > 24 || m > 59 || s > 60 {
        return None;
    }
    let frac_nanos: i128 = format!("{:0<9}", &frac[..frac.len().min(9)]).parse().ok()?;
    Some(((h * 3600 + m * 60 + s) as i128) * 1_000_000_000 + frac_nanos)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// An instant as AWS sends `aws:CurrentTime`: ISO 8601 in UTC, `2029-12-31T23:59:59Z`,
/// with the fraction of a second only when there is one (trailing zeros dropped).
pub fn iso8601(t: Instant) -> String {
    const NANOS_PER_DAY: i128 = 86_400 * 1_000_000_000;
    let (days, rest) = (t.0.div_euclid(NANOS_PER_DAY), t.0.rem_euclid(NANOS_PER_DAY));
    let (y, m, d) = civil_from_days(days as i64);
    let secs = rest / 1_000_000_000;
    let frac = format!("{:09}", rest % 1_000_000_000);
    let frac = frac.trim_end_matches('0');
    let frac = if frac.is_empty() { String::new() } else { format!(".{frac}") };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{frac}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

/// The date of a day count since 1970-01-01 (Howard Hinnant's algorithm, the inverse of
/// [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A CIDR block; an address without a prefix is a single host (/32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = text.trim().split_once('/').map_or((text.trim(), None), |(a, p)| (a, Some(p)));
        let addr: IpAddr = addr.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|p| *p <= max)?
            }
            Some(_) => return None,
            None => max,
        };
        Some(Cidr { addr, prefix })
    }

    /// The network address and prefix length.
    pub fn parts(&self) -> (IpAddr, u8) {
        (self.addr, self.prefix)
    }

    /// Whether `ip` lies in the block; an IPv4 address never lies in an IPv6 block and
    /// the reverse (UNCONFIRMED for IPv4-mapped IPv6).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net) as u128, 32, self.prefix) == masked(u32::from(ip) as u128, 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), 128, self.prefix) == masked(u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn masked(v: u128, bits: u32, prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        v >> (bits - prefix as u32)
    }
}

/// Reads a request IP address (a bare address; `/n` suffixes are not addresses).
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    text.trim().parse().ok()
}

/// `true`/`false`, any case (UNCONFIRMED for AWS; iam-simulate lower-cases).
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Standard base64 with optional padding.
pub fn parse_base64(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let body = text.trim().trim_end_matches('=');
    if body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::new();
    for chunk in body.as_bytes().chunks(4) {
        let mut acc = 0u32;
        for &c in chunk {
            acc = (acc << 6) | digit(c)?;
        }
        acc <<= 6 * (4 - chunk.len() as u32);
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_compare_exactly() {
        let d = |s| Decimal::parse(s).unwrap();
        assert_eq!(d("10"), d("10.000"));
        assert_eq!(d("-0"), d("0"));
        assert_eq!(d("1e3"), d("1000"));
        assert!(d("9007199254740993") > d("9007199254740992"));
        assert!(d("-1.5") < d("-1.25"));
        assert!(d("0.1") < d("0.10001"));
        for bad in ["", "abc", "1.2.3", "--1", ".", "1e", "0x10"] {
            assert!(Decimal::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn iso8601_reads_back() {
        for text in
            ["2029-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "2024-02-29T12:00:00.5Z", "2000-03-01T00:00:00.000000001Z"]
        {
            let (t, _) = parse_date(text).unwrap();
            assert_eq!(iso8601(t), text);
        }
        assert_eq!(iso8601(Instant(1_893_455_999_000_000_000)), "2029-12-31T23:59:59Z");
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn dates_in_every_form() {
        let at = |s| parse_date(s).unwrap().0;
        assert_eq!(at("1970-01-01T00:00:00Z"), Instant(0));
        assert_eq!(at("2020-01-01T00:00:00Z"), at("1577836800"));
        assert_eq!(at("2020-01-01T01:00:00+01:00"), at("2020-01-01T00:00:00Z"));
        assert_eq!(at("2020"), at("2020-01-01"));
        assert_eq!(at("2020-03"), at("2020-03-01T00:00Z"));
        assert!(at("2020-01-01T00:00:00.5Z") > at("2020-01-01T00:00:00Z"));
        assert_eq!(parse_date("2020-01-01T10:00:00").unwrap().1, DateForm::Unzoned);
        for bad in ["2020-13-01", "2021-02-29", "yesterday", "2020-01-01T25:00Z", ""] {
            assert!(parse_date(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn cidr_blocks() {
        let c = |s| Cidr::parse(s).unwrap();
        let ip = |s| parse_ip(s).unwrap();
        assert!(c("203.0.113.0/24").contains(ip("203.0.113.77")));
        assert!(!c("203.0.113.0/24").contains(ip("203.0.114.1")));
        assert!(c("0.0.0.0/0").contains(ip("8.8.8.8")));
        assert!(c("10.1.2.3").contains(ip("10.1.2.3")) && !c("10.1.2.3").contains(ip("10.1.2.4")));
        assert!(c("2001:db8::/32").contains(ip("2001:db8:1::1")));
        assert!(!c("2001:db8::/32").contains(ip("203.0.113.1")));
        for bad in ["10.0.0.0/33", "10.0.0/8", "x", "10.0.0.0/", "::/129"] {
            assert!(Cidr::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn base64_and_bool() {
        assert_eq!(parse_base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(parse_base64("aGVsbG8").unwrap(), b"hello");
        assert!(parse_base64("a$==").is_none());
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("yes"), None);
    }
}
