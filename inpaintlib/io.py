"""Files in and out, safely: atomic writes with clear errors, and loaders that say what is wrong.

Taught in the intro chapter's appendix (the Trainer's checkpoints) and used by every module
that writes a file: images and masks, model files, checkpoints, CSV and JSON results.

* **Atomic writes.** :func:`atomic_write` (and :func:`save_torch`, :func:`save_image`,
  :func:`write_text`) write to ``<name>.tmp`` in the destination's folder, flush it to disk
  and rename it over the destination. A reader never sees half a file, and a failed write —
  full disk, read-only file system, file-size limit, Ctrl-C — leaves the previous file as
  it was and removes the temporary. (A process killed with ``kill -9`` cannot clean up: its
  ``.tmp`` stays until the next write of the same file replaces it; the destination is intact.)
* **Clear errors.** A failed write raises :class:`WriteError` (an :class:`OSError`) whose
  message names the file and the cause in words: the disk is full, the file system is
  read-only, a parent is a file and not a folder, the destination is a folder.
* **Safe reads.** :func:`load_torch` reads PyTorch files with ``weights_only=True`` and turns
  every failure (empty, text, a plain pickle, truncated, pickled code) into a
  :class:`ValueError` naming the file — never torch's advice to unpickle with
  ``weights_only=False``. :func:`state_mismatch` compares a state dict with a model's before
  anything is copied, so a file that does not fit is rejected whole.
"""
from __future__ import annotations

import errno
import os
import pickle
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Union

__all__ = [
    "WriteError",
    "describe_os_error",
    "check_output_path",
    "ensure_folder",
    "atomic_write",
    "appending",
    "write_text",
    "save_torch",
    "save_image",
    "image_format",
    "load_torch",
    "state_mismatch",
]

PathLike = Union[str, os.PathLike]

_REASONS = {
    errno.ENOSPC: "the disk is full (no space left on the device); free some space or write somewhere else",
    errno.EFBIG: ("the file is larger than this process may write (the file-size limit, `ulimit -f`, "
                  "or the file system's largest file); raise the limit or write somewhere else"),
    errno.EROFS: "the file system is read-only; write somewhere else",
    errno.EACCES: "permission denied; write to a folder you may write to",
    errno.EPERM: "the operation is not permitted; write to a folder you may write to",
    errno.EISDIR: "it is a folder; give a file name",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.ENOENT: "the folder does not exist",
    errno.ENAMETOOLONG: "the name is too long",
}
if hasattr(errno, "EDQUOT"):
    _REASONS[errno.EDQUOT] = "the disk quota is exceeded; free some space or write somewhere else"


def describe_os_error(err: BaseException) -> str:
    """The cause of an :class:`OSError` in words (``"the disk is full (...)"``), or its text."""
    code = getattr(err, "errno", None)
    if code in _REASONS:
        return _REASONS[code]
    text = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return text


class WriteError(OSError):
    """A file could not be written. ``str(err)`` names the file and the cause; ``err.filename``
    is the file; ``err.errno`` is the cause's error number (when there is one)."""

    def __init__(self, path: PathLike, cause: Union[BaseException, str]):
        self.path = Path(path)
        reason = cause if isinstance(cause, str) else describe_os_error(cause)
        code = None if isinstance(cause, str) else getattr(cause, "errno", None)
        super().__init__(code, reason)
        self.filename = str(self.path)
        self.reason = reason
        self.message = f"cannot write {self.path}: {reason}"

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # picklable (multiprocessing, pytest-xdist)
        return (WriteError, (self.path, self.reason))


def check_output_path(path: PathLike, example: Optional[str] = None) -> Path:
    """Check, before any work, that ``path`` can be a file: it is not a folder and no existing
    parent of it is a file. Raises :class:`WriteError` naming what is in the way (``example``:
    a file name to suggest inside a folder, e.g. ``"filled.png"``)."""
    path = Path(path)
    if path.is_dir():
        raise WriteError(path, "it is a folder; give a file name" +
                         (f" such as {path / example}" if example else " inside it"))
    for parent in path.parents:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise WriteError(path, f"{parent} is a file, not a folder")
            break
    return path


