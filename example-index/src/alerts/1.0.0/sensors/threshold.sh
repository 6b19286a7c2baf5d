#!/bin/sh
# threshold.sh METRIC_FILE THRESHOLD: prints one JSON event when the value is above.
value=$(cat "$1")
if [ "$(echo "$value > $2" | bc)" = 1 ]; then
  printf '{"metric_file":"%s","value":%s,"threshold":%s}\n' "$1" "$value" "$2"
fi
