"""How `mcs dev` and the benches start and stop their child processes."""

import os
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from devstack import listen, serve, spawn, stop_process, temporal_server, with_temporal_ports
from settings import Settings
from tests.helpers import binary, free_port


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


def test_a_port_in_use_is_a_clear_error_and_port_0_takes_a_free_one() -> None:
    taken = listen(0)
    taken.listen()
    try:
        with pytest.raises(SystemExit, match="set MCS_API_PORT to another port, or to 0"):
            listen(taken.getsockname()[1])
    finally:
        taken.close()


async def test_serve_on_any_free_port_answers_at_the_url_it_yields() -> None:
    app = FastAPI()
    app.get("/ping")(lambda: {"ok": True})
    async with serve(app) as url, httpx.AsyncClient() as http:
        assert (await http.get(f"{url}/ping")).json() == {"ok": True}


def test_temporal_ports_of_0_are_chosen_and_set_ones_kept(tmp_path: Path) -> None:
    chosen = with_temporal_ports(Settings(data_dir=tmp_path, temporal_port=0, temporal_ui_port=9))
    assert chosen.temporal_port > 1024 and chosen.temporal_ui_port == 9


async def test_a_dev_server_that_cannot_start_says_why(tmp_path: Path) -> None:
    binary("temporal")
    (tmp_path / "temporal.db").mkdir()  # where its database file should be
    settings = Settings(data_dir=tmp_path, temporal_port=free_port(), temporal_ui_port=free_port())
    with pytest.raises(SystemExit) as error:
        async with temporal_server(settings):
            pass
    assert "the Temporal dev server exited with" in str(error.value)
    assert "unable to open database file" in str(error.value)  # the log's last lines say why


async def test_another_server_on_the_temporal_port_is_not_taken_for_ours(tmp_path: Path) -> None:
    taken = listen(0)
    taken.listen()
    port = taken.getsockname()[1]
    try:
        for grpc, ui, name in (
            (port, free_port(), "MCS_TEMPORAL_PORT"),
            (free_port(), port, "MCS_TEMPORAL_UI_PORT"),
        ):
            settings = Settings(data_dir=tmp_path, temporal_port=grpc, temporal_ui_port=ui)
            with pytest.raises(SystemExit, match=f"set {name} to another port"):
                async with temporal_server(settings):
                    pass
    finally:
        taken.close()


@pytest.mark.parametrize("lowered", [7, 0])
async def test_the_dev_server_runs_at_the_cpu_priority_set_and_stops_by_its_pid(
    tmp_path: Path, lowered: int
) -> None:
    """MCS_TEMPORAL_NICE lowers every thread of the server (it does the runs' work; the API,
    beside it, answers first), and the PID we hold is the server's own, stopped by it."""
    binary("temporal")
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    settings = Settings(
        data_dir=tmp_path, temporal_port=free_port(), temporal_ui_port=free_port(),
        temporal_nice=lowered,
    )  # fmt: skip
    async with temporal_server(settings) as server:
        assert Path(os.readlink(f"/proc/{server.pid}/exe")).name == "temporal"
        nices = thread_nices(server.pid)
        assert len(nices) > 1 and set(nices) == {min(ours + lowered, 19)}
    assert server.returncode is not None


def thread_nices(pid: int) -> list[int]:
    """The nice value of each thread of process `pid` (Linux: niceness is per thread)."""
    stats = [task / "stat" for task in Path(f"/proc/{pid}/task").iterdir()]
    return [int(stat.read_text().rsplit(")", 1)[1].split()[16]) for stat in stats]
