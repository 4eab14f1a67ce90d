"""A big LIST kept compressed, decoded a chunk at a time on each pass (issue 13).

At 50k pods a LIST held as Python objects costs hundreds of MB for the whole run (about
3.7 KB a projected pod, 2 KB an event, 3 KB a pod's metrics), although each check only walks
it once and keeps a few rows. A PackedList keeps the projected objects as zlib-compressed
JSON chunks (about 130 bytes a pod) and decodes one chunk at a time while a check iterates,
so a pass holds one chunk's objects, never the LIST. Each pass decodes again: a check that
needs the objects several times walks them once into what it needs (an index, a grouping).

It is an immutable Sequence: len(), iteration, indexing and `+` work as on the list it
replaces, and objects handed out are fresh copies (mutating one changes nothing cached).
`in_namespaces` is a view that decodes only the chunks holding selected objects.
"""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

import orjson

from opscheck.sources.tuning import int_setting

Obj = dict[str, Any]

# Objects per chunk: one chunk's decoded objects are what a pass holds (64 pods: ~1 MB).
CHUNK_OBJECTS = 64
# A LIST of fewer objects stays a plain list: a small cluster (the demo, a CI cluster) keeps
# the speed of objects decoded once; OPSCHECK_PACK_MIN_OBJECTS=0 packs every LIST.
PACK_MIN_OBJECTS_VAR = "OPSCHECK_PACK_MIN_OBJECTS"
PACK_MIN_OBJECTS = 500


def pack_min_objects() -> int:
    # read at each LIST, not at import: a process forked after importing opscheck sees its own
    return int_setting(PACK_MIN_OBJECTS_VAR, PACK_MIN_OBJECTS, 0, "the objects from which a LIST is kept packed")


class PackedList(Sequence[Obj]):
    """Objects of one LIST in compressed chunks; `selection` (indices, ascending) narrows it
    to some of them without copying the chunks."""

    __slots__ = ("_chunks", "_namespaces", "_selection")

    def __init__(self, chunks: list[bytes], namespaces: list[str | None], selection: array | None = None) -> None:
        self._chunks = chunks
        self._namespaces = namespaces  # of every packed object, by index: in_namespaces needs no decoding
        self._selection = selection

    @classmethod
    def pack(cls, objects: Iterable[Obj]) -> PackedList:
        chunks: list[bytes] = []
        namespaces: list[str | None] = []
        interned: dict[str, str] = {}  # one string per namespace name, however many objects
        chunk: list[Obj] = []
        for obj in objects:
            ns = (obj.get("metadata") or {}).get("namespace")
            namespaces.append(interned.setdefault(ns, ns) if ns is not None else None)
            chunk.append(obj)
            if len(chunk) == CHUNK_OBJECTS:
                chunks.append(zlib.compress(orjson.dumps(chunk), 1))
                chunk = []
        if chunk:
            chunks.append(zlib.compress(orjson.dumps(chunk), 1))
        return cls(chunks, namespaces)

    # -- the run cache's file (xdist workers read another process's LIST without decoding it)
    def to_parts(self) -> tuple[Obj, list[bytes]]:
        """A JSON-able header and the compressed chunks (a view is stored as what it selects)."""
        if self._selection is not None:
            return PackedList.pack(self).to_parts()
        return {"objects": len(self._namespaces), "namespaces": self._namespaces}, self._chunks

    @classmethod
    def from_parts(cls, header: Obj, chunks: list[bytes]) -> PackedList:
        namespaces = header["namespaces"]
        if len(namespaces) != header["objects"] or -(-header["objects"] // CHUNK_OBJECTS) != len(chunks):
            raise ValueError(f"{header['objects']} objects do not fit {len(chunks)} chunks")
        return cls(chunks, namespaces)

    # -- views
    def in_namespaces(self, wanted: Iterable[str]) -> PackedList:
        """The objects whose namespace is one of `wanted` (no chunk is decoded)."""
        wanted = set(wanted)
        indices = range(len(self._namespaces)) if self._selection is None else self._selection
        return PackedList(
            self._chunks, self._namespaces, array("l", (i for i in indices if self._namespaces[i] in wanted))
        )

    # -- Sequence
    def _chunk(self, number: int) -> list[Obj]:
        return orjson.loads(zlib.decompress(self._chunks[number]))

    def __len__(self) -> int:
        return len(self._namespaces) if self._selection is None else len(self._selection)

    def __iter__(self) -> Iterator[Obj]:
        if self._selection is None:
            for number in range(len(self._chunks)):
                yield from self._chunk(number)
        else:
            yield from self._selected(iter(self._selection))

    def __reversed__(self) -> Iterator[Obj]:
        # Sequence's own would decode a whole chunk for each object
        if self._selection is None:
            for number in reversed(range(len(self._chunks))):
                yield from reversed(self._chunk(number))
        else:
            yield from self._selected(reversed(self._selection))

    def _selected(self, indices: Iterator[int]) -> Iterator[Obj]:
        number, objects = -1, []
        for index in indices:
            if index // CHUNK_OBJECTS != number:
                number = index // CHUNK_OBJECTS
                objects = self._chunk(number)
            yield objects[index % CHUNK_OBJECTS]

    @overload
    def __getitem__(self, index: int) -> Obj: ...
    @overload
    def __getitem__(self, index: slice) -> list[Obj]: ...
    def __getitem__(self, index: int | slice) -> Obj | list[Obj]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("PackedList index out of range")
        if self._selection is not None:
            index = self._selection[index]
        return self._chunk(index // CHUNK_OBJECTS)[index % CHUNK_OBJECTS]

    def __add__(self, other: Iterable[Obj]) -> list[Obj]:
        return [*self, *other]

    def __radd__(self, other: Iterable[Obj]) -> list[Obj]:
        return [*other, *self]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (list, tuple, PackedList)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable-looking, like the list it replaces

    def __repr__(self) -> str:
        return f"<PackedList of {len(self)} objects in {len(self._chunks)} chunks>"


def packed_if_big(objects: Iterable[Obj]) -> list[Obj] | PackedList:
    """The LIST as a plain list while it is small, else packed (see pack_min_objects)."""
    threshold = pack_min_objects()
    if threshold == 0:
        return PackedList.pack(objects)
    head: list[Obj] = []
    iterator = iter(objects)
    for obj in iterator:
        head.append(obj)
        if len(head) >= threshold:
            return PackedList.pack(_chain(head, iterator))
    return head


def _chain(head: list[Obj], rest: Iterator[Obj]) -> Iterator[Obj]:
    # hands the head over object by object, so it is not kept whole beside the packed chunks
    head.reverse()
    while head:
        yield head.pop()
    yield from rest
