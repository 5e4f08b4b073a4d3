"""The exceptions pytest-halab raises; all derive from HalabError."""

from __future__ import annotations


class HalabError(Exception):
    """Base of every pytest-halab error."""


class TopologyError(HalabError):
    """A topology file (or a config file it names) is invalid; nothing was started."""


class ImageBuildError(HalabError):
    """An image could not be made."""


class DockerUnavailableError(HalabError):
    """No Docker engine answers."""


class LabStartError(HalabError):
    """The lab could not be brought up; what was made has been removed."""

    def __init__(self, message: str, node: str | None = None) -> None:
        super().__init__(message)
        self.node = node


class LabTimeoutError(LabStartError):
    """A readiness condition was not met in time."""
