"""What the Python test steps of `make test` (tests/openai_sdk, tests/fuzz) share: the debug
binaries `cargo test` built, free loopback ports, the MiniMax simulator, the gateway's
environment and first admin, JSON calls, and waiting for /health. Standard library only, so
each step's own venv can import it."""

import json
import os
import socket
import subprocess
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
GATEWAY = os.path.join(TARGET, "debug", "odeadev-tts")
SIM = os.path.join(TARGET, "debug", "minimax-sim")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sim(api_key):
    """The simulator on a free port: (process, its base URL, from the line it prints)."""
    sim = subprocess.Popen([SIM, "--bind", "127.0.0.1:0", "--api-key", api_key],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return sim, sim.stdout.readline().strip().rsplit(" ", 1)[-1]


def gateway_env(database_url, port, sim_url, sim_key, **extra):
    """The gateway's environment: this database, this port, MiniMax at the simulator."""
    return dict(os.environ, DATABASE_URL=database_url, ODEADEV_BIND="127.0.0.1:%d" % port,
                MINIMAX_API_KEY=sim_key, MINIMAX_BASE_URL=sim_url, RUST_LOG="warn", **extra)


def create_admin(env, name, email):
    """`create-admin --json`: {"user_id", "api_key"}."""
    return json.loads(subprocess.check_output(
        [GATEWAY, "create-admin", name, email, "--json"], env=env, text=True))


def call(base, key, method, path, body=None):
    """One JSON request with `key`; its JSON answer."""
    request = urllib.request.Request(
        base + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def wait_healthy(base, gateway, deadline=30.0):
    """Until /health answers 200; fails at once if the gateway process exits first."""
    end = time.time() + deadline
    while time.time() < end:
        if gateway.poll() is not None:
            raise RuntimeError("the gateway exited with %s before serving" % gateway.returncode)
        try:
            with urllib.request.urlopen(base + "/health", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the gateway did not become healthy in %.0f s" % deadline)
