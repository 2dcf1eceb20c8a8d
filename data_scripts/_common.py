"""Shared machinery of the dataset scripts: download, checksums, archives, stamps, the CLI driver.

Taught in the intro chapter ("What is inpainting?", section on data). Standard library only.

Pieces:

* :func:`download` streams a URL to ``dest.part``, resumes with an HTTP ``Range`` request when a
  ``.part`` file exists, verifies checksums when known and renames atomically. Network failures
  become a :class:`DownloadError` whose message says what failed and how to fetch the file by hand.
* :data:`KNOWN_CHECKSUMS` lists the checksums we know, with where each came from. ``None`` means
  unknown: we never invent one. sha256 values for these archives are not published anywhere we
  could check, so only MD5 values (from ``torchvision.datasets``) are filled in.
* :func:`iter_members` walks a zip, a tar (any compression, streamed) or a folder uniformly, and
  :func:`write_member` writes one member atomically, skipping files already complete, so an
  interrupted preparation continues where it stopped.
* :class:`Dataset` + :func:`run` give every script the same command line (``--root``,
  ``--force``, ``--download-dir``, ``--sha256 NAME=HEX``, one path flag and one URL flag per
  source file) and the same ``<dataset>/.prepared.json`` stamp: a second run finds the stamp and
  does nothing; ``--force`` redoes the work.

Errors that the user can fix are raised as :class:`DataScriptError`; :func:`run` prints them as one
paragraph on stderr and returns exit code 2, with no traceback.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import http.client
import json
import os
import posixpath
import shutil
import socket
import sys
import tarfile
import textwrap
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator, Optional

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_ENV = "INPAINTLIB_DATA"
STAMP_NAME = ".prepared.json"
STAMP_FORMAT = 1
IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
PARTIAL_SUFFIX = ".partial"  # files being written; renamed when complete
CHUNK = 1 << 20
USER_AGENT = "inpaintlib-data-scripts/1"

# Known checksums of the official files. None = not known (never invented). The MD5 values are the
# ones torchvision.datasets checks for the same files (CelebA: torchvision/datasets/celeba.py,
# Places365: torchvision/datasets/places365.py). No published sha256 exists for any of them.
KNOWN_CHECKSUMS: dict[str, dict[str, Optional[str]]] = {
    "img_align_celeba.zip": {
        "sha256": None, "md5": "00d2c5bc6d35e252742224ab0c1e8fcb",
        "source": "md5 from torchvision.datasets.CelebA"},
    "list_eval_partition.txt": {
        "sha256": None, "md5": "d32c9cbf5e040fd4025c592c306e6668",
        "source": "md5 from torchvision.datasets.CelebA"},
    "filelist_places365-standard.tar": {
        "sha256": None, "md5": "35a0585fee1fa656440f3ab298f8479c",
        "source": "md5 from torchvision.datasets.Places365"},
    "train_256_places365standard.tar": {
        "sha256": None, "md5": "53ca1c756c3d1e7809517cc47c5561c5",
        "source": "md5 from torchvision.datasets.Places365"},
    "val_256.tar": {
        "sha256": None, "md5": "e27b17d8d44f4af9a78502beb927f808",
        "source": "md5 from torchvision.datasets.Places365"},
    "test_256.tar": {"sha256": None, "md5": None, "source": "not known"},
    "irregular_mask.zip": {"sha256": None, "md5": None, "source": "not known"},
    "test_mask.zip": {"sha256": None, "md5": None, "source": "not known"},
}

CHECKSUM_HELP = (
    "Checksums: the archive's sha256 and md5 are always computed and written to the stamp. They "
    "are checked against the known values where known; today only MD5 values are known (the ones "
    "torchvision checks, for the CelebA and Places365 files); no sha256 is published for these "
    "datasets, so none is listed (never invented). Pass --sha256 NAME=HEX to check a value you "
    "trust, e.g. one recorded in another machine's .prepared.json.")


# --------------------------------------------------------------------------------------- errors
class DataScriptError(Exception):
    """A problem the user can fix (missing file, bad archive, failed download): exit code 2."""

    exit_code = 2


class DownloadError(DataScriptError):
    """A download failed (offline, DNS failure, refused connection, HTTP error, cut stream)."""


class ChecksumError(DataScriptError):
    """A file's sha256 or md5 differs from the expected value."""


