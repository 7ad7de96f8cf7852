"""The official OpenAI Python SDK against /v1/audio/speech.

Starts the MiniMax simulator and the gateway (debug builds from `cargo build --workspace`) on
free loopback ports with a fresh SQLite database, then drives them through the SDK:
`client.audio.speech.create`, its streaming response, and its error classes.
Prints a closing line "N passed, M failed" and exits non-zero on any failure.
"""

import os
import subprocess
import sys
import tempfile

import openai

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import (GATEWAY, call, create_admin, free_port, gateway_env,  # noqa: E402
                     start_sim, wait_healthy)

SIM_KEY = "sdk-test-upstream-key"


def main():
    work = tempfile.mkdtemp(prefix="odeadev-sdk-")
    sim, sim_url = start_sim(SIM_KEY)
    port = free_port()
    env = gateway_env("sqlite://" + os.path.join(work, "sdk.db"), port, sim_url, SIM_KEY)
    admin = create_admin(env, "SDK", "sdk@example.com")
    gateway = subprocess.Popen([GATEWAY, "serve"], env=env, stderr=subprocess.DEVNULL)
    base = "http://127.0.0.1:%d" % port
    passed, failed = 0, 0
    try:
        wait_healthy(base, gateway)
        created = call(base, admin["api_key"], "POST", "/admin/users",
                             {"name": "SDK user", "email": "sdk-user@example.com", "plan": "pro"})
        key, user_id = created["api_key"], created["user"]["id"]
        client = openai.OpenAI(api_key=key, base_url=base + "/v1", max_retries=0)

        def check(name, fn):
            nonlocal passed, failed
            try:
                fn()
                passed += 1
                print("ok     " + name)
            except Exception as e:  # noqa: BLE001 - report every failure and go on
                failed += 1
                print("FAILED %s: %r" % (name, e))

        def create_mp3():
            audio = client.audio.speech.create(model="tts-1", voice="alloy", input="Hello from the SDK.")
            data = audio.content
            assert len(data) > 1000, len(data)
            assert data[:3] == b"ID3" or data[0] == 0xFF, data[:4]

        def create_our_voice_and_format():
            audio = client.audio.speech.create(model="speech-2.8-hd", voice="marcus",
                                               input="Flac please.", response_format="flac", speed=1.5)
            assert audio.content[:4] == b"fLaC", audio.content[:4]

        def streaming_response():
            with client.audio.speech.with_streaming_response.create(
                    model="gpt-4o-mini-tts", voice="onyx", input="Streaming through the SDK.",
                    response_format="pcm") as response:
                assert response.headers.get("content-type") == "audio/pcm"
                chunks = [c for c in response.iter_bytes()]
            total = sum(len(c) for c in chunks)
            assert total > 0 and total % 2 == 0, total

        def bad_key_is_authentication_error():
            bad = openai.OpenAI(api_key="odt_wrong", base_url=base + "/v1", max_retries=0)
            try:
                bad.audio.speech.create(model="tts-1", voice="alloy", input="x")
            except openai.AuthenticationError as e:
                assert e.status_code == 401
                assert e.request_id, "request id from X-Request-ID"
                return
            raise AssertionError("no AuthenticationError")

        def bad_input_is_bad_request_error():
            for kwargs in ({"model": "whisper-1", "voice": "alloy", "input": "x"},
                           {"model": "tts-1", "voice": "alloy", "input": ""},
                           {"model": "tts-1", "voice": "alloy", "input": "x", "speed": 9}):
                try:
                    client.audio.speech.create(**kwargs)
                except openai.BadRequestError as e:
                    assert e.status_code == 400
                    assert e.body and "message" in e.body, e.body
                    continue
                raise AssertionError("no BadRequestError for %r" % kwargs)

        def quota_is_rate_limit_error():
            call(base, admin["api_key"], "PUT", "/admin/users/%d/quota" % user_id,
                       {"quota_seconds": 0})
            try:
                client.audio.speech.create(model="tts-1", voice="alloy", input="No quota left.")
            except openai.RateLimitError as e:
                assert e.status_code == 429
                return
            raise AssertionError("no RateLimitError")

        def models_list():
            ids = [m.id for m in client.models.list()]
            assert "tts-1" in ids and "tts-1-hd" in ids, ids

        for name, fn in [("speech.create mp3", create_mp3),
                         ("speech.create our voice, flac", create_our_voice_and_format),
                         ("with_streaming_response pcm", streaming_response),
                         ("models.list", models_list),
                         ("AuthenticationError", bad_key_is_authentication_error),
                         ("BadRequestError", bad_input_is_bad_request_error),
                         ("RateLimitError", quota_is_rate_limit_error)]:
            check(name, fn)
    finally:
        gateway.terminate()
        sim.terminate()
        gateway.wait(10)
        sim.wait(10)
    print("openai-sdk: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
