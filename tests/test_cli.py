"""The command line as an operator uses it: demo, audit verify on a live and a tampered
database (a real SQLite file, separate processes)."""

import json
import os
import socket
import sqlite3
import subprocess
import sys

import pytest

from server.kernel.config import load_settings


def shouzhen(data_dir, *args):
    return subprocess.run([sys.executable, "-m", "server", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "SHOUZHEN_PORT": "8123"})


def test_demo_prints_two_links_and_audit_verify_passes_then_fails_when_tampered(tmp_path):
    demo = shouzhen(tmp_path, "demo")
    assert demo.returncode == 0, demo.stderr
    links = [line.split()[-1] for line in demo.stdout.splitlines() if "/join#" in line]
    assert len(links) == 2 and all(link.startswith("http://127.0.0.1:8123/join#")
                                   for link in links)
    ok = shouzhen(tmp_path, "audit", "verify")
    assert ok.returncode == 0 and "intact" in ok.stdout

    with sqlite3.connect(tmp_path / "shouzhen.sqlite3") as db:
        db.execute("UPDATE audit_log SET actor_id = 'mallory' WHERE seq = 2")
    broken = shouzhen(tmp_path, "audit", "verify")
    assert broken.returncode == 1
    assert "BROKEN at entry 2" in broken.stderr


def test_a_second_demo_reuses_the_demo_physician(tmp_path):
    assert shouzhen(tmp_path, "demo").returncode == 0
    second = shouzhen(tmp_path, "demo")
    assert second.returncode == 0, second.stderr


def serving_line(data_dir, port, **env):
    """Start `shouzhen serve`, return its "serving" log record, then stop it (SIGTERM)."""
    server = subprocess.Popen(
        [sys.executable, "-m", "server", "--data-dir", str(data_dir), "serve",
         "--port", str(port)], stderr=subprocess.PIPE, text=True,
        env={**os.environ, **env})
    try:
        for line in server.stderr:
            if '"serving"' in line:
                return json.loads(line)
        raise AssertionError(f"the server exited ({server.wait()}) without serving")
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_serve_runs_on_uvloop_unless_told_otherwise(tmp_path):
    assert serving_line(tmp_path, 8124)["event_loop"] == "uvloop"
    assert serving_line(tmp_path, 8124, SHOUZHEN_EVENT_LOOP="asyncio")["event_loop"] == "asyncio"


def test_what_start_up_built_is_frozen_out_of_the_garbage_collector(tmp_path):
    """Full collections walk only what consults create: start-up's objects (hundreds of
    thousands) are in the permanent generation once the server serves."""
    assert serving_line(tmp_path, 8124)["gc_frozen_objects"] > 100_000


def test_an_unknown_event_loop_is_refused_by_name():
    with pytest.raises(ValueError, match="SHOUZHEN_EVENT_LOOP: one of uvloop, asyncio"):
        load_settings({"SHOUZHEN_EVENT_LOOP": "trio"})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def demo_links(data_dir, *args) -> list[str]:
    demo = shouzhen(data_dir, "demo", *args)  # SHOUZHEN_PORT=8123 in its environment
    assert demo.returncode == 0, demo.stderr
    return [line.split()[-1] for line in demo.stdout.splitlines() if "/join#" in line]


def test_demo_links_name_the_port_the_running_server_was_given(tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "server", "--data-dir", str(tmp_path), "serve", "--port",
         str(port)], stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        for line in server.stderr:
            if '"serving"' in line:
                break
        else:
            raise AssertionError(f"the server exited ({server.wait()}) without serving")
        links = demo_links(tmp_path)
        assert len(links) == 2 and all(
            link.startswith(f"http://127.0.0.1:{port}/join#") for link in links), links
        # Told otherwise on its command line, the demo believes its command line.
        assert all(link.startswith("https://192.168.1.20:8443/join#") for link in demo_links(
            tmp_path, "--public-url", "https://192.168.1.20:8443/"))
        assert all(link.startswith("http://127.0.0.1:8125/join#")
                   for link in demo_links(tmp_path, "--port", "8125"))
    finally:
        server.terminate()
        server.wait(timeout=30)
    # Stopped, it no longer names an address: the settings do again.
    assert not (tmp_path / "serving.json").exists()
    assert all(link.startswith("http://127.0.0.1:8123/join#") for link in demo_links(tmp_path))


def test_a_killed_server_s_address_is_not_believed(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    (tmp_path / "serving.json").write_text(json.dumps(
        {"base_url": "http://127.0.0.1:9999", "pid": int(gone.stdout)}))
    assert all(link.startswith("http://127.0.0.1:8123/join#") for link in demo_links(tmp_path))
