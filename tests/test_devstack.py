"""How `mcs dev` and the benches start and stop their child processes."""

import os
from pathlib import Path

from devstack import spawn, stop_process


def test_a_child_gets_its_own_process_group_but_shares_our_session(tmp_path: Path) -> None:
    """Its own group: the terminal's Ctrl-C reaches only us, and we can kill its group. Our
    session: Linux schedules each session as one group, so a busy child in a session of its own
    would get as much CPU as all of ours together and starve the API of wake-ups."""
    child = spawn(["sleep", "30"], tmp_path / "sleep.log")
    try:
        assert os.getpgid(child.pid) == child.pid != os.getpgid(0)
        assert os.getsid(child.pid) == os.getsid(0)
        assert os.readlink(f"/proc/{child.pid}/fd/0") == os.devnull
    finally:
        stop_process(child)
    assert child.returncode is not None
