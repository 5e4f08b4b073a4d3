"""nginx (Debian's nginx-light) as the balancer's HTTP load balancer (seeds 000, 002, 004).

The topology gives it ``/etc/nginx/conf.d/halab.conf``; the lab's config answers
``/halab-health`` itself and proxies everything else to the web backends.
"""

from __future__ import annotations

from typing import ClassVar

from .base import BalancerService


class Nginx(BalancerService):
    name: ClassVar[str] = "nginx"
    process: ClassVar[str] = "nginx"
    config_path: ClassVar[str] = "/etc/nginx/conf.d/halab.conf"
    port: ClassVar[int] = 80
    health_path: ClassVar[str] = "/halab-health"
    start_cmd: ClassVar[str] = "/etc/halab/services.d/20-nginx start"

    @classmethod
    def config_test_cmd(cls) -> str | None:
        return "nginx -t -q"
