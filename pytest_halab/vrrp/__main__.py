"""``python3 -m pytest_halab.vrrp``: run halab-vrrpd."""

import sys

from pytest_halab.vrrp.daemon import main

if __name__ == "__main__":
    sys.exit(main())
