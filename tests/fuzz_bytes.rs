//! Byte-level mutation of real inputs through every reader (issue 20): the JSON reader, the
//! policy parser, the request, grant and property readers, the audit's discovery of
//! CloudFormation, terraform and plain documents, the account-dump reader, and the
//! evaluator on whatever parses. `cargo fuzz` needs a nightly toolchain; this runs in
//! `cargo test` on the stable one, deterministically (a fixed seed per file) and for a
//! bounded number of cases, so CI's debug build finishes it in seconds. A failing case
//! prints its file, case number and the mutated text, to be kept as a regression test.

use kmsproof::{authorize, parse_policy, PolicyKind, Request};

/// Mutated inputs per corpus file (`KMSPROOF_FUZZ_CASES` overrides, for a longer local run).
const CASES: usize = 400;

fn cases() -> usize {
    std::env::var("KMSPROOF_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(CASES)
}

/// The seeds: one file of each input format.
const CORPUS: &[&str] = &[
    "examples/key-policy.json",
    "examples/request.json",
    "examples/properties.json",
    "corpus/grants/g01-ebs-volume.json",
    "corpus/audit/formats/cloudformation.json",
    "corpus/audit/formats/cloudformation.yaml",
    "corpus/audit/formats/terraform-show.json",
    "corpus/audit/formats/account-authorization-details.json",
];

/// What mutations insert: the characters and tokens that broke readers before (multi-byte
/// characters at offsets, wildcards, policy variables, deep nesting, huge numbers).
const TOKENS: &[&[u8]] = &[
    "é".as_bytes(),
    "😀".as_bytes(),
    b"\xff",
    b"\xc3",
    b"*",
    b"?",
    b"${",
    b"${aws:username}",
    b"\"",
    b"\\",
    b"\\u00",
    b"[",
    b"]",
    b"{",
    b"}",
    b",",
    b":",
    b"-1e999",
    b"null",
    b"\"*\"",
    b"[[[[[[[[[[[[",
    b"aws:PrincipalTag\xc3\xa9",
    b"---\n",
    b"\n",
    b"\0",
];

/// xorshift64*: small, deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to four random edits of `seed`.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(b.len() + 1);
        match rng.below(5) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                b.splice(at..at, t.iter().copied());
            }
            2 => {
                let end = (at + rng.below(32)).min(b.len());
                b.drain(at..end);
            }
            3 => {
                let end = (at + rng.below(64)).min(b.len());
                let piece = b[at..end].to_vec();
                b.splice(at..at, piece);
            }
            _ => b.truncate(at),
        }
    }
    b
}

/// Every reader on one input; whatever parses as a policy is also decided.
fn read_everything(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let _ = kmsproof::base::json::parse(&text);
    let request = Request::parse(&text, "fuzz-request.json");
    for kind in [PolicyKind::KeyPolicy, PolicyKind::Identity, PolicyKind::Any] {
        if let Ok(p) = parse_policy(&text, "fuzz.json", kind) {
            let inputs = kmsproof::Inputs {
                key_policy: p.clone(),
                identity: vec![p],
                scps: vec![],
                boundary: None,
                grants: vec![],
                management_account: None,
            };
            let req = Request::parse(include_str!("../examples/request.json"), "r").unwrap();
            let _ = authorize(&inputs, &req);
            let _ = kmsproof::model::inputs::key_account(&inputs.key_policy);
        }
    }
    if let Ok(req) = request {
        let _ = kmsproof::model::invariants::check(&req);
    }
    let _ = kmsproof::model::grant::parse_grants(&text, "fuzz-grants.json");
    let _ = kmsproof::model::property::parse_properties(&text, "fuzz-props.json");
    let _ = kmsproof::audit::discover::documents_in("fuzz.json", &text);
    let _ = kmsproof::audit::discover::documents_in("fuzz.yaml", &format!("Resources:\n{text}"));
    let _ = kmsproof::whocan::gaad::parse_account(&text, "fuzz-dump.json");
}

#[test]
fn mutated_corpus_files_never_panic() {
    let root = crate::util::root();
    for (n, rel) in CORPUS.iter().enumerate() {
        let seed = std::fs::read(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (n as u64 + 1));
        for case in 0..cases() {
            let input = mutate(&seed, &mut rng);
            let outcome = std::panic::catch_unwind(|| read_everything(&input));
            if outcome.is_err() {
                panic!("{rel}, case {case}: a reader panicked on\n{}", String::from_utf8_lossy(&input));
            }
        }
    }
}

#[test]
fn mutated_files_read_from_disk_give_positions_not_panics() {
    // The file reader itself (invalid UTF-8 is located there).
    let mut rng = Rng(7);
    let seed = include_bytes!("../examples/key-policy.json");
    let dir = crate::util::temp_dir("fuzz-bytes");
    for case in 0..40 {
        let p = dir.join(format!("case-{case}.json"));
        std::fs::write(&p, mutate(seed, &mut rng)).unwrap();
        if let Err(kmsproof::Error::Invalid(d)) = kmsproof::model::load::read_source(&p) {
            assert!(d.iter().all(|d| d.pos.line > 0), "case {case}: {d:?}");
        }
        let _ = kmsproof::model::load::load_policy(&p, PolicyKind::KeyPolicy);
        let _ = kmsproof::audit::discover::read_file(&p);
    }
}
