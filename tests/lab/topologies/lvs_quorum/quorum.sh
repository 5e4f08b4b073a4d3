#!/bin/sh
# quorum_up / quorum_down: what an operator's script would do (page someone); here it notes
# the change where a test can read it.
echo "$(date +%s.%N) quorum $1" >> /var/log/quorum.log
