#!/bin/sh
# what a sync group's notify script is given
echo "$0 $*" >> /var/log/group-args.log
