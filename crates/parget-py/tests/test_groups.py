"""Groups: files that must arrive together, reported once every member ended."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import AsyncIterator, Callable, List, Union

import pytest

import parget
from conftest import Testbed


def slow(server: Testbed, name: str) -> str:
    """~10 s at its rate: a group that waited for it to finish would show."""
    return server.url(f"/groups/{name}", size=2_560_000, rate=256_000)


def test_a_group_is_one_result_with_its_members_in_order(testbed: Testbed, tmp_path: Path) -> None:
    # The first member is the slowest: the order is the group's, not the
    # order the members ended in.
    members = [
        (testbed.url("/groups/unit/a", size=200_000, latency_ms=300), tmp_path / "a"),
        parget.Request(testbed.url("/groups/unit/b", size=100), tmp_path / "b", tag="sig"),
        (testbed.url("/groups/unit/c", size=300), tmp_path / "c"),
    ]
    group = parget.Group(members, tag={"unit": 7})
    assert len(group) == 3 and group.policy == "cancel" and group.tag == {"unit": 7}
    assert [r.path for r in group.requests] == [str(tmp_path / n) for n in "abc"]
    singles = [(testbed.url(f"/groups/single{i}", size=10 + i), tmp_path / f"s{i}") for i in range(3)]
    results = parget.download_many([singles[0], group, *singles[1:]])
    assert len(results) == 4
    groups = [r for r in results if isinstance(r, parget.GroupResult)]
    assert len(groups) == 1
    unit = groups[0]
    assert unit.ok and unit.tag == {"unit": 7} and len(unit) == 3
    assert [Path(r.path).name for r in unit.results] == ["a", "b", "c"]
    assert unit.results[1].tag == "sig"
    for result in unit.results:
        assert Path(result.path).read_bytes() == testbed.body(result.url)
    assert sorted(Path(r.path).name for r in results if isinstance(r, parget.DownloadResult)) == ["s0", "s1", "s2"]


def test_a_failed_member_cancels_the_others_and_removes_their_part_files(
    start_testbed: Callable[..., Testbed], tmp_path: Path
) -> None:
    server = start_testbed()
    group = parget.Group(
        [
            (slow(server, "cancel/big"), tmp_path / "big"),
            # Fails once the big one is streaming (its answer waits 500 ms).
            (server.url("/groups/cancel/missing", status=404, latency_ms=500), tmp_path / "missing"),
        ]
    )
    (result,) = parget.download_many([group], retries=0, split=1)
    assert isinstance(result, parget.GroupResult)
    assert not result.ok
    big, missing = result.results
    assert isinstance(missing.error, parget.HTTPStatusError) and missing.error.status == 404
    assert isinstance(big.error, parget.DownloadError) and "cancelled" in str(big.error)
    # The group is useless without every member: nothing of it is kept.
    assert not (tmp_path / "big").exists()
    assert not (tmp_path / "big.part").exists()
    assert server.path_stats("/groups/cancel/big")["body_bytes"] < 2_560_000


def test_with_policy_finish_the_others_complete(testbed: Testbed, tmp_path: Path) -> None:
    big = testbed.url("/groups/finish/big", size=600_000, rate=600_000)
    group = parget.Group(
        [(big, tmp_path / "big"), (testbed.url("/groups/finish/missing", status=404), tmp_path / "missing")],
        policy="finish",
    )
    (result,) = parget.download_many([group], retries=0, split=1)
    assert isinstance(result, parget.GroupResult)
    assert not result.ok
    done, missing = result.results
    assert isinstance(missing.error, parget.HTTPStatusError)
    assert done.ok and done.size == 600_000
    assert (tmp_path / "big").read_bytes() == testbed.body(testbed.url("/groups/finish/big", size=600_000))


@pytest.mark.asyncio
async def test_groups_from_an_async_source(testbed: Testbed, tmp_path: Path) -> None:
    async def items() -> AsyncIterator[Union[parget.Group, parget.RequestLike]]:
        for page in range(3):
            await asyncio.sleep(0)
            yield parget.Group(
                [(testbed.url(f"/groups/async/{page}/{n}", size=100 * (page + 1)), tmp_path / f"{page}{n}") for n in "xy"],
                tag=page,
            )
            yield testbed.url(f"/groups/async/{page}/extra", size=5), tmp_path / f"{page}extra"

    groups: List[parget.GroupResult] = []
    singles: List[parget.DownloadResult] = []
    async for result in parget.adownload_many(items()):
        if isinstance(result, parget.GroupResult):
            groups.append(result)
        else:
            singles.append(result)
    assert sorted(g.tag for g in groups) == [0, 1, 2]  # type: ignore[type-var]
    assert all(g.ok and [Path(r.path).name[1] for r in g.results] == ["x", "y"] for g in groups)
    assert len(singles) == 3 and all(r.ok for r in singles)


def test_an_empty_group_ends_ok_at_once(tmp_path: Path) -> None:
    (result,) = parget.download_many([parget.Group([], tag="nothing")])
    assert isinstance(result, parget.GroupResult)
    assert result.ok and result.results == [] and result.tag == "nothing"


def test_bad_groups_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match='"cancel".*"finish"'):
        parget.Group([], policy="all")
    inner = parget.Group([])
    with pytest.raises(TypeError, match="cannot hold another group"):
        parget.Group([inner])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="not one string"):
        parget.Group("http://127.0.0.1/x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"\(url, path\) pair"):
        parget.Group([42])  # type: ignore[list-item]
