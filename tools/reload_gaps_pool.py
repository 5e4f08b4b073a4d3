"""Print a virtual_server with N real servers (TCP_CHECK each): a keepalived.conf part
that makes a reload read a large file (tools/reload_gaps.sh)."""

import sys

count = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
print("virtual_server 10.99.0.1 80 {\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP")
for i in range(count):
    print(f"    real_server 10.98.{i // 250}.{i % 250 + 1} 80 {{")
    print("        weight 1\n        TCP_CHECK {\n            connect_timeout 3\n        }\n    }")
print("}")
