"""Offline image builds: a Debian base made locally, then the lab images on top of it.

Nothing is pulled. The root of every image is ``debian:bookworm-slim`` when that image is
already present, else a bookworm root file system made from the host's Debian mirror
(rootfs.py) and imported as ``halab/rootfs``. Each image is tagged with a hash of all its
inputs (build context, parent image ID, build arguments), so an unchanged image is never
rebuilt; the same image is also tagged ``:latest``.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import requests
from docker.models.images import Image

from . import rootfs
from .dockerhost import DockerHost
from .errors import ImageBuildError

REPO_ROOT = Path(__file__).resolve().parent.parent
IMAGES_DIR = REPO_ROOT / "lab" / "images"
PACKAGE_DIR = Path(__file__).resolve().parent

ROOT_CANDIDATE = rootfs.CANDIDATE
ROOTFS_REPO = rootfs.REPO
ROOTFS_REF = rootfs.REF
LABEL_IMAGE = "io.halab.image"


@dataclass(frozen=True)
class ImageSpec:
    """One lab image: its directory under lab/images and what it is built on."""

    name: str
    parent: str | None  # another ImageSpec name, or None for the root image
    extra: tuple[tuple[str, Path], ...] = ()  # (path in context, source file or dir)

    @property
    def repo(self) -> str:
        return f"halab/{self.name}"


def _vrrp_sources() -> tuple[tuple[str, Path], ...]:
    return (
        ("halab/pytest_halab/__init__.py", PACKAGE_DIR / "__init__.py"),
        ("halab/pytest_halab/vrrp", PACKAGE_DIR / "vrrp"),
    )


def _wire_format_sources() -> tuple[tuple[str, Path], ...]:
    """The VRRP wire format alone, for halab-observe's capture in every node. Not the whole
    package: editing the daemon then rebuilds the balancer image only, not all of them."""
    return (
        ("halab/pytest_halab/__init__.py", PACKAGE_DIR / "__init__.py"),
        ("halab/pytest_halab/vrrp/__init__.py", PACKAGE_DIR / "vrrp" / "__init__.py"),
        ("halab/pytest_halab/vrrp/packet.py", PACKAGE_DIR / "vrrp" / "packet.py"),
    )


SPECS: tuple[ImageSpec, ...] = (
    ImageSpec("base", None, _wire_format_sources()),
    ImageSpec("balancer", "base", _vrrp_sources()),
    ImageSpec("web", "base"),
    ImageSpec("client", "base"),
    ImageSpec("mail", "base"),
)


@dataclass(frozen=True)
class BuiltImage:
    name: str
    tag: str  # halab/NAME:<hash>
    built: bool  # False when the tag already existed
    seconds: float


Progress = Callable[[str, str], None]  # (image name, message)


def _quiet(_name: str, _msg: str) -> None:
    return None


def _iter_files(src: Path) -> Iterator[tuple[str, Path]]:
    if src.is_file():
        yield "", src
        return
    for p in sorted(src.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in {".pyc", ".pyo"}:
            yield p.relative_to(src).as_posix(), p


def _context_files(s: ImageSpec) -> list[tuple[str, Path]]:
    files = [(rel, p) for rel, p in _iter_files(IMAGES_DIR / s.name)]
    for dest, src in s.extra:
        for rel, p in _iter_files(src):
            files.append((f"{dest}/{rel}" if rel else dest, p))
    return sorted(files)


def input_hash(s: ImageSpec, parent_id: str) -> str:
    """Hash of everything an image is made of: context files (names, modes, bytes), parent."""
    h = hashlib.sha256()
    h.update(f"parent={parent_id}\n".encode())
    for rel, p in _context_files(s):
        mode = "x" if os.access(p, os.X_OK) else "-"
        h.update(f"{rel}\0{mode}\0".encode())
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _context_tar(s: ImageSpec) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for rel, p in _context_files(s):
            info = tar.gettarinfo(str(p), arcname=rel)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 0
            with p.open("rb") as fh:
                tar.addfile(info, fh)
    buf.seek(0)
    return buf


def _image(client: docker.DockerClient, ref: str) -> Image | None:
    try:
        return client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None


def root_image(
    client: docker.DockerClient, progress: Progress = _quiet, tar: Path | None = None
) -> Image:
    """The image everything is built on: one present, else Debian's root file system
    imported as ``halab/rootfs`` from ``tar`` (made beforehand by ``python3 -m
    pytest_halab.rootfs``) or from one made now."""
    for ref in (ROOT_CANDIDATE, ROOTFS_REF):
        img = _image(client, ref)
        if img is not None:
            progress("rootfs", f"using {ref}")
            return img
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="halab-rootfs-") as tmp:
        if tar is None or not tar.is_file():
            tar = Path(tmp) / "rootfs.tar"
            try:
                rootfs.write_tar(tar, lambda m: progress("rootfs", f"{m} (about 25 s)"))
            except rootfs.RootfsError as exc:
                raise ImageBuildError(str(exc)) from None
        progress("rootfs", f"importing {tar} as {ROOTFS_REF}")
        with tar.open("rb") as f:
            try:
                # Through the client, not the docker CLI: the engine may be a remote one.
                client.api.import_image(src=f, repository=rootfs.REPO, tag=rootfs.SUITE)
            except docker.errors.APIError as exc:
                raise ImageBuildError(f"importing the root file system failed: {exc}") from exc
    progress("rootfs", f"made in {time.monotonic() - t0:.1f} s")
    img = _image(client, ROOTFS_REF)
    if img is None:
        raise ImageBuildError("the imported root image is missing after docker import")
    return img


def _tag_latest(img: Image, repo: str) -> None:
    """``repo:latest`` names `img` (what users type); tagged only when it does not yet: each
    tag makes the engine write its reference store to disk."""
    if f"{repo}:latest" not in (img.tags or []):
        img.tag(repo, "latest")


def _build_one(
    client: docker.DockerClient, s: ImageSpec, parent: Image, rebuild: bool, progress: Progress
) -> BuiltImage:
    t0 = time.monotonic()
    tag = f"{s.repo}:{input_hash(s, parent.id)}"
    existing = _image(client, tag)
    if existing is not None and not rebuild:
        _tag_latest(existing, s.repo)
        progress(s.name, f"up to date ({tag})")
        return BuiltImage(s.name, tag, False, time.monotonic() - t0)
    progress(s.name, f"building {tag}")
    tail: list[str] = []
    image_id: str | None = None
    stream = client.api.build(
        fileobj=_context_tar(s),
        custom_context=True,
        tag=tag,
        buildargs={"BASE_IMAGE": parent.id},
        rm=True,
        forcerm=True,
        nocache=rebuild,
        decode=True,
        # apt needs the network, and an engine may have no default bridge (the second
        # engine of scripts/ensure-docker has none): build in the host's network.
        network_mode="host",
        labels={LABEL_IMAGE: s.name, "io.halab.inputs": tag.rsplit(":", 1)[1]},
    )
    for chunk in stream:
        if "stream" in chunk:
            line = str(chunk["stream"]).rstrip()
            if line:
                tail = [*tail[-39:], line]
                if line.startswith("Step "):
                    progress(s.name, line)
        if "error" in chunk:
            log = "\n".join(tail)
            raise ImageBuildError(f"building {tag} failed: {chunk['error']}\n{log}")
        if "aux" in chunk and isinstance(chunk["aux"], dict):
            image_id = chunk["aux"].get("ID", image_id)
    img = _image(client, tag)
    if img is None:
        raise ImageBuildError(f"building {tag} produced no image (last id {image_id})")
    _tag_latest(img, s.repo)
    progress(s.name, f"built in {time.monotonic() - t0:.1f} s")
    return BuiltImage(s.name, tag, True, time.monotonic() - t0)


def build_all(
    client: docker.DockerClient | None = None,
    *,
    rebuild: bool = False,
    names: tuple[str, ...] | None = None,
    progress: Progress = _quiet,
    rootfs_tar: Path | None = None,
) -> dict[str, BuiltImage]:
    """Build (or find up to date) every lab image, parents first; returns them by name.
    ``rootfs_tar``: the root file system to import if the engine has no root image."""
    client = client or docker.from_env()
    done: dict[str, BuiltImage] = {}
    images: dict[str | None, Image] = {None: root_image(client, progress, rootfs_tar)}
    wanted = set(names) if names else {s.name for s in SPECS}
    needed = [
        s
        for s in SPECS
        if s.name in wanted or any(o.parent == s.name and o.name in wanted for o in SPECS)
    ]
    # Build level by level: images whose parent is ready are built side by side (their
    # time is mostly apt downloads, which overlap well).
    while needed:
        ready = [s for s in needed if s.parent in images]
        if not ready:
            raise ImageBuildError(f"unbuildable images: {[s.name for s in needed]}")
        with ThreadPoolExecutor(max_workers=len(ready)) as pool:
            results = list(
                pool.map(
                    lambda s: _build_one(client, s, images[s.parent], rebuild, progress), ready
                )
            )
        for s, built in zip(ready, results, strict=True):
            done[s.name] = built
            img = _image(client, built.tag)
            if img is None:
                raise ImageBuildError(f"{built.tag} vanished right after its build")
            images[s.name] = img
            needed.remove(s)
    return {s.name: done[s.name] for s in SPECS if s.name in done}


def ensure_images(client: docker.DockerClient, progress: Progress = _quiet) -> dict[str, str]:
    """Tags of up-to-date images for every role, building what is missing or stale."""
    return {name: b.tag for name, b in build_all(client, progress=progress).items()}


@contextmanager
def _engine_lock(host: DockerHost) -> Iterator[None]:
    """One process of this machine at a time builds or copies images for one engine
    (pytest-xdist workers starting labs together); the others then find them there."""
    path = Path(tempfile.gettempdir()) / f"halab-images-{host.engine_id}.lock"
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_on(host: DockerHost, progress: Progress = _quiet) -> dict[str, str]:
    """Tags of up-to-date images for every role on this engine: built here, or, for an
    engine with an ``image_source``, built there once and copied (save/load, keyed by the
    content-hash tags: no registry is needed)."""
    if host.image_source is None or host.image_source is host:
        with _engine_lock(host):
            return ensure_images(host.client(), progress)
    tags = ensure_on(host.image_source, progress)
    root = root_image(host.image_source.client(), progress)
    refs = {**tags, "rootfs": next(t for t in root.tags if t in (ROOT_CANDIDATE, ROOTFS_REF))}
    with _engine_lock(host):
        copy_images(host.image_source, host, refs, progress)
    return tags


def copy_images(
    src: DockerHost, dst: DockerHost, tags: dict[str, str], progress: Progress = _quiet
) -> list[str]:
    """Copy the images ``dst`` lacks from ``src`` (one ``docker save`` of all of them, so
    shared layers travel once, streamed into ``docker load``); the lab's images are tagged
    ``:latest`` there too (not the root). Returns the tags copied."""
    client = dst.client()
    missing = [t for t in tags.values() if _image(client, t) is None]
    if missing:
        progress("copy", f"{len(missing)} image(s) from {src.name} to {dst.name}")
        t0 = time.monotonic()
        api = src.client().api
        # GET /images/get?names=...: the engine API's multi-image save (the SDK's
        # get_image saves one image at a time, which would send the shared layers again).
        try:
            resp = api._get(api._url("/images/get"), params={"names": missing}, stream=True)
            api._raise_for_status(resp)
            for msg in client.api.load_image(resp.iter_content(chunk_size=1 << 20), quiet=True):
                if isinstance(msg, dict) and msg.get("error"):
                    raise ImageBuildError(f"loading images on {dst.name}: {msg['error']}")
        except (docker.errors.APIError, requests.RequestException) as exc:
            raise ImageBuildError(f"copying images to {dst.name} failed: {exc}") from exc
        progress("copy", f"done in {time.monotonic() - t0:.1f} s")
    for tag in tags.values():
        img = _image(client, tag)
        if img is None:
            raise ImageBuildError(f"{tag} is not on {dst.name} after copying it there")
        if tag.startswith("halab/") and not tag.startswith(ROOTFS_REPO):
            _tag_latest(img, tag.split(":", 1)[0])
    return missing
