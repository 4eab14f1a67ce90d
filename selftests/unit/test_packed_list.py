"""PackedList: a big LIST kept compressed behaves as the list it replaces (issue 13)."""

from __future__ import annotations

import pytest

from opscheck.sources import packed
from opscheck.sources.packed import CHUNK_OBJECTS, PackedList, packed_if_big


def pods(n: int) -> list[dict]:
    return [
        {"metadata": {"name": f"p{i}", "namespace": f"ns{i % 4}"}, "spec": {"nodeName": f"n{i % 7}"}} for i in range(n)
    ]


def test_a_packed_list_reads_as_the_list_it_replaces() -> None:
    objects = pods(3 * CHUNK_OBJECTS + 5)
    listing = PackedList.pack(objects)
    assert len(listing) == len(objects) and list(listing) == objects and listing == objects
    assert listing[0] == objects[0] and listing[-1] == objects[-1] and listing[CHUNK_OBJECTS] == objects[CHUNK_OBJECTS]
    assert listing[3:9] == objects[3:9] and list(reversed(listing)) == objects[::-1]
    assert [{"x": 1}] + listing == [{"x": 1}, *objects] and listing + [{"x": 1}] == [*objects, {"x": 1}]
    assert bool(listing) and not PackedList.pack([]) and list(PackedList.pack([])) == []
    with pytest.raises(IndexError):
        listing[len(objects)]


def test_each_pass_hands_out_fresh_objects() -> None:
    """Nothing a check does to an object it was given changes what the next check reads."""
    listing = PackedList.pack(pods(3))
    first = next(iter(listing))
    first["metadata"]["name"] = "changed"
    assert listing[0]["metadata"]["name"] == "p0"


def test_in_namespaces_selects_without_decoding_other_chunks() -> None:
    objects = pods(5 * CHUNK_OBJECTS)
    listing = PackedList.pack(objects)
    view = listing.in_namespaces(["ns1", "ns3"])
    expected = [o for o in objects if o["metadata"]["namespace"] in {"ns1", "ns3"}]
    assert list(view) == expected and len(view) == len(expected) and view[-1] == expected[-1]
    assert list(reversed(view)) == expected[::-1]
    assert list(view.in_namespaces(["ns3", "ns0"])) == [o for o in expected if o["metadata"]["namespace"] == "ns3"]
    assert len(listing.in_namespaces(["elsewhere"])) == 0


def test_a_list_is_packed_only_from_its_threshold_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(packed.PACK_MIN_OBJECTS_VAR, "10")
    small, big = packed_if_big(iter(pods(9))), packed_if_big(iter(pods(25)))
    assert type(small) is list and small == pods(9)
    assert isinstance(big, PackedList) and big == pods(25)
    monkeypatch.setenv(packed.PACK_MIN_OBJECTS_VAR, "0")
    assert isinstance(packed_if_big(iter(pods(1))), PackedList)


def test_a_tuning_knob_that_is_not_a_whole_number_is_an_error_naming_it(monkeypatch) -> None:
    from opscheck.errors import DependencyError
    from opscheck.sources.tuning import int_setting

    monkeypatch.delenv("OPSCHECK_PAGE_SIZE", raising=False)
    assert int_setting("OPSCHECK_PAGE_SIZE", 250, 1, "objects per LIST page") == 250
    monkeypatch.setenv("OPSCHECK_PAGE_SIZE", "40")
    assert int_setting("OPSCHECK_PAGE_SIZE", 250, 1, "objects per LIST page") == 40
    for bad in ("0", "ten", "2.5"):
        monkeypatch.setenv("OPSCHECK_PAGE_SIZE", bad)
        with pytest.raises(DependencyError) as raised:
            int_setting("OPSCHECK_PAGE_SIZE", 250, 1, "objects per LIST page")
        assert (
            str(raised.value)
            == f"OPSCHECK_PAGE_SIZE={bad!r}: objects per LIST page must be a whole number of 1 or more"
        )
    monkeypatch.setenv(packed.PACK_MIN_OBJECTS_VAR, "-1")
    with pytest.raises(DependencyError, match="OPSCHECK_PACK_MIN_OBJECTS='-1': the objects from which a LIST"):
        packed.pack_min_objects()
