#!/bin/sh
# raise.sh SUMMARY [SEVERITY]: needs notify 2 (severity) beside this pack.
here=$(dirname "$0")
printf 'message=ALERT: %s\nseverity=%s\n' "$1" "${2:-warning}" | "$here/../../notify/actions/send.sh"