def paragraph(text: str, width: int = 100) -> str:
    """Collapse whitespace in ``text`` and wrap it into one paragraph of ``width`` columns."""
    # Never break inside a word or at hyphens: paths and URLs must stay copy-pasteable.
    return textwrap.fill(" ".join(text.split()), width=width, break_long_words=False,
                         break_on_hyphens=False)


# ------------------------------------------------------------------------------------ checksums
def file_digests(path: Path | str) -> dict:
    """Return ``{"size", "sha256", "md5"}`` of the file at ``path`` (read once, in 1 MiB chunks)."""
    path = Path(path)
    sha, md5 = hashlib.sha256(), hashlib.md5()
    size = 0
    with open(path, "rb") as fh:
        while True:
            block = fh.read(CHUNK)
            if not block:
                break
            sha.update(block)
            md5.update(block)
            size += len(block)
    return {"size": size, "sha256": sha.hexdigest(), "md5": md5.hexdigest()}


def expected_checksums(name: str, overrides: Optional[dict] = None) -> dict:
    """Known ``{"sha256", "md5"}`` for file ``name``; ``overrides`` (name → sha256) wins."""
    known = dict(KNOWN_CHECKSUMS.get(name, {}))
    out = {"sha256": known.get("sha256"), "md5": known.get("md5")}
    if overrides and name in overrides:
        out = {"sha256": overrides[name], "md5": None}
    return out


def verify_digests(path: Path | str, digests: dict, sha256: Optional[str] = None,
                   md5: Optional[str] = None, what: Optional[str] = None) -> None:
    """Raise :class:`ChecksumError` naming ``path`` if ``digests`` differ from the expected ones."""
    for algo, want in (("sha256", sha256), ("md5", md5)):
        if want and digests[algo].lower() != want.lower():
            raise ChecksumError(
                f"Checksum mismatch for {what or Path(path).name} ({path}): expected {algo} "
                f"{want.lower()}, got {digests[algo]}. The file is incomplete, corrupted or a "
                f"different release. Delete it and fetch it again (or pass the right file).")


# ------------------------------------------------------------------------------------- download
def _reason(exc: BaseException) -> str:
    """A short human description of a network exception."""
    inner = getattr(exc, "reason", None)
    if isinstance(exc, urllib.error.HTTPError):
        return f"the server answered HTTP {exc.code} {exc.reason}"
    if isinstance(inner, BaseException):
        exc = inner
    if isinstance(exc, socket.gaierror):
        return f"the host name could not be resolved ({exc.strerror or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return "the connection was refused"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "the connection timed out"
    if inner is not None and not isinstance(inner, BaseException):
        return str(inner)
    return f"{type(exc).__name__}: {exc}"


def manual_instructions(name: str, dest: Path, page: Optional[str], flag: Optional[str],
                        rerun: bool = True) -> str:
    """The sentence telling the user how to fetch ``name`` by hand and where to put it."""
    where = f" from {page}" if page else ""
    how = f" (or anywhere, and pass {flag} PATH)" if flag else ""
    end = ", then run the same command again." if rerun else "."
    return f"Fetch {name} by hand{where}, put it at {dest}{how}{end}"


def _resolve_host(host: str, port: int, timeout: float) -> None:
    """Resolve ``host`` in a helper thread so a hung resolver cannot hang the script."""
    result: dict = {}

    def work():
        try:
            socket.getaddrinfo(host, port)
            result["ok"] = True
        except BaseException as exc:  # noqa: BLE001 - reported below
            result["error"] = exc

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise urllib.error.URLError(socket.timeout(f"resolving {host} took over {timeout:g} s"))
    if "error" in result:
        raise urllib.error.URLError(result["error"])


class _Progress:
    """Logs a line every ~10 % (or every 15 s when the total size is unknown)."""

    def __init__(self, name: str, total: Optional[int], start: int, log: Callable[[str], None]):
        self.name, self.total, self.done, self.log = name, total, start, log
        self.next_mark = 0.1
        self.last = time.monotonic()

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.total:
            frac = self.done / self.total
            if frac >= self.next_mark:
                self.log(f"  {self.name}: {frac:4.0%} of {self.total / 1e6:,.1f} MB")
                while self.next_mark <= frac:
                    self.next_mark += 0.1
        elif now - self.last > 15:
            self.log(f"  {self.name}: {self.done / 1e6:,.1f} MB")
            self.last = now