def ensure_folder(folder: PathLike) -> Path:
    """``mkdir -p folder`` with a :class:`WriteError` naming the folder when it cannot be made."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError as err:
        raise WriteError(folder, f"{err.filename or folder} is a file, not a folder") from err
    except NotADirectoryError as err:
        blocker = next((p for p in [folder, *folder.parents] if p.exists() and not p.is_dir()), None)
        raise WriteError(folder, f"{blocker} is a file, not a folder" if blocker else describe_os_error(err)) from err
    except OSError as err:
        raise WriteError(folder, err) from err
    return folder


def _tmp_path(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:  # pragma: no cover - nothing more to do; the original error is raised
        pass


def _open_tmp(tmp: Path, mode: str, encoding: Optional[str], newline: Optional[str]):
    """Open the temporary file (a seam for tests that simulate a read-only or full disk)."""
    return open(tmp, mode, encoding=encoding, newline=newline)


@contextmanager
def atomic_write(path: PathLike, mode: str = "wb", *, encoding: Optional[str] = None,
                 newline: Optional[str] = None, fsync: bool = True) -> Iterator[Any]:
    """``with atomic_write(path) as f: f.write(...)``: write ``<path>.tmp`` in the same folder,
    flush it (and ``fsync`` it), then rename it over ``path``.

    Parent folders are created. On any failure — in the block or in the write itself — the
    temporary is removed and ``path`` is left as it was; an :class:`OSError` becomes a
    :class:`WriteError` naming ``path`` and the cause, anything else is re-raised as it is.
    """
    if "w" not in mode:
        raise ValueError(f"atomic_write writes a new file: mode must contain 'w', got {mode!r}")
    path = check_output_path(path)
    ensure_folder(path.parent)
    tmp = _tmp_path(path)
    try:
        f = _open_tmp(tmp, mode, encoding, newline)
    except OSError as err:
        _remove(tmp)
        raise WriteError(path, err) from err
    try:
        with f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except WriteError:
        _remove(tmp)
        raise
    except OSError as err:
        _remove(tmp)
        raise WriteError(path, err) from err
    except BaseException:
        _remove(tmp)
        raise


@contextmanager
def appending(path: PathLike, *, encoding: Optional[str] = None, newline: Optional[str] = None) -> Iterator[Any]:
    """Append text to ``path``; if the append fails, cut the file back to its previous length
    (no half-written line stays) and raise :class:`WriteError`. For logs that grow a row at a
    time, where rewriting the whole file for every row would cost too much."""
    path = Path(path)
    ensure_folder(path.parent)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        size = None
    except OSError as err:
        raise WriteError(path, err) from err
    try:
        with open(path, "a", encoding=encoding, newline=newline) as f:
            yield f
    except BaseException as err:
        try:
            if size is None:
                _remove(path)
            else:
                os.truncate(path, size)
        except OSError:  # pragma: no cover - the original error matters more
            pass
        if isinstance(err, OSError) and not isinstance(err, WriteError):
            raise WriteError(path, err) from err
        raise


def write_text(path: PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; returns the path."""
    with atomic_write(path, "w", encoding=encoding, newline="") as f:
        f.write(text)
    return Path(path)


class _RecordingWriter:
    """A file wrapper for ``torch.save`` that remembers the :class:`OSError` of a failed write:
    torch reports it as ``[enforce fail at inline_container.cc ...]``, which says nothing."""

    def __init__(self, f):
        self.f = f
        self.error: Optional[OSError] = None

    def write(self, data):
        try:
            return self.f.write(data)
        except OSError as err:
            self.error = err
            raise

    def flush(self):
        return self.f.flush()


