#!/bin/sh
# close.sh ID [QUEUE]
queue=${2:-/var/lib/tickets}
sed -i 's/^status: .*/status: closed/' "$queue/$1.yaml"
