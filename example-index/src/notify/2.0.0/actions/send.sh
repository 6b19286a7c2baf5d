#!/bin/sh
# Parameters arrive on stdin as KEY=value lines. 2.0: severity is required.
while IFS='=' read -r key value; do
  case "$key" in
    message) message=$value ;;
    severity) severity=$value ;;
    target) target=$value ;;
  esac
done
[ -n "$severity" ] || { echo "notify.send: severity is required" >&2; exit 2; }
target=${target:-/tmp/notify.log}
case "$target" in
  https://*)
    curl -fsS -X POST -H 'Content-Type: application/json' \
      --data "{\"severity\":\"$severity\",\"message\":\"$message\"}" "$target" ;;
  *) printf '%s [%s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$severity" "$message" >> "$target" ;;
esac
