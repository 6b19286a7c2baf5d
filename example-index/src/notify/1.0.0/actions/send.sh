#!/bin/sh
# Parameters arrive on stdin as KEY=value lines.
while IFS='=' read -r key value; do
  case "$key" in
    message) message=$value ;;
    target) target=$value ;;
  esac
done
target=${target:-/tmp/notify.log}
case "$target" in
  https://*) curl -fsS -X POST -H 'Content-Type: text/plain' --data "$message" "$target" ;;
  *) printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$message" >> "$target" ;;
esac
