#!/bin/sh
echo "${2:-Hello}, ${1:-world}!"
