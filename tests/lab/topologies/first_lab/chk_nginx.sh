#!/bin/sh
# nginx answers, or this node should give up the VIP
pidof nginx >/dev/null
