"""What the app's child processes share: starting one on a socket, ending it, and writing
a finished folder so that readers see the old one or the new one, never half of one.

``app_runs`` (a Run, a sweep, an atlas extension) and ``latent_child`` (the Latent page's
views) both use it. No torch here.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Callable

from ..declarations.locations import SOURCE_ROOT


def spawn_child(module: str, mark: str) -> tuple[subprocess.Popen, Connection]:
    """``python -c "from MODULE import main; main()" MARK FD``: the child's ``main`` reads
    its request from the socket ``FD`` (its command line carries ``mark``, to be found)."""
    ours, theirs = socket.socketpair()
    root = str(SOURCE_ROOT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-c", f"from {module} import main; main()", mark, str(theirs.fileno())]
    try:
        proc = subprocess.Popen(cmd, pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL, close_fds=True)
    finally:
        theirs.close()
    return proc, Connection(ours.detach())


def end_child(proc: subprocess.Popen) -> None:
    """Stop the child (it stops its workers on SIGTERM) and reap it."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def export_folder(out: Path, write: Callable[[Path], object]) -> None:
    """``write(folder)`` into a fresh folder beside ``out``, then put it in ``out``'s place:
    readers see the old folder or the new one, never half of one."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        write(tmp)
        for _ in range(3):
            shutil.rmtree(out, ignore_errors=True)
            try:
                os.replace(tmp, out)
                return
            except OSError:  # another run of the same request wrote it in between
                continue
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
