#!/bin/sh
# Uses the hello pack installed beside this one.
here=$(dirname "$0")
printf 'message=%s\n' "$("$here/../../hello/actions/greet.sh" "$1")" | "$here/send.sh"
