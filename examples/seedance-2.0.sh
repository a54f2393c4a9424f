#!/usr/bin/env bash
# A Seedance 2.0 video with bash and curl only: create, poll, download, print the file.
#
#   EVOLINK_API_KEY=sk-... ./seedance-2.0.sh "A lighthouse at dusk" lighthouse.mp4
#
# EVOLINK_BASE_URL (default https://api.evolink.ai; the emulator: http://127.0.0.1:8000),
# EVOLINK_POLL_SECONDS (default 10), EVOLINK_DURATION (default 5, seconds).
# Docs: https://docs.evolink.ai/en/api-manual/video-series/seedance2.0/seedance-2.0-text-to-video
set -euo pipefail

: "${EVOLINK_API_KEY:?set EVOLINK_API_KEY}"
BASE="${EVOLINK_BASE_URL:-https://api.evolink.ai}"
BASE="${BASE%/}"
PROMPT="${1:?usage: $0 PROMPT [OUTPUT_FILE]}"
OUT="${2:-seedance.mp4}"
POLL="${EVOLINK_POLL_SECONDS:-10}"
DURATION="${EVOLINK_DURATION:-5}"

# The value of a top-level string field of a JSON answer ("id", "status", ...), without jq.
field() { sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p" <<<"$2" | head -n 1; }
# The prompt as a JSON string: backslashes, quotes and control characters escaped.
json_string() {
    local s=${1//\\/\\\\}
    s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\r'/\\r}; s=${s//$'\t'/\\t}
    printf '"%s"' "$s"
}
api() { curl -sS --fail-with-body -H "Authorization: Bearer $EVOLINK_API_KEY" "$@"; }

body=$(printf '{"model": "seedance-2.0-text-to-video", "prompt": %s, "duration": %s}' \
       "$(json_string "$PROMPT")" "$DURATION")
created=$(api -H 'Content-Type: application/json' -d "$body" "$BASE/v1/videos/generations") || {
    echo "create failed: $created" >&2; exit 1; }
task=$(field id "$created")
[ -n "$task" ] || { echo "no task id in: $created" >&2; exit 1; }
echo "task $task created"

while :; do
    answer=$(api "$BASE/v1/tasks/$task") || { echo "poll failed: $answer" >&2; exit 1; }
    status=$(field status "$answer")
    progress=$(sed -n 's/.*"progress"[[:space:]]*:[[:space:]]*\([0-9]*\).*/\1/p' <<<"$answer")
    echo "task $task: $status ${progress:-0}%"
    case "$status" in
        completed) break ;;
        failed) echo "task failed: $answer" >&2; exit 1 ;;
    esac
    sleep "$POLL"
done

url=$(sed -n 's/.*"results"[[:space:]]*:[[:space:]]*\[[[:space:]]*"\([^"]*\)".*/\1/p' <<<"$answer")
[ -n "$url" ] || { echo "no result link in: $answer" >&2; exit 1; }
curl -sS --fail -o "$OUT" "$url"
echo "$OUT: $(wc -c <"$OUT" | tr -d ' ') bytes ($url)"
