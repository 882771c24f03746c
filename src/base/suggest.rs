//! "Did you mean …?": the nearest known name to a misspelt one, for every diagnostic that
//! suggests a fix (operators, actions, condition keys, check ids).

/// The largest edit distance suggested.
const NEAR: usize = 2;

/// The candidate within edit distance 2 of `word` (case-insensitive), if any.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let w: Vec<char> = word.to_ascii_lowercase().chars().collect();
    candidates
        .into_iter()
        .filter_map(|c| Some((edit_distance_within(&w, &c.to_ascii_lowercase(), NEAR)?, c)))
        .min()
        .map(|(_, c)| c)
}

/// The edit distance of `a` and `b` when it is at most `k`. Only the diagonal band of
/// width `k` is computed (a cell outside it is already more than `k` away), so a policy
/// with 50,000 long misspelt actions costs a few steps a character, not a full table each.
fn edit_distance_within(a: &[char], b: &str, k: usize) -> Option<usize> {
    let b: Vec<char> = b.chars().collect();
    let n = b.len();
    if a.len().abs_diff(n) > k {
        return None;
    }
    // `row[j]`: the distance of a[..i] and b[..j], capped at `far`.
    let far = k + 1;
    let mut row: Vec<usize> = (0..=n).map(|j| j.min(far)).collect();
    for (i, ca) in a.iter().enumerate().map(|(i, c)| (i + 1, c)) {
        let (lo, hi) = (i.saturating_sub(k), (i + k).min(n));
        // The diagonal (a[..i-1], b[..j-1]) and the left (a[..i], b[..j-1]) neighbours.
        let (mut diagonal, mut left, start) = if lo == 0 {
            let d = row[0];
            row[0] = i.min(far);
            (d, row[0], 1)
        } else {
            (row[lo - 1], far, lo)
        };
        let mut best = if lo == 0 { row[0] } else { far };
        for j in start..=hi {
            let up = row[j];
            let v = (diagonal + usize::from(*ca != b[j - 1])).min(up + 1).min(left + 1).min(far);
            row[j] = v;
            best = best.min(v);
            diagonal = up;
            left = v;
        }
        if best > k {
            return None;
        }
    }
    (row[n] <= k).then_some(row[n])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for j in 0..b.len() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != b[j])).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }

    #[test]
    fn the_band_agrees_with_the_full_table() {
        let words = [
            "",
            "a",
            "ab",
            "ba",
            "abc",
            "acb",
            "kms:decrypt",
            "kms:encrypt",
            "kms:decrpyt",
            "kms:dcrypt",
            "kms:decryptx",
            "xkms:decrypt",
            "é",
            "éa",
            "aé",
            "kms:décrypt",
            "abcd",
            "bcda",
            "aaaa",
            "aa",
        ];
        for a in words {
            for b in words {
                for k in 0..4 {
                    let want = Some(full(a, b)).filter(|d| *d <= k);
                    let a_chars: Vec<char> = a.chars().collect();
                    assert_eq!(edit_distance_within(&a_chars, b, k), want, "{a:?} {b:?} k={k}");
                }
            }
        }
        assert_eq!(nearest("kms:Encrpyt", ["kms:Encrypt", "kms:Decrypt"]), Some("kms:Encrypt"));
    }
}
