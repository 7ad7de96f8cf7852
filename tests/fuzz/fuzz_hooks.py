"""Schemathesis hooks of the fuzz step (loaded through SCHEMATHESIS_HOOKS by fuzz.py).

Three jobs, nothing else:

1. Keep the fuzzer from locking itself out. It may change, reset or revoke anything but the
   two users and the keys it signs in with (FUZZ_PROTECTED, set by fuzz.py): such a request is
   sent for a user or key that does not exist instead, and is answered 404.
2. Drop a 502 or 503 of speech in a voice the fuzzer registered itself (POST /admin/voices
   with an engine voice id it made up): the engine refuses the id and the gateway answers
   502, by design (tests/api/upstream/faults.rs), or, for a Piper voice whose model file does
   not exist, 503 `engine_unavailable` (tests/api/piper.rs). Speech in the voices the server
   seeded must never fail so.
3. Drop the positive-data findings of the rules a JSON Schema cannot state, each named below:
   a request the document calls valid, refused for a reason only the server's state or clock
   knows. Every other finding stands.
"""

import json
import os
import uuid

import schemathesis

PROTECTED = json.loads(os.environ.get("FUZZ_PROTECTED", '{"users": [], "keys": []}'))
PROTECTED_USERS = {str(user) for user in PROTECTED["users"]}
PROTECTED_KEYS = set(PROTECTED["keys"])
# OpenAI's voice names stand for seeded voices (domain/openai.rs).
OPENAI_VOICES = {"alloy", "ash", "ballad", "cedar", "coral", "echo", "fable", "marin", "nova",
                 "onyx", "sage", "shimmer", "verse"}
SEEDED_VOICES = set(PROTECTED.get("voices", [])) | OPENAI_VOICES
SPEECH = ("/v1/tts", "/v2/tts", "/v1/audio/speech")

# A user id no test creates.
ABSENT_USER = 9_000_000_000_000_000_000

# The refusals that depend on the clock, the server's data, or the bytes of an upload, which
# a schema cannot describe: (path, the start of the refusal's text).
STATEFUL_RULES = [
    # "In the future" depends on the clock.
    ("/admin/users/{id}/keys", "expires_at: must be in the future"),
    # `to` after `from`: JSON Schema cannot compare two values.
    ("/admin/usage", "to: must be later than from"),
    # Which voices exist is data; unknown ones are 400 in OpenAI's shape (404 elsewhere).
    ("/v1/audio/speech", "voice: unknown voice"),
    ("/v1/audio/speech", "voice: no voice standing in for"),
    # A pause marker's bounds, and letters only inside markers, are said in words.
    ("/v1/tts", "text: pause marker"),
    ("/v2/tts", "text: pause marker"),
    ("/v1/audio/speech", "input: pause marker"),
    ("/v1/tts", "text: must contain at least one letter or digit"),
    ("/v2/tts", "text: must contain at least one letter or digit"),
    ("/v1/audio/speech", "input: must contain at least one letter or digit"),
    # A sample's file name and content (type, length) are judged from its bytes.
    ("/admin/voices/clone", "file: "),
    # Form field names the fuzzer writes as bytes that are not UTF-8 (lone surrogates)
    # make a form no parser reads; the schema cannot name the encoding of a part's name.
    ("/admin/voices/clone", "malformed multipart body"),
]


@schemathesis.hook
def before_call(context, case, kwargs):
    """Points changes to the fuzzer's own users and keys at ones that do not exist."""
    method = case.operation.method.upper()
    if method == "GET":
        return
    params = case.path_parameters or {}
    if "id" in params and whole(params["id"]) in PROTECTED_USERS:
        params["id"] = ABSENT_USER
    if params.get("key_id") in PROTECTED_KEYS:
        params["key_id"] = str(uuid.uuid4())


def whole(value):
    """A user id as the server reads it: `1`, `1.0` and `1e0` are all user 1."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return str(value)
    return str(int(number)) if number.is_integer() else str(value)


def refusal(response):
    """The refusal's (text, code): `detail` and `code`, or OpenAI's `error.message` and
    `error.code`; empty strings when the body is not one."""
    try:
        body = json.loads(response.content)
    except (ValueError, TypeError):
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("message", "")), str(error.get("code", ""))
    return str(body.get("detail", "")), str(body.get("code", ""))


def requested_voice(case):
    """The voice a speech request names, if it names one."""
    body = case.body if isinstance(case.body, dict) else {}
    voice = body.get("voice_name") or body.get("voice_id") or body.get("voice")
    if isinstance(voice, dict):
        voice = voice.get("id")
    return voice if isinstance(voice, str) else None


def dropped(reason):
    """Notes a dropped finding in FUZZ_DROPPED_LOG, for fuzz.py's summary; returns False."""
    path = os.environ.get("FUZZ_DROPPED_LOG")
    if path:
        with open(path, "a") as log:
            log.write(reason + "\n")
    return False


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """False (drop it) for a finding of a kind listed above."""
    keep = _keep(failure, case, response)
    if keep is not True:
        return dropped(keep)
    return True


def _keep(failure, case, response):
    """True to keep a finding, else which listed kind it is."""
    if response is None:
        return True
    if type(failure).__name__ == "ServerError":
        voice = requested_voice(case)
        own_voice = (case.operation.path in SPEECH and voice is not None
                     and voice not in SEEDED_VOICES)
        if own_voice and response.status_code == 502:
            return "%s 502 in a voice the fuzzer registered" % case.operation.path
        if own_voice and response.status_code == 503 and refusal(response)[1] == "engine_unavailable":
            return "%s 503 in a Piper voice the fuzzer registered" % case.operation.path
        return True
    if type(failure).__name__ != "RejectedPositiveData":
        return True
    text = refusal(response)[0]
    for path, start in STATEFUL_RULES:
        if case.operation.path == path and text.startswith(start):
            return "%s %s" % (path, start)
    return True
