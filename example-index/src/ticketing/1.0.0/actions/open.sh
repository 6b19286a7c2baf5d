#!/bin/sh
# open.sh TITLE [QUEUE]: prints the new ticket's id.
queue=${2:-/var/lib/tickets}
mkdir -p "$queue"
id=$(date -u +%Y%m%d%H%M%S)-$$
printf 'status: open\ntitle: %s\n' "$1" > "$queue/$id.yaml"
echo "$id"
