#!/usr/bin/env python3
"""Whole-process latency of the kmsproof CLI, the way a user runs it: one process per query.

    cargo build --release
    python3 benches/process.py [--bin target/release/kmsproof] [--out DIR] [--runs N]
    python3 benches/process.py --variant before:/tmp/kmsproof-old --variant after:target/release/kmsproof

Times `kmsproof diff OLD NEW` over the 301 version pairs of
../shared/corpus/aws-managed-policies/version-pairs/ and `kmsproof check` over every
corpus/properties/*.props.json (the set file's key policy, identity policies, grants, SCPs
and boundary passed as the CLI's flags, its properties as --properties). Reports p50/p90/
p99/max of wall time and of the child's CPU time (user + system, from os.wait4's rusage),
the exit codes, and the slowest queries. With several `--variant LABEL:BINARY[:VAR=VALUE]`
the variants run interleaved, query by query (same load for each: the machine is shared). `--out DIR` keeps every process's stdout (one file
per query) so two binaries' verdicts and witnesses can be compared with `diff -r`.

Standard library only. Speed is measured here and in `cargo bench`, never in tests; the
method and numbers are in docs/performance.md.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAIRS = ROOT.parent / "shared/corpus/aws-managed-policies/version-pairs"
PROPS = ROOT / "corpus/properties"


def run(argv, out_file, env=None):
    """One process: (wall seconds, CPU seconds, exit code)."""
    start = time.perf_counter()
    with open(out_file, "wb") if out_file else open(os.devnull, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status)


def diff_queries(binary):
    if not PAIRS.is_dir():
        print(f"\n*** SKIPPING version pairs: {PAIRS} not found ***\n", file=sys.stderr)
        return []
    dirs = sorted(p for p in PAIRS.iterdir() if p.is_dir())
    return [(d.name, [binary, "diff", str(d / "old.json"), str(d / "new.json")]) for d in dirs]


def check_queries(binary, tmp):
    """One `check` process per property set, its inputs given as the CLI's flags."""
    out = []
    for f in sorted(PROPS.glob("*.props.json")):
        doc = json.loads(f.read_text())
        rel = lambda p: str(f.parent / p)  # noqa: E731
        argv = [binary, "check"]
        if "key_policy" in doc:
            argv += ["--key-policy", rel(doc["key_policy"])]
        for flag, field in [("--identity-policy", "identity_policies"), ("--grant", "grants"), ("--scp", "scps")]:
            for p in doc.get(field, []):
                argv += [flag, rel(p)]
        if "boundary" in doc:
            argv += ["--boundary", rel(doc["boundary"])]
        if "key_arn" in doc:
            argv += ["--key-arn", doc["key_arn"]]
        if "management_account" in doc:
            argv += ["--management-account", doc["management_account"]]
        props = [{k: v for k, v in p.items() if k not in ("verdict", "rests_on")} for p in doc["properties"]]
        pf = Path(tmp) / f.name.replace(".props.json", ".json")
        pf.write_text(json.dumps(props))
        argv += ["--properties", str(pf), "--closed-world"]
        out.append((f.name, argv))
    return out


def pct(xs, q):
    xs = sorted(xs)
    return xs[round((len(xs) - 1) * q)]


def report(name, samples):
    if not samples:
        return
    walls = [s[1] for s in samples]
    cpus = [s[2] for s in samples]
    codes = {}
    for s in samples:
        codes[s[3]] = codes.get(s[3], 0) + 1
    ms = lambda x: f"{x * 1000:.1f} ms"  # noqa: E731
    print(f"{name}: {len(samples)} processes, exit codes {dict(sorted(codes.items()))}")
    for label, xs in [("wall", walls), ("cpu ", cpus)]:
        print(f"  {label}  p50 {ms(pct(xs, 0.5))}  p90 {ms(pct(xs, 0.9))}  p99 {ms(pct(xs, 0.99))}"
              f"  max {ms(max(xs))}  total {sum(xs):.2f} s")
    for s in sorted(samples, key=lambda s: -s[2])[:5]:
        print(f"  slowest (cpu): {s[0]} {ms(s[2])} cpu, {ms(s[1])} wall, exit {s[3]}")


def variants(args):
    """(label, binary, environment) per variant."""
    if not args.variant:
        return [("", args.bin, None)]
    out = []
    for v in args.variant:
        label, binary, *assign = v.split(":")
        env = dict(os.environ)
        for a in assign:
            k, _, val = a.partition("=")
            env[k] = val
        out.append((label, binary, env))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=str(ROOT / "target/release/kmsproof"))
    ap.add_argument("--variant", action="append", help="LABEL:BINARY[:VAR=VALUE...], repeatable, run interleaved")
    ap.add_argument("--out", help="keep each process's stdout under this directory")
    ap.add_argument("--runs", type=int, default=1, help="runs per query; the minimum CPU/wall is kept")
    ap.add_argument("--only", choices=["diff", "check"])
    ap.add_argument("--match", action="append", help="only queries whose name contains this (repeatable)")
    args = ap.parse_args()
    vs = variants(args)
    with tempfile.TemporaryDirectory() as tmp:
        suites = []
        if args.only in (None, "diff"):
            suites.append(("diff (version pairs)", "diff", diff_queries("BIN")))
        if args.only in (None, "check"):
            suites.append(("check (corpus/properties)", "check", check_queries("BIN", tmp)))
        for label, binary, env in vs:
            base = [run([binary, "--version"], None, env) for _ in range(20)]
            print(f"{label} `kmsproof --version` (no work): cpu p50 {pct([b[1] for b in base], 0.5) * 1000:.1f} ms,"
                  f" wall p50 {pct([b[0] for b in base], 0.5) * 1000:.1f} ms")
        for title, kind, queries in suites:
            queries = [q for q in queries if not args.match or any(m in q[0] for m in args.match)]
            samples = {label: [] for label, _, _ in vs}
            for name, argv in queries:
                for label, binary, env in vs:
                    out_file = None
                    if args.out:
                        d = Path(args.out) / label / kind
                        d.mkdir(parents=True, exist_ok=True)
                        out_file = d / f"{name}.txt"
                    cmd = [binary] + argv[1:]
                    runs = [run(cmd, out_file, env) for _ in range(args.runs)]
                    samples[label].append((name, min(r[0] for r in runs), min(r[1] for r in runs), runs[0][2]))
            for label, _, _ in vs:
                report(f"{label} {title}".strip(), samples[label])


if __name__ == "__main__":
    main()
