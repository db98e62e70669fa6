"""The interpreter exits cleanly while parget still works: a source still
being read on parget's threads, asyncio futures still to complete, a daemon
thread in a blocking call. Each case of exit_cases.py runs in child
processes, several times (the crashes it guards against were races), and
must exit with status 0 after printing what it did."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from conftest import Testbed

HERE = Path(__file__).resolve().parent

CASES = {
    # case: (what it prints last, runs)
    "source_timed_out": ("timed out, exiting", 10),
    "source_left": ("left after 3", 10),
    "daemon_source": ("main returns", 10),
    "one_timed_out": ("timed out, exiting", 20),
    "many_timed_out": ("timed out, exiting", 20),
    "many_done": ("done 20", 20),
}


def run_children(case: str, runs: int, base: str, out: Path, env: Dict[str, str]) -> List[subprocess.CompletedProcess[str]]:
    """Runs `runs` children of `case`, eight at a time."""
    done: List[subprocess.CompletedProcess[str]] = []
    for start in range(0, runs, 8):
        children = []
        for i in range(start, min(start + 8, runs)):
            directory = out / f"{case}-{i}"
            directory.mkdir()
            args = [sys.executable, str(HERE / "exit_cases.py"), case, base, str(directory)]
            children.append(
                (args, subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
            )
        for args, child in children:
            stdout, stderr = child.communicate()
            done.append(subprocess.CompletedProcess(args, child.returncode, stdout, stderr))
    return done


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_interpreter_exits_cleanly_while_parget_works(
    case: str, testbed: Testbed, tmp_path: Path, python_env: Dict[str, str]
) -> None:
    expected, runs = CASES[case]
    results = run_children(case, runs, testbed.base, tmp_path, python_env)
    failed = [r for r in results if r.returncode != 0 or r.stdout.strip().splitlines()[-1:] != [expected]]
    assert not failed, f"{len(failed)}/{runs} runs of {case} failed; first: status {failed[0].returncode}\n{failed[0].stdout}\n{failed[0].stderr}"
    assert all("Fatal Python error" not in r.stderr for r in results)


def test_a_call_made_once_the_interpreter_exits_is_refused(
    testbed: Testbed, tmp_path: Path, python_env: Dict[str, str]
) -> None:
    code = (
        "import atexit, sys, parget\n"
        "atexit._run_exitfuncs()\n"
        "try:\n"
        "    parget.download(sys.argv[1], sys.argv[2])\n"
        "except RuntimeError as e:\n"
        "    print('refused:', e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, testbed.url("/exit/late", size=10), str(tmp_path / "late")],
        capture_output=True,
        text=True,
        env=python_env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("refused: parget cannot start downloads: the interpreter is exiting"), done.stdout
    assert not (tmp_path / "late").exists()
