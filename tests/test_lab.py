"""`make lab`: JupyterLab serves the notebooks with the venv's kernel; one chapter runs through the server's API.

The test starts ``jupyter lab`` headless on 127.0.0.1 (a random port, a token), opens a session on the
exemplar chapter through the REST API, runs every code cell over the kernel's websocket at QUICK
size (its results in a temporary folder), and stops the server: no kernel or cluster is left.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import nbformat
import pytest

from exemplar import config

pytestmark = [pytest.mark.slow, pytest.mark.mpi]
JUPYTER = Path(sys.executable).parent / "jupyter"
NOTEBOOK = "notebooks/03-exemplar-parallel.ipynb"
QUICK = {"engine_counts": [1, 2], "repeats": 1, "n_train": 600}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(base, token, path, body=None, method=None):
    req = urllib.request.Request(f"{base}{path}", method=method or ("POST" if body is not None else "GET"),
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        text = r.read()
    return json.loads(text) if text else None


async def _run_cells(ws_url, cells, timeout=300):
    from tornado.websocket import websocket_connect

    ws = await websocket_connect(ws_url)
    session, errors = uuid.uuid4().hex, []
    for code in cells:
        msg_id = uuid.uuid4().hex
        await ws.write_message(json.dumps({
            "header": {"msg_id": msg_id, "username": "test", "session": session, "msg_type": "execute_request",
                       "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        deadline = time.monotonic() + timeout
        while True:
            raw = await asyncio.wait_for(ws.read_message(), max(1.0, deadline - time.monotonic()))
            assert raw is not None, "the kernel's websocket closed"
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "error":
                errors.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")
            if msg["msg_type"] == "execute_reply":
                break
        if errors:
            break
    ws.close()
    return errors


def test_jupyterlab_runs_a_chapter_through_its_api_and_stops_clean(tmp_path):
    if not (JUPYTER.exists() and subprocess.run([str(JUPYTER), "lab", "--version"], capture_output=True).returncode == 0):
        pytest.fail("JupyterLab is missing from the venv: `make test` installs the [lab] extra (make lab does too)")
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "EXEMPLAR_RESULTS": str(tmp_path / "results"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    server = subprocess.Popen(
        [str(JUPYTER), "lab", "--no-browser", f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={config.ROOT}", "--ServerApp.port_retries=0",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                _api(base, token, "/api/status")
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "JupyterLab did not answer within 90 s"
                time.sleep(0.5)
        session = _api(base, token, "/api/sessions", {"path": NOTEBOOK, "type": "notebook", "name": NOTEBOOK,
                                                      "kernel": {"name": "python3"}})
        kernel = session["kernel"]["id"]
        nb = nbformat.read(config.ROOT / NOTEBOOK, as_version=4)
        cells = []
        for cell in nb.cells:
            if cell.cell_type == "code":
                cells.append(cell.source)
                if "parameters" in cell.metadata.get("tags", []):
                    cells.append("\n".join(f"{k} = {v!r}" for k, v in QUICK.items()))
        ws = f"ws://127.0.0.1:{port}/api/kernels/{kernel}/channels?token={token}"
        errors = asyncio.run(_run_cells(ws, cells))
        assert not errors, errors
        assert (tmp_path / "results" / "exemplar.csv").is_file()
        _api(base, token, f"/api/sessions/{session['id']}", method="DELETE")
    finally:
        try:
            _api(base, token, "/api/shutdown", {})
        except OSError:
            pass
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait()
    assert server.returncode is not None
