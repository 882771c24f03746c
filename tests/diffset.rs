//! `kmsproof diff` of many pairs: two directories, a manifest, two versions of a
//! CloudFormation template or terraform plan; the set's exit code; the table, JSON, JSON
//! lines, SARIF and markdown formats (single diffs too). Fixtures: `corpus/diffs-dirs/`.

use super::util::{json, kmsproof as run, stderr as err, stdout as out, temp_dir, temp_file};
use serde_json::Value;

const OLD_DIR: &str = "corpus/diffs-dirs/tree/old";
const NEW_DIR: &str = "corpus/diffs-dirs/tree/new";
const OLD_YAML: &str = "corpus/diffs-dirs/templates/old.yaml";
const NEW_YAML: &str = "corpus/diffs-dirs/templates/new.yaml";
const OLD_PLAN: &str = "corpus/diffs-dirs/plans/old.json";
const NEW_PLAN: &str = "corpus/diffs-dirs/plans/new.json";

/// (name, change, verdict) of every entry of a JSON report.
fn rows(v: &Value) -> Vec<(String, String, String)> {
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().into(),
                e["change"].as_str().unwrap().into(),
                e["verdict"].as_str().unwrap().into(),
            )
        })
        .collect()
}

fn row(name: &str, change: &str, verdict: &str) -> (String, String, String) {
    (name.into(), change.into(), verdict.into())
}

fn entry<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no entry {name}: {v}"))
}