def _copy_stream(src: IO[bytes], dst: IO[bytes], progress: _Progress) -> None:
    while True:
        block = src.read(CHUNK)
        if not block:
            break
        dst.write(block)
        progress.update(len(block))


def download(url: str, dest: Path | str, sha256: Optional[str] = None, resume: bool = True, *,
             md5: Optional[str] = None, flag: Optional[str] = None, page: Optional[str] = None,
             timeout: float = 30.0, log: Callable[[str], None] = None) -> Path:
    """Download ``url`` to ``dest`` safely; return ``dest``.

    The bytes go to ``dest.part``; when ``resume`` and a ``.part`` exists, only the rest is asked
    for (HTTP ``Range``; ``file://`` URLs seek). A server that ignores the range restarts the file.
    When ``sha256``/``md5`` are given the result is checked (a mismatch deletes the ``.part`` and
    raises :class:`ChecksumError` naming the file); then ``.part`` is renamed to ``dest``
    atomically. If ``dest`` already exists it is only checked. Offline, DNS failure, refused
    connection, timeout or an HTTP error raise :class:`DownloadError` with one paragraph saying
    what failed, which file to fetch by hand (``page``), where to put it and which ``flag`` to pass.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    dest = Path(dest)
    name = dest.name
    if dest.exists():
        if sha256 or md5:
            verify_digests(dest, file_digests(dest), sha256, md5)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if part.exists() and not resume:
        part.unlink()
    offset = part.stat().st_size if part.exists() else 0
    parsed = urllib.parse.urlparse(url)
    manual = manual_instructions(name, dest, page or url, flag)

    def fail(reason: str, offline: bool) -> DownloadError:
        kept = (f" The {part.stat().st_size:,} bytes fetched so far are kept in {part}; running "
                f"again resumes from there." if part.exists() and part.stat().st_size else "")
        hint = " You may be offline, or the host may be down." if offline else ""
        return DownloadError(f"Could not download {name} from {url}: {reason}.{hint} "
                             f"{manual}{kept}")

    try:
        if parsed.scheme == "file":
            src_path = Path(urllib.request.url2pathname(parsed.path))
            if not src_path.is_file():
                raise fail(f"{src_path} does not exist", offline=False)
            total = src_path.stat().st_size
            if offset > total:
                offset = 0
            log(f"copying {url} -> {dest}" + (f" (resuming at byte {offset:,})" if offset else ""))
            with open(src_path, "rb") as src, open(part, "ab" if offset else "wb") as dst:
                src.seek(offset)
                _copy_stream(src, dst, _Progress(name, total, offset, log))
        elif parsed.scheme in ("http", "https"):
            _resolve_host(parsed.hostname or "", parsed.port or 80, timeout)
            headers = {"User-Agent": USER_AGENT}
            if offset:
                headers["Range"] = f"bytes={offset}-"
            request = urllib.request.Request(url, headers=headers)
            try:
                response = urllib.request.urlopen(request, timeout=timeout)
            except urllib.error.HTTPError as exc:
                if exc.code == 416 and offset:
                    log(f"{name}: the server has no bytes past {offset:,}; treating {part.name} "
                        f"as complete")
                    response = None
                else:
                    raise
            if response is not None:
                with response:
                    status = getattr(response, "status", 200)
                    length = response.headers.get("Content-Length")
                    if offset and status == 206:
                        start = response.headers.get("Content-Range", "").split(" ")[-1]
                        if not start.startswith(f"{offset}-"):
                            part.unlink()
                            raise fail(f"the server resumed at an unexpected position "
                                       f"({response.headers.get('Content-Range')!r}); the partial "
                                       f"file was deleted, so running again starts over",
                                       offline=False)
                        mode = "ab"
                        total = offset + int(length) if length else None
                        log(f"downloading {url} -> {dest} (resuming at byte {offset:,})")
                    else:
                        if offset:
                            log(f"{name}: the server ignored the range request; starting over")
                        offset, mode = 0, "wb"
                        total = int(length) if length else None
                        log(f"downloading {url} -> {dest}")
                    with open(part, mode) as dst:
                        _copy_stream(response, dst, _Progress(name, total, offset, log))
                    if total is not None and part.stat().st_size < total:
                        raise fail(f"the connection closed after {part.stat().st_size:,} of "
                                   f"{total:,} bytes", offline=True)
        else:
            raise fail(f"unsupported URL scheme {parsed.scheme!r}", offline=False)
    except DownloadError:
        raise
    except urllib.error.HTTPError as exc:
        raise fail(_reason(exc), offline=False) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        if isinstance(exc, OSError) and exc.filename and Path(exc.filename) in (part, dest):
            raise DataScriptError(f"Could not write {exc.filename}: {exc.strerror}.") from None
        raise fail(_reason(exc), offline=True) from None

    if sha256 or md5:
        try:
            verify_digests(part, file_digests(part), sha256, md5, what=name)
        except ChecksumError as exc:
            part.unlink()
            raise ChecksumError(f"{exc} The downloaded copy was deleted.") from None
    os.replace(part, dest)
    return dest


# ------------------------------------------------------------------------------------- archives
@dataclass
class Member:
    """One regular file inside an archive (or a folder): its normalised posix ``name``, ``size``
    in bytes and ``open()`` returning a readable binary file (valid until the next member for a
    streamed tar)."""

    name: str
    size: int
    open: Callable[[], IO[bytes]]

    @property
    def basename(self) -> str:
        """The file name without folders."""
        return posixpath.basename(self.name)

    @property
    def ext(self) -> str:
        """The lower-cased extension with its dot (``".jpg"``)."""
        return posixpath.splitext(self.name)[1].lower()

    @property
    def is_image(self) -> bool:
        """True for the usual image extensions (jpg, jpeg, png, bmp, tif, tiff, webp)."""
        return self.ext in IMAGE_EXTS


def _is_junk(name: str) -> bool:
    base = posixpath.basename(name)
    return name.startswith("__MACOSX/") or base.startswith("._") or base in (".DS_Store",
                                                                             "Thumbs.db")


def safe_member_name(name: str, archive: Path | str) -> str:
    """Normalise an archive member name; raise :class:`DataScriptError` if it would escape."""
    clean = name.replace("\\", "/")
    norm = posixpath.normpath(clean)
    while norm.startswith("./"):
        norm = norm[2:]
    if clean.startswith("/") or norm == ".." or norm.startswith("../") or ":" in norm.split("/")[0]:
        raise DataScriptError(
            f"Archive {archive} contains an unsafe path {name!r} (absolute or leaving the target "
            f"folder). Refusing to extract it; check where the archive came from.")
    return norm


def archive_kind(path: Path | str) -> str:
    """``"dir"``, ``"zip"`` or ``"tar"``; raise :class:`DataScriptError` naming ``path`` otherwise."""
    path = Path(path)
    if path.is_dir():
        return "dir"
    if not path.is_file():
        raise DataScriptError(f"{path} does not exist.")
    if zipfile.is_zipfile(path):
        return "zip"
    try:
        if tarfile.is_tarfile(path):
            return "tar"
    except OSError:
        pass
    raise DataScriptError(f"{path} is neither a zip nor a tar archive (nor a folder); it may be "
                          f"truncated or an HTML error page saved under the archive's name.")


def iter_members(path: Path | str) -> Iterator[Member]:
    """Yield the regular files of a zip, a tar (streamed, any compression) or a folder, in
    archive order (sorted for folders). macOS metadata entries are skipped."""
    path = Path(path)
    kind = archive_kind(path)
    if kind == "dir":
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            for fname in sorted(filenames):
                full = Path(dirpath) / fname
                rel = full.relative_to(path).as_posix()
                if _is_junk(rel) or not full.is_file():
                    continue
                yield Member(rel, full.stat().st_size, lambda full=full: open(full, "rb"))
    elif kind == "zip":
        try:
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    if info.is_dir() or _is_junk(info.filename):
                        continue
                    name = safe_member_name(info.filename, path)
                    yield Member(name, info.file_size, lambda info=info: zf.open(info))
        except zipfile.BadZipFile as exc:
            raise DataScriptError(f"{path} is a damaged zip archive ({exc}).") from None
    else:
        try:
            with tarfile.open(path, "r|*") as tf:
                for info in tf:
                    if not info.isfile() or _is_junk(info.name):
                        continue
                    name = safe_member_name(info.name, path)
                    yield Member(name, info.size, lambda info=info: tf.extractfile(info))
        except (tarfile.TarError, EOFError) as exc:
            raise DataScriptError(f"{path} is a damaged or truncated tar archive ({exc}). "
                                  f"Delete it and fetch it again.") from None


def write_bytes_atomic(dest: Path, data: bytes) -> None:
    """Write ``data`` to ``dest`` through a ``.partial`` file renamed at the end."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + PARTIAL_SUFFIX)
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, dest)


