#!/usr/bin/env bash
# The action's pull-request step (action.yml), also run by tests/integrations.rs: each
# policy file the change touched is compared with its version at KMSPROOF_BASE, and the
# markdown answers are appended to the job summary.
# Inputs (environment): KMSPROOF, KMSPROOF_BASE (a git revision), KMSPROOF_PATHS,
# GITHUB_STEP_SUMMARY (the file the summary goes to).
set -uo pipefail
KMSPROOF="${KMSPROOF:-kmsproof}"
summary="${GITHUB_STEP_SUMMARY:-/dev/stdout}"
base="${KMSPROOF_BASE:?KMSPROOF_BASE: the revision to compare with}"
read -r -a paths <<< "${KMSPROOF_PATHS:-.}"
worst=0
changed=$(git diff --name-only --diff-filter=M "$base" -- "${paths[@]}" | grep -E '\.(json|ya?ml|template)$' || true)
if [ -z "$changed" ]; then
  echo "kmsproof: no policy file changed since $base" >> "$summary"
  exit 0
fi
while IFS= read -r file; do
  "$KMSPROOF" diff --git "$base" "$file" --format markdown >> "$summary"
  code=$?
  # 2 (bad input: not a policy, say) and 4 (a bug) are errors; 1 and 3 are answers.
  if [ "$code" -eq 2 ] || [ "$code" -eq 4 ]; then
    echo "kmsproof diff $file failed (exit $code)" >&2
    worst=$code
  fi
done <<< "$changed"
exit "$worst"
