//! Corpus tests: one test per case file in `corpus/`, plus a scan of the real policies in
//! `../shared/corpus/` (skipped, loudly, when that folder is absent).

use kmsproof::base::diag::Sink;
use kmsproof::base::json::{self, Json};
use kmsproof::model::load::{load_inputs, read_source, InputPaths};
use kmsproof::{authorize, parse_policy, report, PolicyKind, Request};
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::{Path, PathBuf};

mod diffs;

fn main() {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut trials: Vec<Trial> = case_files(&root.join("corpus"))
        .into_iter()
        .map(|path| {
            let name = format!("case::{}", path.strip_prefix(root).unwrap_or(&path).display());
            Trial::test(name, move || run_case_file(&path))
        })
        .collect();
    let mut props = Vec::new();
    walk(&root.join("corpus"), &mut props, &|p| p.to_string_lossy().ends_with(".props.json"));
    for path in props {
        let name = format!("properties::{}", path.strip_prefix(root).unwrap_or(&path).display());
        trials.push(Trial::test(name, move || run_property_file(&path)));
    }
    let pairs = diffs::pair_dirs(&root.join("corpus/diffs"));
    let more =
        [diffs::pair_dirs(&root.join("corpus/diffs-identity")), diffs::pair_dirs(&root.join("corpus/diffs-sets"))];
    for dir in pairs.into_iter().chain(more.into_iter().flatten()) {
        let group = dir.parent().and_then(|p| p.file_name()).unwrap_or_default().to_string_lossy().to_string();
        let name = format!("{group}::{}", dir.file_name().unwrap_or_default().to_string_lossy());
        trials.push(Trial::test(name, move || diffs::run_corpus_pair(&dir)));
    }
    let shared = root.join("../shared/corpus");
    let present = shared.is_dir();
    if !present {
        eprintln!(
            "\n*** SKIPPING shared-corpus scan: {} not found (it lives beside the project root) ***\n",
            shared.display()
        );
    }
    trials.push(
        Trial::test("shared_corpus::every_policy_parses", {
            let shared = shared.clone();
            move || scan_shared(&shared)
        })
        .with_ignored_flag(!present),
    );
    let pairs = shared.join("aws-managed-policies/version-pairs");
    trials.push(
        Trial::test("shared_corpus::version_pairs_diff_cleanly", move || diffs::run_version_pairs(&pairs))
            .with_ignored_flag(!present),
    );
    libtest_mimic::run(&args, trials).exit();
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, keep: &dyn Fn(&Path) -> bool) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out, keep);
        } else if keep(&p) {
            out.push(p);
        }
    }
}

fn case_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(dir, &mut out, &|p| p.to_string_lossy().ends_with(".cases.json"));
    out
}

fn str_field<'a>(doc: &'a Json, key: &str) -> Option<&'a str> {
    doc.get(key).and_then(Json::as_str)
}

fn list_field(doc: &Json, key: &str) -> Vec<String> {
    match doc.get(key).map(|v| &v.kind) {
        Some(json::Kind::Array(items)) => items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect(),
        _ => vec![],
    }
}