def write_member(member: Member, dest: Path) -> bool:
    """Copy ``member`` to ``dest`` atomically; return False (nothing written) when ``dest``
    already exists with the member's size, i.e. was completed by an earlier, interrupted run."""
    if dest.is_file() and dest.stat().st_size == member.size:
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + PARTIAL_SUFFIX)
    with member.open() as src, open(tmp, "wb") as dst:
        shutil.copyfileobj(src, dst, CHUNK)
    os.replace(tmp, dest)
    return True


def write_lines(path: Path, lines: Iterable[str]) -> int:
    """Write ``lines`` (one per line, ``\\n``-terminated) atomically; return how many."""
    lines = list(lines)
    write_bytes_atomic(path, "".join(line + "\n" for line in lines).encode("utf-8"))
    return len(lines)


def unique_basenames(members: Iterable[Member], archive: Path | str) -> dict[str, Member]:
    """Map basename → member; raise :class:`DataScriptError` if two members share a basename."""
    out: dict[str, Member] = {}
    for member in members:
        if member.basename in out:
            raise DataScriptError(
                f"Archive {archive} holds two files named {member.basename} "
                f"({out[member.basename].name} and {member.name}); the prepared layout is flat, "
                f"so names must be unique.")
        out[member.basename] = member
    return out


