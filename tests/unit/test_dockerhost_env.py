"""The engine's client reads the proxy and CA variables once (dockerhost.environment_once),
and decides as requests would have decided at each call."""

from __future__ import annotations

import docker
import pytest

from pytest_halab.dockerhost import environment_once

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")


def api(url: str) -> docker.APIClient:
    # a version given: the client asks the engine nothing
    return docker.APIClient(base_url=url, version="1.41")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in (*PROXY_VARS, "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_a_socket_engine_never_goes_through_a_proxy(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    client = api("unix:///var/run/docker.sock")
    environment_once(client)
    assert client.proxies == {} and client.trust_env is False
    # what requests itself would send the request with: no proxy
    settings = client.merge_environment_settings(client.base_url + "/_ping", {}, None, None, None)
    assert settings["proxies"] == {}


def test_a_tcp_engine_keeps_the_proxy_requests_would_use(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    client = api("tcp://10.9.8.7:2375")
    environment_once(client)
    assert client.proxies.get("http") == "http://proxy.invalid:3128"
    clean_env.setenv("NO_PROXY", "10.9.8.7")
    spared = api("tcp://10.9.8.7:2375")
    environment_once(spared)
    assert spared.proxies == {}
    # read once: a variable set afterwards changes nothing
    clean_env.delenv("NO_PROXY")
    assert (
        spared.merge_environment_settings("http://10.9.8.7:2375/_ping", {}, None, None, None)[
            "proxies"
        ]
        == {}
    )


def test_a_ca_bundle_from_the_environment_still_counts(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/lab-ca.pem")
    client = api("tcp://10.9.8.7:2376")
    environment_once(client)
    assert client.verify == "/etc/ssl/certs/lab-ca.pem"
    clean_env.delenv("REQUESTS_CA_BUNDLE")
    plain = api("tcp://10.9.8.7:2376")
    environment_once(plain)
    assert plain.verify is True
