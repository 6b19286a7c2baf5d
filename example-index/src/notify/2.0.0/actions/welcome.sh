#!/bin/sh
# Uses the hello pack installed beside this one.
here=$(dirname "$0")
printf 'message=%s\nseverity=info\n' "$("$here/../../hello/actions/greet.sh" "$1" Welcome)" | "$here/send.sh"