# -------------------------------------------------------------------------------- stamp + driver
@dataclass
class Source:
    """One file a dataset needs: ``key`` (also names the CLI flags), its official ``filename``,
    a direct ``url`` (None when only a manual download exists), the ``page`` to get it from by
    hand, the path ``flag`` and the ``url_flag`` overriding the URL."""

    key: str
    filename: str
    url: Optional[str]
    page: str
    flag: str
    url_flag: str
    help: str = ""
    no_url_reason: str = ""


@dataclass
class Dataset:
    """Everything the shared driver needs to know about one dataset script."""

    name: str
    dirname: str
    title: str
    layout: str
    produces: tuple
    sources: tuple
    prepare: Callable[["Job"], dict]
    options: Callable[[argparse.Namespace], dict]
    add_arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None
    description: str = ""
    module: str = ""


@dataclass
class Job:
    """The state of one run: parsed ``args``, the data ``root``, the dataset folder ``out``, the
    ``download_dir`` and the archives seen so far (recorded into the stamp)."""

    dataset: Dataset
    args: argparse.Namespace
    root: Path
    out: Path
    download_dir: Path
    quiet: bool = False
    archives: list = field(default_factory=list)

    def log(self, msg: str) -> None:
        """Print a progress line unless ``--quiet``."""
        if not self.quiet:
            print(msg, flush=True)

    def _overrides(self) -> dict:
        return dict(self.args.sha256 or [])

    def record(self, role: str, path: Path, digests: Optional[dict] = None) -> dict:
        """Hash (unless ``--skip-checksum``), verify against the known/override checksums and
        remember ``path`` for the stamp. Returns the record."""
        path = Path(path)
        kind = ("folder" if path.is_dir() else "file" if path.suffix == ".txt"
                else archive_kind(path))
        entry = {"role": role, "name": path.name, "path": str(path), "kind": kind,
                 "size": None, "sha256": None, "md5": None}
        if kind != "folder" and self.args.skip_checksum:
            entry["size"] = path.stat().st_size
        elif kind != "folder":
            self.log(f"checksumming {path} ...")
            digests = digests or file_digests(path)
            want = expected_checksums(path.name, self._overrides())
            verify_digests(path, digests, want["sha256"], want["md5"])
            entry.update(digests)
        self.archives.append(entry)
        return entry

    def _url(self, source: Source) -> Optional[str]:
        url = getattr(self.args, _dest(source.url_flag), None)
        if not url and self.args.base_url:
            url = self.args.base_url.rstrip("/") + "/" + source.filename
        return url or source.url

    def require(self, sources: Iterable[Source]) -> None:
        """Raise one :class:`DataScriptError` naming every source that is neither given, nor in
        the download folder, nor downloadable (so the user learns about all of them at once)."""
        missing = [s for s in sources
                   if not getattr(self.args, _dest(s.flag), None)
                   and not (self.download_dir / s.filename).exists() and not self._url(s)]
        if len(missing) > 1:
            files = " and ".join(s.filename for s in missing)
            steps = " ".join(manual_instructions(s.filename, self.download_dir / s.filename,
                                                 s.page, s.flag, rerun=False) for s in missing)
            steps += " Then run the same command again."
            raise DataScriptError(f"{files} are needed and were not found in "
                                  f"{self.download_dir}. {missing[0].no_url_reason} {steps}")

    def obtain(self, source: Source) -> Path:
        """Find or fetch ``source``: the path passed with its flag, else ``download_dir/filename``,
        else download it from its URL (``--<key>-url`` or ``--base-url`` override the default).
        Verifies checksums and records it. Without any URL, raise the manual instructions."""
        given = getattr(self.args, _dest(source.flag), None)
        if given:
            path = Path(given).expanduser()
            if not path.exists():
                raise DataScriptError(f"{source.flag} {path}: no such file or folder.")
            self.record(source.key, path)
            return path
        dest = self.download_dir / source.filename
        if dest.exists():
            self.log(f"using {dest}")
            self.record(source.key, dest)
            return dest
        url = self._url(source)
        if not url:
            raise DataScriptError(
                f"{source.filename} is needed and was not found at {dest}. "
                f"{source.no_url_reason} "
                f"{manual_instructions(source.filename, dest, source.page, source.flag)}")
        want = expected_checksums(source.filename, self._overrides())
        download(url, dest, want["sha256"], md5=want["md5"], flag=source.flag, page=source.page,
                 timeout=self.args.timeout, log=self.log)
        self.record(source.key, dest)
        return dest


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def default_root() -> Path:
    """``$INPAINTLIB_DATA`` if set, else ``<repo>/data``."""
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else REPO_ROOT / "data"