/// Checks every property of a `.props.json` file against its expected verdict; every
/// counterexample is replayed by `check` itself (a mismatch fails the test).
fn run_property_file(path: &Path) -> Result<(), Failed> {
    let set = kmsproof::model::property::load_property_set(path).map_err(|e| e.to_string())?;
    let results = kmsproof::prove::check::check(
        &set.inputs,
        &set.key_arn,
        &set.properties,
        1,
        kmsproof_solver::Limits::default(),
    )
    .map_err(|m| m.to_string())?;
    let mut failures = Vec::new();
    for (p, r) in set.properties.iter().zip(&results) {
        let got = match &r.verdict {
            kmsproof::prove::check::Verdict::Holds => "holds".to_string(),
            kmsproof::prove::check::Verdict::Violated => "violated".to_string(),
            kmsproof::prove::check::Verdict::Unknown(why) => format!("unknown ({why})"),
        };
        match &p.expected {
            None => failures.push(format!("{}: no expected \"verdict\" (got {got})", p.name)),
            Some(want) if *want != got => {
                let cex = r.examples.first().map(|e| e.request.to_string()).unwrap_or_default();
                failures.push(format!("{}: expected {want}, got {got} {cex}", p.name));
            }
            Some(_) => {}
        }
        for id in p.expected_rests_on.iter().flatten() {
            if !r.rests_on.iter().any(|why| why.contains(&format!("({id}:"))) {
                failures.push(format!("{}: expected the proof to rest on {id}, it rests on {:?}", p.name, r.rests_on));
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n").into())
    }
}

/// Runs every case of one case file; the sibling policy plays its directory's role.
fn run_case_file(path: &Path) -> Result<(), Failed> {
    let (text, label) = read_source(path).map_err(|e| e.to_string())?;
    let doc = json::parse(&text).map_err(|e| format!("{label}:{}: {}", e.pos, e.message))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let rel = |p: &str| dir.join(p);
    let sibling = PathBuf::from(path.to_string_lossy().replace(".cases.json", ".json"));
    let role = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let mut key_policy = str_field(&doc, "key_policy").map(rel);
    let mut identity: Vec<PathBuf> = list_field(&doc, "identity_policies").iter().map(|p| rel(p)).collect();
    let mut scps: Vec<PathBuf> = list_field(&doc, "scps").iter().map(|p| rel(p)).collect();
    let mut boundary = str_field(&doc, "boundary").map(rel);
    match role {
        "key-policies" => key_policy = Some(sibling),
        "identity-policies" => identity.push(sibling),
        "scps" => scps.push(sibling),
        "boundaries" => boundary = Some(sibling),
        other => return Err(format!("case file in unknown directory {other}").into()),
    }
    let grants: Vec<PathBuf> = list_field(&doc, "grants").iter().map(|p| rel(p)).collect();
    let paths = InputPaths {
        key_policy: key_policy.as_deref(),
        identity: identity.iter().map(PathBuf::as_path).collect(),
        scps: scps.iter().map(PathBuf::as_path).collect(),
        boundary: boundary.as_deref(),
        grants: grants.iter().map(PathBuf::as_path).collect(),
    };
    let mut inputs = load_inputs(&paths).map_err(|e| e.to_string())?;
    inputs.management_account = str_field(&doc, "management_account").map(str::to_string);
    let cases = match doc.get("cases").map(|c| &c.kind) {
        Some(json::Kind::Array(items)) if !items.is_empty() => items,
        _ => return Err(format!("{label}: expected a non-empty \"cases\" list").into()),
    };
    let mut failures = Vec::new();
    for case in cases {
        if let Err(msg) = run_case(case, &inputs, &label) {
            failures.push(msg);
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n\n").into())
    }
}

fn run_case(case: &Json, inputs: &kmsproof::Inputs, label: &str) -> Result<(), String> {
    let name = str_field(case, "name").unwrap_or("?");
    let mut sink = Sink::new(label);
    let req = case.get("request").and_then(|r| Request::from_json(r, &mut sink));
    let req = match req {
        Some(r) if !sink.has_errors() => r,
        _ => {
            return Err(format!(
                "case {name:?}: bad request: {:?}",
                sink.items.iter().map(|d| d.to_string()).collect::<Vec<_>>()
            ))
        }
    };
    let d = authorize(inputs, &req);
    let want_decision = str_field(case, "expect").unwrap_or("?");
    let want_reason = str_field(case, "reason");
    let got = if d.allowed() { "allow" } else { "deny" };
    if got != want_decision || want_reason.is_some_and(|r| r != d.reason.as_str()) {
        return Err(format!(
            "case {name:?}: expected {want_decision}/{}, got {got}/{}\n{}",
            want_reason.unwrap_or("-"),
            d.reason.as_str(),
            report::decision_text(&d, &req)
        ));
    }
    // The request as printed reads back to the same decision (counterexamples rely on it).
    let echoed = report::request_json(&req).to_string();
    let again = Request::parse(&echoed, "echo")
        .map_err(|e| format!("case {name:?}: echoed request does not read back: {e}"))?;
    if authorize(inputs, &again).reason != d.reason {
        return Err(format!("case {name:?}: echoed request decides differently"));
    }
    Ok(())
}

/// Parses every policy document of the shared corpus; prints the warning count. Files
/// AWS itself would reject are listed in `tests/data/shared-corpus-invalid.txt` with the
/// error they must produce, so that list cannot hide a regression.
fn scan_shared(dir: &Path) -> Result<(), Failed> {
    let known: Vec<(String, String)> = include_str!("data/shared-corpus-invalid.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once(" | ").map(|(p, e)| (p.trim().to_string(), e.trim().to_string())))
        .collect();
    let mut files = Vec::new();
    let is_policy = |p: &Path| {
        p.extension().is_some_and(|e| e == "json")
            && p.file_name().is_some_and(|n| n != "index.json" && n != "domain.json")
    };
    walk(dir, &mut files, &is_policy);
    let (mut warnings, mut rejected, mut problems) = (0usize, 0usize, Vec::new());
    for f in &files {
        let (text, label) = read_source(f).map_err(|e| e.to_string())?;
        let rel = f.strip_prefix(dir).unwrap_or(f).to_string_lossy().replace('\\', "/");
        let expected = known.iter().find(|(p, _)| *p == rel).map(|(_, e)| e.as_str());
        match (parse_policy(&text, &label, PolicyKind::Any), expected) {
            (Ok(p), None) => warnings += p.warnings.len(),
            (Err(e), Some(want)) if e.to_string().contains(want) => rejected += 1,
            (Err(e), _) => problems.push(e.to_string()),
            (Ok(_), Some(want)) => problems.push(format!("{rel}: parsed, but should fail with {want:?}")),
        }
    }
    eprintln!(
        "shared corpus: {} policy files, {} parsed with {warnings} warnings, {rejected} rejected as AWS would",
        files.len(),
        files.len() - rejected - problems.len()
    );
    if files.len() < 3000 {
        problems.push(format!("only {} policy files found; expected about 3,100", files.len()));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{} problems:\n{}", problems.len(), problems.join("\n")).into())
    }
}
