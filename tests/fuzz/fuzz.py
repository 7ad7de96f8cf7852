"""The fuzz step of `make test`: schemathesis against the gateway's own /openapi.json.

For each database, SQLite in a temporary folder always, then PostgreSQL (a fresh database on
the TEST_DATABASE_URL server, dropped afterwards; Redis for the limits when TEST_REDIS_URL is
set) when TEST_DATABASE_URL is set, which CI=true requires:

1. start the MiniMax simulator and the debug gateway (`cargo test` built both) on free
   loopback ports, with the local engine and the simulator's MiniMax voices, so that every
   route, cloning included, does its real work and no 5xx is expected;
2. create an admin (`create-admin --json`) and a user on the free plan, each with a small
   quota, so that speech is bounded by the plans' own limits;
3. run schemathesis once with the admin's key and once with the user's: a fixed number of
   examples per operation, each run under a wall-clock bound. The checks: no server error,
   and every answer as documented (status, media type, headers, body schema), and valid data
   not refused (see fuzz_hooks.py for the few rules no schema can state).

Prints one summary line per run and a closing "fuzz: N passed, M failed"; exits non-zero on
any failure, a run over its time bound, or a gateway that did not start.
"""

import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from harness import (GATEWAY, TARGET, call, create_admin, free_port, gateway_env,  # noqa: E402
                     start_sim, wait_healthy)

SCHEMATHESIS = os.path.join(os.path.dirname(sys.executable), "schemathesis")
SIM_KEY = "fuzz-upstream-key"

# Examples per operation and phase, the seed, and the longest one schemathesis run may take.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))
SEED = int(os.environ.get("FUZZ_SEED", "20261207"))
RUN_SECONDS = int(os.environ.get("FUZZ_RUN_SECONDS", "85"))

CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "positive_data_acceptance",
])


class PgDatabase:
    """A fresh database on the TEST_DATABASE_URL server, dropped by `drop`."""

    def __init__(self, admin_url):
        import pg8000.native  # only needed when PostgreSQL is

        self.pg8000 = pg8000.native
        self.admin = urllib.parse.urlsplit(admin_url)
        self.name = "odeadev_fuzz_%d_%s" % (time.time(), secrets.token_hex(4))
        with self.connect() as conn:
            conn.run("CREATE DATABASE " + self.name)
        self.url = urllib.parse.urlunsplit(self.admin._replace(path="/" + self.name))

    def connect(self):
        a = self.admin
        return self.pg8000.Connection(
            user=urllib.parse.unquote(a.username or "postgres"),
            password=urllib.parse.unquote(a.password) if a.password else None,
            host=a.hostname or "127.0.0.1",
            port=a.port or 5432,
            database=a.path.lstrip("/") or "postgres",
        )

    def drop(self):
        with self.connect() as conn:
            conn.run("DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.name)


def summary_counts(output):
    """(test cases, failures) from schemathesis's closing summary, as far as it says."""
    cases = re.search(r"(\d+) generated", output)
    failures = re.search(r"(\d+) unique failures?", output)
    return (int(cases.group(1)) if cases else None, int(failures.group(1)) if failures else 0)


def run_schemathesis(base, key, who, protected, report_dir):
    env = dict(os.environ,
               SCHEMATHESIS_HOOKS="fuzz_hooks",
               PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""),
               FUZZ_PROTECTED=json.dumps(protected),
               FUZZ_DROPPED_LOG=os.path.join(report_dir, "dropped-%s.txt" % who))
    if os.path.exists(env["FUZZ_DROPPED_LOG"]):
        os.remove(env["FUZZ_DROPPED_LOG"])
    command = [
        SCHEMATHESIS, "run", base + "/openapi.json",
        "--checks", CHECKS,
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", str(SEED),
        # One worker: Python 3.11's `ast.parse`, which hypothesis calls to describe its
        # strategies, fails now and then when two threads run it at once ("AST constructor
        # recursion depth mismatch"), and schemathesis's workers are threads.
        "--workers", "1",
        "--generation-database", "none",
        "--request-timeout", "30",
        "--no-color",
        "--report", "junit",
        "--report-junit-path", os.path.join(report_dir, "junit-%s.xml" % who),
        "-H", "Authorization: Bearer " + key,
    ]
    started = time.time()
    try:
        # In the report folder: schemathesis keeps its cache (.schemathesis/) in its cwd.
        done = subprocess.run(command, env=env, capture_output=True, text=True,
                              timeout=RUN_SECONDS, cwd=report_dir)
    except subprocess.TimeoutExpired as e:
        output = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        print(output[-4000:])
        return False, "over its %d s bound" % RUN_SECONDS, None
    elapsed = time.time() - started
    output = done.stdout + done.stderr
    cases, failures = summary_counts(output)
    if done.returncode != 0:
        # The failures with their reproductions (keys redacted by schemathesis itself).
        print(output[-30000:])
    else:
        # Schemathesis's own summary: phases, checks, findings the hooks dropped.
        summary = output.rfind("SUMMARY")
        print("--- %s\n%s" % (who, output[summary:] if summary >= 0 else output[-2000:]))
    verdict = "%s test cases, %d failures, %.0f s" % (cases, failures, elapsed)
    if os.path.exists(env["FUZZ_DROPPED_LOG"]):
        # What the hooks dropped, by kind (see fuzz_hooks.py for why each is not a bug).
        with open(env["FUZZ_DROPPED_LOG"]) as log:
            kinds = {}
            for line in log:
                kinds[line.strip()] = kinds.get(line.strip(), 0) + 1
        for kind, count in sorted(kinds.items()):
            print("    dropped %4d x %s" % (count, kind))
    return done.returncode == 0, verdict, cases