def _checksum_pair(text: str) -> tuple:
    name, sep, value = text.partition("=")
    value = value.strip().lower()
    if not sep or not name or len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise argparse.ArgumentTypeError(f"expected NAME=<64 hex digits>, got {text!r}")
    return name.strip(), value


def build_parser(dataset: Dataset) -> argparse.ArgumentParser:
    """The command line shared by every script, plus the dataset's own arguments."""
    parser = argparse.ArgumentParser(
        prog=f"python data_scripts/{dataset.module or dataset.name}.py",
        description=f"{dataset.title}. {dataset.description}",
        epilog=(f"Layout produced under --root:\n{textwrap.indent(dataset.layout, '  ')}\n\n"
                + paragraph(CHECKSUM_HELP)
                + "\n\nBy using the data you accept the dataset's own terms (see "
                  "data_scripts/README.md)."),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=None,
                        help=f"data root (default: ${DATA_ENV}, else <repo>/data)")
    parser.add_argument("--download-dir", type=Path, default=None,
                        help="where archives are looked for and downloaded (default: "
                             "<root>/downloads)")
    parser.add_argument("--force", action="store_true",
                        help="prepare again even if the stamp says it is done")
    parser.add_argument("--base-url", default=None,
                        help="mirror folder: each file is fetched as BASE_URL/<official name>")
    parser.add_argument("--sha256", action="append", type=_checksum_pair, metavar="NAME=HEX",
                        help="expected sha256 of file NAME (repeatable); overrides the table")
    parser.add_argument("--skip-checksum", action="store_true",
                        help="do not hash the archives (faster; the stamp records no sha256)")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="network timeout in seconds (default 30)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the summary")
    for source in dataset.sources:
        parser.add_argument(source.flag, type=Path, default=None, metavar="PATH",
                            help=f"{source.filename} already on disk{source.help}")
        parser.add_argument(source.url_flag, default=None, metavar="URL",
                            help=f"URL to fetch {source.filename} from"
                                 + (f" (default {source.url})" if source.url else
                                    " (no default: manual download)"))
    dataset.add_arguments(parser)
    return parser