#[test]
fn directories_match_files_by_relative_path() {
    let o = run(&["diff", OLD_DIR, NEW_DIR, "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    let v = json(&o);
    assert_eq!(
        rows(&v),
        [
            row("iam/ci.json", "added", "more-permissive"),
            row("iam/legacy.json", "removed", "less-permissive"),
            row("iam/readers.json", "unchanged", "unchanged"),
            row("keys/app.json", "changed", "more-permissive"),
            row("keys/reordered.json", "changed", "equivalent"),
        ],
        "README.md is not a policy file and is not listed"
    );
    assert_eq!(v["summary"]["answer"], "failed");
    assert_eq!(v["summary"]["added"], 1);
    // The witness is a request `kmsproof eval` reads, and NEW allows it, OLD does not.
    let app = entry(&v, "keys/app.json");
    assert_eq!(app["result"]["new_allows_actions"]["actions"][0]["action"], "kms:Decrypt");
    let req = temp_file("diffset", "app-witness.json", &app["result"]["new_allows"][0]["request"].to_string());
    let eval = |dir: &str| {
        let kp = format!("{dir}/keys/app.json");
        json(&run(&["eval", "--key-policy", &kp, "--request", req.to_str().unwrap(), "--format", "json"]))["decision"]
            .clone()
    };
    assert_eq!(eval(NEW_DIR), "allow");
    assert_eq!(eval(OLD_DIR), "deny");
    assert_eq!(entry(&v, "keys/reordered.json")["result"]["new_allows_status"]["proof"], "unsat");
}

#[test]
fn the_set_has_one_exit_code() {
    let code = |extra: &[&str]| {
        let mut args = vec!["diff", OLD_DIR, NEW_DIR];
        args.extend_from_slice(extra);
        run(&args).status.code()
    };
    assert_eq!(code(&["--fail-on", "never"]), Some(0));
    assert_eq!(code(&["--fail-on", "any", "--examples", "1"]), Some(1));
    // A plan whose new policy is known only after apply: undecided, never equivalent.
    let plan = run(&["diff", OLD_PLAN, NEW_PLAN, "--fail-on", "never"]);
    assert_eq!(plan.status.code(), Some(3), "{}", out(&plan));
    // A policy that cannot be read makes the set's answer incomplete: exit 2, with where.
    let (old, new) = (temp_dir("diffset-bad").join("old"), temp_dir("diffset-bad").join("new"));
    for d in [&old, &new] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(old.join("k.json"), "{\"Statement\": []}").unwrap();
    std::fs::write(new.join("k.json"), "{\"Statement\": [}").unwrap();
    let bad = run(&["diff", old.to_str().unwrap(), new.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2), "{}", out(&bad));
    assert!(out(&bad).contains("k.json:1:"), "{}", out(&bad));
    // A directory against a file is a usage error.
    assert_eq!(run(&["diff", OLD_DIR, "corpus/diffs-dirs/tree/new/keys/app.json"]).status.code(), Some(2));
}

#[test]
fn template_versions_are_compared_by_logical_id() {
    let o = run(&["diff", OLD_YAML, NEW_YAML, "--format", "json", "--examples", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    let v = json(&o);
    let n = |id: &str| format!("{NEW_YAML}#Resources.{id}");
    assert_eq!(
        rows(&v),
        [
            row(&n("DataKey.Properties.KeyPolicy (AWS::KMS::Key)"), "changed", "more-permissive"),
            row(&n("AppRole.Properties.Policies[0].PolicyDocument (AWS::IAM::Role)"), "changed", "equivalent"),
            row(&n("NewPolicy.Properties.PolicyDocument (AWS::IAM::ManagedPolicy)"), "added", "more-permissive"),
            row(&n("OldPolicy.Properties.PolicyDocument (AWS::IAM::ManagedPolicy)"), "removed", "less-permissive"),
        ]
    );
    // The key policy lost its kms:ViaService condition: the partner may decrypt directly.
    let key = entry(&v, &n("DataKey.Properties.KeyPolicy (AWS::KMS::Key)"));
    assert_eq!(key["new"]["line"], 7, "the line where the key policy starts in the YAML file");
    assert!(key["result"]["new_allows"][0]["summary"].as_str().unwrap().contains("account 444455556666"), "{key}");
    // The same template twice: every policy unchanged, nothing compared, exit 0.
    let same = run(&["diff", NEW_YAML, NEW_YAML, "--format", "json"]);
    assert_eq!(same.status.code(), Some(0));
    assert!(rows(&json(&same)).iter().all(|r| r.1 == "unchanged"));
}

#[test]
fn plan_versions_are_compared_by_resource_address() {
    let o = run(&["diff", OLD_PLAN, NEW_PLAN, "--format", "json", "--examples", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    let v = json(&o);
    let n = |a: &str| format!("{NEW_PLAN}#{a}");
    assert_eq!(
        rows(&v),
        [
            row(&n("aws_kms_key.data.policy"), "changed", "more-permissive"),
            row(&n("aws_iam_policy.keys.policy"), "unchanged", "unchanged"),
            row(&n("module.app.aws_iam_role_policy.use.policy"), "added", "unknown"),
        ]
    );
    let w = &entry(&v, &n("aws_kms_key.data.policy"))["result"]["new_allows"][0]["request"];
    assert_eq!(w["context"]["aws:PrincipalOrgID"], "o-a1b2c3d4e5", "{w}");
}

#[test]
fn a_manifest_lists_file_pairs() {
    let root = super::util::root();
    let abs = |p: &str| root.join(p).display().to_string();
    let text = format!(
        "# old\tnew\n{}\t{}\n/dev/null {}\n{} /dev/null\n",
        abs("corpus/diffs/01-reorder-statements/old.json"),
        abs("corpus/diffs/01-reorder-statements/new.json"),
        abs("corpus/diffs-dirs/tree/new/iam/ci.json"),
        abs("corpus/diffs-dirs/tree/old/iam/legacy.json"),
    );
    let m = temp_file("diffset", "manifest.txt", &text);
    let o = run(&["diff", "--manifest", m.to_str().unwrap(), "--format", "jsonl", "--jobs", "2"]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    let lines: Vec<Value> = out(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let changes: Vec<(&str, &str)> =
        lines[..3].iter().map(|l| (l["change"].as_str().unwrap(), l["verdict"].as_str().unwrap())).collect();
    assert_eq!(changes, [("changed", "equivalent"), ("added", "more-permissive"), ("removed", "less-permissive")]);
    assert_eq!(lines[3]["summary"]["pairs"], 3);
    // A line that is not two paths: an error at the manifest's line.
    let bad = temp_file("diffset", "bad-manifest.txt", "# fine\na b c\n");
    let o = run(&["diff", "--manifest", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("bad-manifest.txt:2: error: expected `OLD NEW`"), "{}", err(&o));
}

#[test]
fn output_is_the_same_for_any_number_of_threads() {
    let at = |jobs: &str| out(&run(&["diff", OLD_YAML, NEW_YAML, "--format", "json", "--jobs", jobs]));
    assert_eq!(at("1"), at("2"));
}

/// The markdown's skeleton: headings, table rows, `<details>` and code fences, in order
/// (the witness requests inside the fences are checked by the JSON tests).
fn skeleton(md: &str) -> Vec<String> {
    md.lines()
        .filter(|l| {
            l.starts_with('#')
                || l.starts_with('|')
                || l.starts_with("<details>")
                || l.starts_with("</details>")
                || l.starts_with("```")
                || l.starts_with("**")
        })
        .map(|l| l.split(" (proved").next().unwrap_or(l).to_string())
        .collect()
}

#[test]
fn markdown_for_a_pull_request() {
    let o = run(&["diff", OLD_DIR, NEW_DIR, "--format", "markdown", "--examples", "1"]);
    assert_eq!(o.status.code(), Some(1));
    let expected = [
        "### kmsproof diff: :x: differences found",
        "| | policy | change | verdict | newly allowed | no longer allowed |",
        "|---|---|---|---|---|---|",
        "| :x: | `iam/ci.json` | added | **more-permissive** | `kms:Encrypt`, … | none |",
        "| :information_source: | `iam/legacy.json` | removed | **less-permissive** | none | `kms:ListKeys`, … |",
        "| :x: | `keys/app.json` | changed | **more-permissive** | `kms:Decrypt` | none |",
        "| :white_check_mark: | `keys/reordered.json` | changed | **equivalent** | none | none |",
        "#### `iam/ci.json`: more-permissive",
        "**Newly allowed (NEW allows, OLD denies):**",
        "<details><summary>Witness requests (replayed through the evaluator; <code>kmsproof eval --request</code> reads them)</summary>",
        "```json",
        "```",
        "</details>",
        "**No longer allowed (OLD allows, NEW denies):** none",
        "#### `iam/legacy.json`: less-permissive",
        "**Newly allowed (NEW allows, OLD denies):** none",
        "**No longer allowed (OLD allows, NEW denies):**",
        "<details><summary>Witness requests (replayed through the evaluator; <code>kmsproof eval --request</code> reads them)</summary>",
        "```json",
        "```",
        "</details>",
        "#### `keys/app.json`: more-permissive",
        "**Newly allowed (NEW allows, OLD denies):**",
        "<details><summary>Witness requests (replayed through the evaluator; <code>kmsproof eval --request</code> reads them)</summary>",
        "```json",
        "```",
        "</details>",
        "**No longer allowed (OLD allows, NEW denies):** none",
    ];
    assert_eq!(skeleton(&out(&o)), expected, "{}", out(&o));
}

#[test]
fn sarif_has_one_result_per_difference() {
    let o = run(&["diff", OLD_YAML, NEW_YAML, "--format", "sarif", "--examples", "1"]);
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    assert_eq!(v["version"], "2.1.0");
    let run0 = &v["runs"][0];
    let rules: Vec<&str> =
        run0["tool"]["driver"]["rules"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(rules, ["KMSDIFF001", "KMSDIFF002", "KMSDIFF003", "KMSDIFF004"]);
    let results = run0["results"].as_array().unwrap();
    let got: Vec<(&str, &str, &str, u64)> = results
        .iter()
        .map(|r| {
            let loc = &r["locations"][0]["physicalLocation"];
            let uri = loc["artifactLocation"]["uri"].as_str().unwrap();
            (
                r["ruleId"].as_str().unwrap(),
                r["level"].as_str().unwrap(),
                uri,
                loc["region"]["startLine"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    // The key policy and the added policy are newly allowed (errors under --fail-on
    // more), at the lines where their policies start; the removed policy's, in the OLD file, a note.
    assert_eq!(
        got,
        [
            ("KMSDIFF001", "error", NEW_YAML, 7),
            ("KMSDIFF001", "error", NEW_YAML, 40),
            ("KMSDIFF002", "note", OLD_YAML, 42)
        ]
    );
    assert!(results[0]["message"]["text"].as_str().unwrap().contains("kms:Decrypt"));
    assert!(results[0]["properties"]["witnesses"][0]["principal"].is_string());
}

#[test]
fn single_diffs_have_the_pull_request_formats_too() {
    let (old, new) = ("corpus/diffs/14-add-external-account/old.json", "corpus/diffs/14-add-external-account/new.json");
    let md = run(&["diff", old, new, "--format", "markdown"]);
    assert_eq!(md.status.code(), Some(1));
    assert!(out(&md).contains(&format!("| :x: | `{new}` | changed | **more-permissive** |")), "{}", out(&md));
    assert!(out(&md).contains("<details>"));
    let sarif = run(&["diff", old, new, "--format", "sarif"]);
    assert_eq!(json(&sarif)["runs"][0]["results"][0]["ruleId"], "KMSDIFF001");
    let line = run(&["diff", old, new, "--format", "jsonl"]);
    assert_eq!(out(&line).lines().count(), 1);
    assert_eq!(serde_json::from_str::<Value>(&out(&line)).unwrap()["verdict"], "more-permissive");
    let table = run(&["diff", OLD_DIR, NEW_DIR, "--format", "table", "--examples", "1"]);
    assert!(
        out(&table).starts_with("CHANGE     VERDICT          POLICY\nadded      more-permissive  iam/ci.json\n"),
        "{}",
        out(&table)
    );
    assert!(out(&table).trim_end().ends_with("answer: failed"));
}

/// The set path gives every corpus diff its expected verdict (the one the single `diff`
/// gives: `tests/corpus.rs`), whichever thread compares it.
#[test]
fn the_set_path_agrees_with_the_corpus_verdicts() {
    use kmsproof::diffset::{compare_all, found, pairs::file_pair, Outcome, Settings};
    let root = super::util::root().join("corpus/diffs");
    let mut dirs: Vec<_> =
        std::fs::read_dir(&root).unwrap().flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    let side = |p: std::path::PathBuf| Some(found::read(&p, &p.display().to_string()));
    let pairs: Vec<_> = dirs
        .iter()
        .flat_map(|d| file_pair(&d.display().to_string(), side(d.join("old.json")), side(d.join("new.json"))))
        .collect();
    let settings = Settings { key_arn: None, examples: 1, actions: Some(1), pair_timeout_ms: 60_000 };
    let entries = compare_all(&pairs, &settings, 2).unwrap();
    assert_eq!(entries.len(), dirs.len());
    for (d, e) in dirs.iter().zip(&entries) {
        let expect: Value = serde_json::from_str(&std::fs::read_to_string(d.join("expect.json")).unwrap()).unwrap();
        let got = match &e.outcome {
            Outcome::Compared(r) => r.verdict.as_str(),
            Outcome::Unchanged => "equivalent",
            other => panic!("{}: {other:?}", d.display()),
        };
        assert_eq!(got, expect["verdict"], "{}", d.display());
    }
}

/// The table example in docs/diff.md is what the command prints (a drifting example fails).
#[test]
fn the_documented_table_is_what_diff_prints() {
    let doc = std::fs::read_to_string(super::util::root().join("docs/diff.md")).unwrap();
    let command = "$ kmsproof diff corpus/diffs-dirs/tree/old corpus/diffs-dirs/tree/new --examples 1";
    let start = doc.find(command).expect("the example is in docs/diff.md") + command.len() + 1;
    let block: String = doc[start..]
        .lines()
        .take_while(|l| l.trim() != "```")
        .map(|l| format!("{}\n", l.strip_prefix("  ").unwrap_or(l)))
        .collect();
    let o = run(&["diff", OLD_DIR, NEW_DIR, "--examples", "1"]);
    assert_eq!(out(&o), block);
}

#[test]
fn templates_with_intrinsics_are_compared_as_written() {
    // The SAM fixture's key policy uses !Sub, !GetAtt and !If: each branch of the unknown
    // condition is one entry, decided, never an error.
    let old = std::fs::read_to_string(super::util::root().join("corpus/audit/iac/sam-intrinsics.yaml")).unwrap();
    let new = old.replace("'kms:Decrypt', 'kms:GenerateDataKey'", "'kms:*', 'kms:GenerateDataKey'");
    assert_ne!(old, new, "the fixture changed: pick another edit");
    let (o, n) = (temp_file("diffset", "sam-old.yaml", &old), temp_file("diffset", "sam-new.yaml", &new));
    let r = run(&["diff", o.to_str().unwrap(), n.to_str().unwrap(), "--format", "json"]);
    assert_eq!(r.status.code(), Some(1), "{}{}", out(&r), err(&r));
    let v = json(&r);
    let got = rows(&v);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.iter().all(|(_, change, verdict)| change == "changed" && verdict == "more-permissive"), "{got:?}");
}