def fuzz_database(name, database_url, extra_env, report_dir):
    """Runs both keys against one database; returns [(label, passed, verdict)]."""
    work = tempfile.mkdtemp(prefix="odeadev-fuzz-")
    sim, sim_url = start_sim(SIM_KEY)
    port = free_port()
    env = gateway_env(
        database_url or "sqlite://" + os.path.join(work, "fuzz.db"), port, sim_url, SIM_KEY,
        # The fuzzer is one client sending as fast as it can: the general per-user limit and
        # the failed-authentication throttle would answer it 429 for everything after the
        # first seconds. Speech keeps its plans' limits.
        ODEADEV_GENERAL_RPM="1000000", ODEADEV_AUTH_FAILURES_PER_MINUTE="1000000", **extra_env)
    log_path = os.path.join(work, "gateway.log")
    admin = create_admin(env, "Fuzz admin", "fuzz-admin@example.com")
    results = []
    with open(log_path, "w") as log:
        gateway = subprocess.Popen([GATEWAY, "serve"], env=env, stdout=log, stderr=log)
        try:
            base = "http://127.0.0.1:%d" % port
            wait_healthy(base, gateway)
            created = call(base, admin["api_key"], "POST", "/admin/users",
                           {"name": "Fuzz user", "email": "fuzz-user@example.com", "plan": "free"})
            user = {"user_id": created["user"]["id"], "api_key": created["api_key"]}
            keys = []
            for who in (admin, user):
                # A small quota: speech stays cheap however much the fuzzer asks for.
                call(base, admin["api_key"], "PUT", "/admin/users/%d/quota" % who["user_id"],
                     {"quota_seconds": 120})
                keys += [k["id"] for k in call(base, admin["api_key"], "GET",
                                               "/admin/users/%d/keys" % who["user_id"])]
            voices = [v["friendly_name"] for v in call(base, admin["api_key"], "GET", "/admin/voices")]
            protected = {"users": [admin["user_id"], user["user_id"]], "keys": keys,
                         "voices": voices}
            for who, key in (("admin", admin["api_key"]), ("user", user["api_key"])):
                passed, verdict, _ = run_schemathesis(base, key, "%s-%s" % (name, who),
                                                      protected, report_dir)
                results.append(("%s, %s key" % (name, who), passed, verdict))
        finally:
            gateway.terminate()
            sim.terminate()
            gateway.wait(15)
            sim.wait(15)
    with open(log_path) as log:
        panics = [line for line in log if "panicked" in line]
    if panics:
        results.append(("%s, gateway log" % name, False, "panics: " + " | ".join(panics[:3])))
    return results


def main():
    report_dir = os.path.join(TARGET, "fuzz-report")
    os.makedirs(report_dir, exist_ok=True)
    databases = [("sqlite", None)]
    pg_admin = os.environ.get("TEST_DATABASE_URL", "").strip()
    if pg_admin:
        databases.append(("postgres", pg_admin))
    elif os.environ.get("CI") == "true":
        print("fuzz: CI=true but TEST_DATABASE_URL is not set: the PostgreSQL run must happen")
        print("fuzz: 0 passed, 1 failed")
        return 1
    else:
        print("fuzz: skipped PostgreSQL (set TEST_DATABASE_URL to run it)")
    results = []
    for name, admin_url in databases:
        started = time.time()
        database = PgDatabase(admin_url) if admin_url else None
        extra_env = {}
        try:
            if database and os.environ.get("TEST_REDIS_URL", "").strip():
                extra_env = {"REDIS_URL": os.environ["TEST_REDIS_URL"].strip(),
                             "ODEADEV_REDIS_PREFIX": database.name + ":"}
            try:
                results += fuzz_database(name, database.url if database else None,
                                         extra_env, report_dir)
            except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
                results.append((name, False, "could not run: %s" % e))
        finally:
            if database:
                database.drop()
        print("fuzz: %s took %.0f s" % (name, time.time() - started))
    for label, passed, verdict in results:
        print("%-6s %s: %s" % ("ok" if passed else "FAILED", label, verdict))
    failed = sum(1 for _, passed, _ in results if not passed)
    print("fuzz: %d passed, %d failed" % (len(results) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
