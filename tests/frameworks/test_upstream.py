"""The echo service the framework examples call, run the way a reader would run it."""

from __future__ import annotations

import re
import signal
import sys
from pathlib import Path

import httpx

from .support import read_text, running, wait_for


def test_the_echo_service_runs_as_a_script_until_interrupted(tmp_path: Path) -> None:
    log = tmp_path / "upstream.log"
    argv = [sys.executable, "-W", "error", "-m", "examples.upstream", "--port", "0"]
    with running(argv, log=log, stop_signal=signal.SIGINT) as server:

        def announced_url() -> str | None:
            found = re.search(r"echo service on (http://127\.0\.0\.1:\d+)", read_text(log))
            return found.group(1) if found else None

        url = wait_for(announced_url, 30, "the service to announce its URL")
        response = httpx.get(f"{url}/echo", params={"value": "a b&c"}, timeout=10)
        assert response.json() == {"value": "a b&c"}
        assert httpx.get(f"{url}/nowhere", timeout=10).status_code == 404
        server.send_signal(signal.SIGINT)  # what Ctrl+C does
        assert server.wait(20) == 0, read_text(log)
