#!/bin/bash
# Seed 003's haproxy check (vrrp_script checkhaproxy), with the two shell errors of the page
# corrected: `count = ...` runs a command named "count" (the variable stays empty) and
# `[ $count > 0 ]` redirects to a file named 0, so the page's script always exits 1.
# tests/lab/test_haproxy.py runs the page's text unchanged to show what it does.
count=`ps aux | grep -v grep | grep haproxy | wc -l`
if [ $count -gt 0 ]; then
    exit 0
else
    exit 1
fi