def save_torch(obj: Any, path: PathLike) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (see :func:`atomic_write`); returns the path.
    A full disk or a file-size limit raises :class:`WriteError` naming ``path``."""
    import torch

    path = Path(path)
    with atomic_write(path, "wb") as f:
        w = _RecordingWriter(f)
        try:
            torch.save(obj, w)
        except RuntimeError as err:
            if w.error is not None:
                raise WriteError(path, w.error) from err
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise WriteError(path, f"torch.save failed ({first})") from err
    return path


def image_format(path: PathLike) -> str:
    """The Pillow format for ``path``'s extension (``.png`` → ``"PNG"``); a :class:`ValueError`
    naming the file and the usual extensions when Pillow has none for it."""
    from PIL import Image

    path = Path(path)
    ext = path.suffix.lower()
    fmt = Image.registered_extensions().get(ext)
    if fmt is None or fmt not in Image.SAVE:
        what = f"extension {ext!r}" if ext else "no file extension"
        raise ValueError(f"cannot write image {path}: {what} is not an image format Pillow writes; "
                         f"end the name with .png, .jpg, .bmp, .tif or .webp")
    return fmt


def save_image(image, path: PathLike, format: Optional[str] = None, **params) -> Path:
    """Save a PIL image to ``path`` atomically; the format comes from the extension unless
    given. The destination is checked first (a folder, a parent that is a file, an unknown
    extension are errors naming it)."""
    path = check_output_path(path)
    fmt = format or image_format(path)
    with atomic_write(path, "wb") as f:
        image.save(f, format=fmt, **params)
    return path


# ----------------------------------------------------------------------------- reading

_TORCH_ADVICE = ("weights_only", "Weights only load failed")


def _head(path: Path, n: int = 16) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def _load_failure(path: Path, err: BaseException) -> str:
    """Why ``torch.load`` failed, in words, without torch's ``weights_only=False`` advice."""
    if path.is_dir():
        return "it is a folder, not a file"
    head = _head(path)
    if not head:
        return "the file is empty"
    if isinstance(err, pickle.UnpicklingError) and "Weights only load failed" in str(err):
        detail = str(err).split("WeightsUnpickler error:", 1)[-1].strip().splitlines()
        detail = next((line.strip() for line in detail if line.strip()), "")
        if head.startswith(b"PK"):
            return (f"it holds pickled Python objects besides tensors ({detail}), which a safe load "
                    f"refuses; it was not written by inpaintlib")
        return "it is a plain Python pickle, not a PyTorch file" if head[:1] == b"\x80" \
            else "it is not a PyTorch file"
    if head.startswith(b"PK"):
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        return f"the PyTorch file is truncated or damaged ({first})"
    if head[:1] == b"\x80":
        return "it is a plain Python pickle, not a PyTorch file"
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return f"it is a text file, not a PyTorch file: it starts with {head.decode('ascii')!r}"
    return "it is not a PyTorch file"


@contextmanager
def quiet_load() -> Iterator[None]:
    """Silence torch's warning about a pickle protocol while a foreign file is tried: the
    error that follows (or the result) says everything."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*pickle protocol.*")
        yield


def load_torch(path: PathLike, what: str = "PyTorch file", map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with errors that name the file.

    A missing file raises :class:`FileNotFoundError` (``"<what> not found: <path>"``); a folder,
    an empty, text, pickle, truncated or otherwise unreadable file a :class:`ValueError`
    (``"<path> is not a readable <what>: <why>"``).
    """
    import torch

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {path}")
    if path.is_dir():
        raise ValueError(f"{path} is not a readable {what}: it is a folder")
    try:
        with quiet_load():
            return torch.load(path, map_location=map_location, weights_only=True)
    except OSError as err:
        raise ValueError(f"{path} is not a readable {what}: {describe_os_error(err)}") from err
    except Exception as err:  # torch raises many types for a foreign or broken file
        raise ValueError(f"{path} is not a readable {what}: {_load_failure(path, err)}") from err


def _shape(t) -> tuple:
    return tuple(getattr(t, "shape", ()))


def state_mismatch(expected: Mapping[str, Any], found: Mapping[str, Any], strict: bool = True,
                   limit: int = 4) -> list[str]:
    """What keeps ``found`` (a state dict from a file) from loading into a model whose state
    dict is ``expected``: missing and unexpected keys (only with ``strict``) and wrong shapes.
    An empty list means it fits. Dtypes may differ (``load_state_dict`` casts)."""
    import torch

    problems = []
    if not isinstance(found, Mapping):
        return [f"it holds a {type(found).__name__}, not a state dict"]
    bad_values = [k for k, v in found.items() if not isinstance(v, torch.Tensor)]
    if bad_values:
        problems.append(f"entries that are not tensors: {', '.join(map(str, bad_values[:limit]))}")
    if strict:
        missing = [k for k in expected if k not in found]
        unexpected = [k for k in found if k not in expected]
        if missing:
            more = f" … ({len(missing)} in all)" if len(missing) > limit else ""
            problems.append(f"missing keys {', '.join(missing[:limit])}{more}")
        if unexpected:
            more = f" … ({len(unexpected)} in all)" if len(unexpected) > limit else ""
            problems.append(f"unexpected keys {', '.join(unexpected[:limit])}{more}")
    wrong = [f"{k}: file {_shape(found[k])} vs model {_shape(v)}" for k, v in expected.items()
             if k in found and isinstance(found[k], torch.Tensor) and _shape(found[k]) != _shape(v)]
    if wrong:
        more = f" … ({len(wrong)} in all)" if len(wrong) > limit else ""
        problems.append(f"wrong shapes {'; '.join(wrong[:limit])}{more}")
    return problems
