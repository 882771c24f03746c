#!/usr/bin/env bash
# Runs a kmsproof binary on a system without libz3: a chroot holding only the binary, the
# shared libraries `ldd` names (refusing a binary that names libz3) and examples/, where it
# runs `--version`, `eval` and `check` on the examples. Needs root (chroot) or unprivileged
# user namespaces (`unshare -r`).
#
#   scripts/verify-static.sh [BINARY]    (default: target/static/release/kmsproof)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/static/release/kmsproof}"

libs=$(ldd "$bin" | grep -oE '/[^ ]+' || true)
if ldd "$bin" | grep -q libz3; then
  echo "error: $bin links libz3:" >&2
  ldd "$bin" >&2
  exit 1
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
for lib in $libs; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
cp "$bin" "$root/kmsproof"
cp -r examples "$root/examples"
echo "== the chroot holds:"
(cd "$root" && find . -type f ! -path './examples/*' | sort)

run() {
  echo "\$ kmsproof $*"
  if [ "$(id -u)" = "0" ]; then
    chroot "$root" /kmsproof "$@"
  else
    unshare -r chroot "$root" /kmsproof "$@"
  fi
}
run --version
run eval --key-policy examples/key-policy.json --request examples/request.json
run check --key-policy examples/key-policy.json --never kms:Decrypt \
  --principal arn:aws:iam::111122223333:role/App \
  --where 'StringNotLike kms:ViaService ec2.*.amazonaws.com lambda.*.amazonaws.com'
run check --key-policy examples/key-policy.json --properties examples/properties.json || {
  code=$?
  # Exit 1: a property is violated (a finding, with its replayed counterexample), not a failure.
  [ "$code" = 1 ] || exit "$code"
}
echo "== ran without libz3"
