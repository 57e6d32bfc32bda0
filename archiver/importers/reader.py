"""A file's posts read in a second process: parsing, each version's raw JSON and its content digest are
done there, beside the writer, and reach it in batches through a bounded queue, so the two use both
cores and memory stays flat whatever the file's size. The reader only reads: everything it sends is
written by the caller's process, which alone holds the archive."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
from collections.abc import Callable, Iterator
from dataclasses import fields
from types import TracebackType
from typing import Any, TypeVar

from archiver.canonical import content_digest
from archiver.importers.filecapture import ImportFailed, batches
from archiver.models import Gone, Observation, PostDraft, VersionDraft

DEPTH = 2  # batches read ahead of the writer: the most the queue holds
POLL = 0.5  # seconds between looks at whether the reader is still there while waiting for a batch
# the reader is forked: it starts at once, with the importer's code and arguments, and never touches
# the parent's archive connection (it only reads the file and puts batches on the queue)
_CONTEXT = multiprocessing.get_context("fork")

T = TypeVar("T")
# produce(problems, advance): the file's observations; entries it cannot read are appended to
# `problems`, and `advance` is told of the progress units (bytes) read
Produce = Callable[[list[str], Callable[[int], object]], Iterator[Observation]]


class ReadInProcess:
    """`with ReadInProcess(produce, problems) as read:` iterates (progress units, batch) as `batches`
    gives them in the reader, extends `problems` as the reader meets them, and raises what stopped the
    reader (a file that cannot be read on: ImportFailed) after the last batch read before it."""

    def __init__(self, produce: Produce, problems: list[str]) -> None:
        self.problems = problems
        self._queue: Any = _CONTEXT.Queue(DEPTH)
        self._process = _CONTEXT.Process(target=_read, args=(produce, self._queue), name="import-reader",
                                         daemon=True)

    def __enter__(self) -> Iterator[tuple[int, Observation]]:
        self._process.start()
        return self._received()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._process.is_alive():  # the writer stopped first: what the reader has read is of no use
            self._process.terminate()
        self._process.join()
        self._queue.close()

    def _received(self) -> Iterator[tuple[int, Observation]]:
        while True:
            kind, problems, units, payload = self._get()
            self.problems.extend(problems)
            if kind == "batch":
                yield units, unpack(payload)
            elif kind == "failed":
                raise payload
            else:
                return

    def _get(self) -> tuple[str, list[str], int, Any]:
        while True:
            try:
                return self._queue.get(timeout=POLL)  # type: ignore[no-any-return]
            except queue.Empty:
                if self._process.is_alive():
                    continue
            try:  # ended: whatever it sent before is in the pipe already
                return self._queue.get_nowait()  # type: ignore[no-any-return]
            except queue.Empty:
                raise ImportFailed(f"the import's reader process ended without finishing "
                                   f"(exit code {self._process.exitcode})") from None


def _read(produce: Produce, out: Any) -> None:
    """The reader process: batches of observations, each version digested, then how the file ended.
    It ends when the importing process does, even killed: it would wait for the queue forever."""
    parent = os.getppid()
    problems: list[str] = []
    units = sent = 0

    def advance(n: int) -> None:
        nonlocal units
        units += n

    def send(kind: str, payload: Any) -> None:
        nonlocal units, sent
        while True:
            try:
                out.put((kind, problems[sent:], units, payload), timeout=POLL)
                break
            except queue.Full:
                if os.getppid() != parent:
                    os._exit(1)
        units, sent = 0, len(problems)

    try:
        for _, batch in batches(produce(problems, advance)):
            for post in batch.posts:
                for version in post.versions:  # digested here, beside the writer
                    version.content_sha256 = content_digest(version.title, version.text, version.extra)
            send("batch", pack(batch))
    except Exception as exc:
        try:
            pickle.dumps(exc)
        except Exception:  # sent as text when it cannot be sent as it is
            exc = ImportFailed(f"{type(exc).__name__}: {exc}")
        send("failed", exc)
    else:
        send("done", None)


_POST_FIELDS = tuple(f.name for f in fields(PostDraft) if f.name != "versions")
_VERSION_FIELDS = tuple(f.name for f in fields(VersionDraft))
Packed = tuple[list[tuple[tuple[Any, ...], list[tuple[Any, ...]]]], list[Gone], dict[str, str]]


def pack(batch: Observation) -> Packed:
    """A batch as tuples of its posts' and versions' fields: the writer unpickles them in less than half
    the time it takes for the dataclasses, and it is the one of the two processes with more to do."""
    return ([(tuple(getattr(post, name) for name in _POST_FIELDS),
              [tuple(getattr(version, name) for name in _VERSION_FIELDS) for version in post.versions])
             for post in batch.posts], batch.gone, batch.state)


def unpack(packed: Packed) -> Observation:
    posts, gone, state = packed
    return Observation(posts=[_made(PostDraft, _POST_FIELDS, values, versions=[
        _made(VersionDraft, _VERSION_FIELDS, version) for version in versions]) for values, versions in posts],
        gone=gone, state=state)


def _made(kind: type[T], names: tuple[str, ...], values: tuple[Any, ...], **more: Any) -> T:
    made = kind.__new__(kind)  # the fields as they were: these dataclasses do nothing more in __init__
    made.__dict__.update(zip(names, values, strict=True), **more)
    return made
