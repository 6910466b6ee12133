"""Storage of uploaded documents, content-addressed by sha256.

The type of a file comes from its first bytes (PDF, JPEG, PNG), never from its
name; the stored path comes from its sha256 and detected type only, so nothing
a user sends can choose where a file lands. Files are written atomically
(temporary file in the target folder, then ``os.replace``): a reader never sees
half a file, and the same content stored twice is one file.

Used by the CLI and by the HTTP portal (through ``cashback.documents``).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

DocumentType = Literal["pdf", "jpeg", "png"]

#: Magic numbers of the accepted types, checked against the first bytes.
_MAGIC: tuple[tuple[bytes, DocumentType], ...] = (
    (b"%PDF-", "pdf"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
)
MEDIA_TYPES: dict[DocumentType, str] = {"pdf": "application/pdf", "jpeg": "image/jpeg", "png": "image/png"}
EXTENSIONS: dict[DocumentType, str] = {"pdf": "pdf", "jpeg": "jpg", "png": "png"}
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class DocumentRejected(ValueError):
    """The upload cannot be accepted; ``code`` is one of empty, too_large, unsupported_type, bad_name."""

    def __init__(self, code: Literal["empty", "too_large", "unsupported_type", "bad_name"], reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StoredDocumentInfo:
    """What a valid content is, before (or without) storing it."""

    sha256: str
    size: int
    type: DocumentType

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.type]

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.type]


@dataclass(frozen=True, slots=True)
class StoredDocument:
    sha256: str
    size: int
    media_type: str
    path: Path
    #: False when the very same content was already stored (nothing written).
    created: bool = True


def detect_kind(content: bytes) -> DocumentType:
    """The type of a file from its first bytes; DocumentRejected for anything else."""
    for magic, kind in _MAGIC:
        if content.startswith(magic):
            return kind
    if not content:
        raise DocumentRejected("empty", "the file is empty")
    raise DocumentRejected("unsupported_type", f"the file is not a PDF, JPEG or PNG ({_what(content)})")


def _what(content: bytes) -> str:
    """A hint for the error message of an unsupported file."""
    if content.startswith(b"MZ"):
        return "it is a Windows program"
    if content.startswith(b"PK\x03\x04"):
        return "it is a ZIP archive or an Office document"
    if content.startswith(b"\x7fELF"):
        return "it is a program"
    try:
        content[:512].decode("utf-8")
    except UnicodeDecodeError:
        return "its content is of an unknown type, whatever its name"
    return "it is a text file, whatever its name"


def _size_text(n: int) -> str:
    mib = n / (1024 * 1024)
    return f"{n} bytes ({mib:.1f} MiB)" if mib >= 0.1 else f"{n} bytes"


class DocumentStore:
    """Files under ``root/ab/cd/<sha256>.<ext>``, written atomically, never overwritten."""

    def __init__(self, root: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.root = Path(root)
        self.max_bytes = max_bytes

    @property
    def limit_text(self) -> str:
        mib = self.max_bytes / (1024 * 1024)
        return f"{mib:g} MiB ({self.max_bytes} bytes)" if mib >= 1 else f"{self.max_bytes} bytes"

    def check_size(self, size: int) -> None:
        """DocumentRejected when a file of this size cannot be accepted (before reading it)."""
        if size <= 0:
            raise DocumentRejected("empty", "the file is empty")
        if size > self.max_bytes:
            raise DocumentRejected(
                "too_large", f"the file is {_size_text(size)}, larger than the limit of {self.limit_text}"
            )

    def validate(self, content: bytes) -> StoredDocumentInfo:
        """Check size and type without writing anything."""
        self.check_size(len(content))
        kind = detect_kind(content)
        return StoredDocumentInfo(sha256=hashlib.sha256(content).hexdigest(), size=len(content), type=kind)

    def path_for(self, info: StoredDocumentInfo) -> Path:
        return self.root / info.sha256[:2] / info.sha256[2:4] / f"{info.sha256}.{info.extension}"

    def store(self, content: bytes) -> StoredDocument:
        """Validate and store; the same content twice is stored once."""
        info = self.validate(content)
        target = self.path_for(info)
        if target.is_file() and target.stat().st_size == info.size:
            return StoredDocument(info.sha256, info.size, info.media_type, target, created=False)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".upload-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp_name, 0o640)
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)
        return StoredDocument(info.sha256, info.size, info.media_type, target, created=True)

    def find(self, sha256: str) -> StoredDocument | None:
        """The stored file of a sha256, or None."""
        if not _SHA256.match(sha256):
            return None
        for kind, ext in EXTENSIONS.items():
            path = self.root / sha256[:2] / sha256[2:4] / f"{sha256}.{ext}"
            if path.is_file():
                return StoredDocument(sha256, path.stat().st_size, MEDIA_TYPES[kind], path, created=False)
        return None

    def remove(self, stored: StoredDocument) -> None:
        """Undo a ``store`` that created a file (when the domain refused the upload)."""
        if stored.created and stored.path.is_relative_to(self.root):
            stored.path.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_upload_name(filename: str) -> None:
    """A sent file's name must be a plain name: no folders, no '..', no control characters.

    The stored name never comes from it (files are stored by their sha256); a name with a path in
    it means a broken or hostile client, and it is refused rather than silently trimmed."""
    if not filename.strip():
        raise DocumentRejected("bad_name", "the file has no name")
    if "/" in filename or "\\" in filename or filename.strip() in (".", ".."):
        raise DocumentRejected("bad_name", f"file name {filename!r} must be a plain name, without folders")
    if any(ord(c) < 32 or ord(c) == 127 for c in filename):
        raise DocumentRejected("bad_name", f"file name {filename!r} contains control characters")
    if len(filename) > 255:
        raise DocumentRejected("bad_name", "the file name is longer than 255 characters")