def _json_norm(obj):
    return json.loads(json.dumps(obj, default=str))


def read_stamp(folder: Path) -> Optional[dict]:
    """The parsed ``folder/.prepared.json``, or None when absent. A damaged stamp is an error."""
    path = folder / STAMP_NAME
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise DataScriptError(f"The stamp {path} is unreadable ({exc}). Delete it or pass --force "
                              f"to prepare the dataset again.") from None


def write_stamp(folder: Path, stamp: dict) -> Path:
    """Write ``stamp`` as ``folder/.prepared.json`` atomically."""
    path = folder / STAMP_NAME
    write_bytes_atomic(path, (json.dumps(stamp, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    return path


def _remove_produced(job: Job, protect: list) -> None:
    for rel in job.dataset.produces:
        target = job.out / rel
        for p in protect:
            p = Path(p).resolve()
            if p == target.resolve() or target.resolve() in p.parents:
                raise DataScriptError(
                    f"--force would delete {target}, which holds the input {p}. Move the input "
                    f"elsewhere first.")
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
    (job.out / STAMP_NAME).unlink(missing_ok=True)


def _execute(dataset: Dataset, args: argparse.Namespace) -> int:
    root = (args.root or default_root()).expanduser()
    out = root / dataset.dirname
    job = Job(dataset, args, root, out, (args.download_dir or root / "downloads").expanduser(),
              quiet=args.quiet)
    options = _json_norm(dataset.options(args))
    stamp = read_stamp(out)
    if stamp is not None and not args.force:
        old = stamp.get("options", {})
        if old != options:
            diff = ", ".join(f"{k}: {old.get(k)!r} -> {options.get(k)!r}"
                             for k in sorted(set(old) | set(options)) if old.get(k) != options.get(k))
            raise DataScriptError(
                f"{dataset.name} in {out} was already prepared with other options ({diff}). "
                f"Nothing was changed. Pass --force to prepare it again with the new options.")
        print(f"{dataset.name}: already prepared, {stamp.get('files', 0)} files in {out} "
              f"(stamp {out / STAMP_NAME}). Pass --force to prepare it again.")
        return 0
    if args.force:
        protect = []  # every path the user passed is an input that --force must not delete
        for value in vars(args).values():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, Path):
                    protect.append(item)
        _remove_produced(job, protect)
    elif any((out / rel).exists() for rel in dataset.produces):
        job.log(f"{out} holds an unfinished preparation (no stamp); continuing: complete files "
                f"are kept, the rest is redone.")
        for rel in dataset.produces:  # half-written files of the interrupted run
            if (out / rel).is_dir():
                for stray in (out / rel).rglob("*" + PARTIAL_SUFFIX):
                    stray.unlink()
    t0 = time.monotonic()
    result = dataset.prepare(job)
    stamp = {
        "dataset": dataset.name,
        "format": STAMP_FORMAT,
        "prepared_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "archives": job.archives,
        "files": int(result["files"]),
        "counts": result.get("counts", {}),
        "options": options,
        "layout": dataset.layout,
    }
    write_stamp(out, stamp)
    counts = ", ".join(f"{k} {v:,}" for k, v in stamp["counts"].items())
    print(f"{dataset.name}: prepared {stamp['files']:,} files in {out} ({counts}) in "
          f"{time.monotonic() - t0:.1f} s; stamp {out / STAMP_NAME}")
    return 0


def run(dataset: Dataset, argv: Optional[list] = None) -> int:
    """Parse ``argv`` and prepare ``dataset``; return the exit code (0 done or already done,
    2 a problem explained on stderr, 130 interrupted)."""
    args = build_parser(dataset).parse_args(argv)
    try:
        return _execute(dataset, args)
    except DataScriptError as exc:
        sys.stdout.flush()
        print(paragraph(f"error: {exc}"), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("\ninterrupted: run the same command again to continue where it stopped.",
              file=sys.stderr)
        return 130


def split_count(total: int, reference_total: int, reference_part: int) -> int:
    """``reference_part`` when ``total == reference_total``, else the same proportion, rounded."""
    if total == reference_total:
        return reference_part
    return int(round(total * reference_part / reference_total))
