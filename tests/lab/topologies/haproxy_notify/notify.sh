#!/bin/sh
# what a notify script is given, as keepalived gives it
echo "$0 $*" >> /var/log/notify-args.log
