#!/usr/bin/env bash
# The action's audit step (action.yml), also run by tests/integrations.rs on examples/:
# SARIF for code scanning, the table in the log, the exit code of `--fail-on`.
# Inputs (environment): KMSPROOF (the binary), KMSPROOF_PATHS (space-separated),
# KMSPROOF_FAIL_ON, KMSPROOF_SARIF (the SARIF file to write).
set -uo pipefail
KMSPROOF="${KMSPROOF:-kmsproof}"
read -r -a paths <<< "${KMSPROOF_PATHS:-.}"
"$KMSPROOF" audit --format sarif --fail-on "${KMSPROOF_FAIL_ON:-high}" "${paths[@]}" > "${KMSPROOF_SARIF:-kmsproof.sarif}"
code=$?
# The SARIF file is written even when findings fail the run, so it can still be uploaded.
if [ "$code" -eq 2 ] || [ "$code" -eq 4 ]; then
  echo "kmsproof audit failed (exit $code)" >&2
fi
exit "$code"
