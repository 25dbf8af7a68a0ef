#!/usr/bin/env python3
"""Writes the generated seeds of tests/fuzz/corpus (run from anywhere).

Generated, then committed: nothing runs this at test time.
  corpus/event_validation/  SessionEvents as proto3 JSON (*.json) and, for
                            most, the same event as binary protobuf (*.binpb,
                            encoded by protoc from the real event.proto), plus
                            binary-only oddities (bad nanos, unknown fields).
  corpus/jwt/               tokens; the ES256/ES384 ones are signed with the
                            fuzz keys below and verify in fuzz_jwt.cc.
  corpus/jwks/              key sets, good and broken.
The other corpora (config, prompt_json, plugin_json) are hand-written files.

Needs protoc and python3-cryptography. The EC private keys are derived
from fixed strings (KEY_SEED), so they are reproducible test keys with no
secret to keep; fuzz_jwt.cc embeds their public halves. The RSA key in
fuzz_jwt.cc has no private half here: RS* seeds carry signatures of the
right length that never verify.
"""

import base64
import datetime
import hashlib
import json
import os
import re
import subprocess
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")

# fuzz_jwt.cc's fixed clock: 2030-01-01T00:00:00Z.
NOW = 1893456000
RSA_N = ("pjhesmKhEPt9sA8OG9AIIu7M08Eydw_iohb3wUz2PbdWvcIp0ts_hMiyBWirx1vRzY4U"
         "KBwL_nk5eVlObj_GcUj4BqcjToijkBaX5qM4EtumvbPpiEXXdghVSP-m3E9itVj4RRDe"
         "XETB82ZgSUig_NcnJy7SwygMy6Sqc0WKDiiB4Yxe584KT1CaSmQaKchkoxTz4H077cin"
         "zLbL88AAxr6WsPGdxzYyjPT-7knITiA5sIAWIxorCbHfSN2_S_aINiyfMAyW6zGGZrpa"
         "JMQBs-gVGOvpk2qPMxYjM629JMvRUelX7d6PGhSdOeKYZHn7Xclk9OEVsWLNM881qL_l"
         "lw")
KEY_SEED = b"attune fuzz test key "


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(path, "wb") as f:
        f.write(data)


# --- SessionEvents ---------------------------------------------------------

EPISODE = {"clientId": "demo-client-1", "clinicianId": "demo-clinician-1",
           "episodeId": "demo-episode-1"}


def event(event_id, occurred, **payload):
    e = {"eventId": event_id, "occurredAt": occurred, "episode": EPISODE}
    e.update(payload)
    return e


def demo_line(path, event_id):
    with open(os.path.join(ROOT, path)) as f:
        for line in f:
            if line.startswith("{") and json.loads(line)["eventId"] == event_id:
                return line.strip()
    sys.exit(f"{path}: no event {event_id}")


TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
ENUM = re.compile(r"^[A-Z][A-Z0-9_]+$")


def snake(name):
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def to_text(obj):
    """Proto3 JSON (as parsed by json) to text format, for protoc --encode.
    Enough for SessionEvent: RFC 3339 strings are Timestamps, upper-case
    identifiers enum values."""
    out = []
    for key, value in obj.items():
        name = snake(key)
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, dict):
                out.append(f"{name} {{ {to_text(v)} }}")
            elif isinstance(v, bool):
                out.append(f"{name}: {'true' if v else 'false'}")
            elif isinstance(v, (int, float)):
                out.append(f"{name}: {v!r}")
            elif TIMESTAMP.match(v):
                t = datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
                seconds = int(t.timestamp())
                nanos = t.microsecond * 1000
                out.append(f"{name} {{ seconds: {seconds} nanos: {nanos} }}")
            elif ENUM.match(v):
                out.append(f"{name}: {v}")
            else:
                out.append(f"{name}: {json.dumps(v)}")
    return " ".join(out)


def encode(text):
    return subprocess.run(
        ["protoc", "--encode=attune.v1.SessionEvent",
         "-I", os.path.join(ROOT, "proto"), "-I", "/usr/include",
         "attune/v1/event.proto"],
        input=text.encode(), capture_output=True, check=True).stdout


def events():
    d = os.path.join(CORPUS, "event_validation")
    demo = "deploy/local/demo/episode.jsonl"
    # (name, JSON text, also as binary?); < 50 files in all.
    seeds = [
        ("demo-scheduled", demo_line(demo, "demo-0001"), True),
        ("demo-ors", demo_line(demo, "demo-0002"), True),
        ("demo-srs", demo_line(demo, "demo-0003"), True),
        ("demo-held", demo_line(demo, "demo-0004"), True),
        ("demo-goals", demo_line(demo, "demo-0006"), True),
        ("demo-wai-sr", demo_line(demo, "demo-0011"), True),
        ("demo-rupture", demo_line(demo, "demo-0024"), True),
        ("demo-ending-planned", demo_line(demo, "demo-0033"), False),
        ("demo-closed", demo_line(demo, "demo-0040"), False),
        ("demo-invalid-item",
         demo_line("deploy/local/demo/invalid-event.jsonl",
                   "demo-invalid-0001"), False),
        ("example-custom-phq9",
         demo_line("plugins/examples/safety_item_c/events.jsonl", "demo-2"),
         True),
    ]
    made = {
        "cancelled": event("seed-cancelled", "2026-09-20T09:00:00Z",
                           sessionCancelled={"sessionNumber": 4,
                                             "cancelledBy":
                                             "CANCELLED_BY_CLIENT",
                                             "late": True}),
        "no-show": event("seed-no-show", "2026-09-21T10:30:00Z",
                         noShow={"sessionNumber": 4}),
        "feedback-snoozed": event(
            "seed-feedback-1", "2026-09-22T10:00:00Z",
            promptFeedback={"promptId": "p-0001",
                            "outcome": "OUTCOME_SNOOZED",
                            "snoozeUntil": "2026-10-06T10:00:00Z"}),
        "feedback-dismissed": event(
            "seed-feedback-2", "2026-09-22T10:00:00.250Z",
            promptFeedback={"promptId": "p-0002",
                            "outcome": "OUTCOME_DISMISSED",
                            "reason": "DISMISS_REASON_TOO_MANY_PROMPTS"}),
        "sai-items-only": event(
            "seed-sai", "2026-09-23T10:00:00Z",
            measureRecorded={"sessionNumber": 5,
                             "instrument": "INSTRUMENT_SAI",
                             "rater": "RATER_THERAPIST",
                             "items": [3, 4, 5, 2, 6, 0]}),
        "srs-total-only": event(
            "seed-srs-total", "2026-09-23T10:05:00Z",
            measureRecorded={"sessionNumber": 5,
                             "instrument": "INSTRUMENT_SRS",
                             "rater": "RATER_CLIENT",
                             "total": 35.5, "hasTotal": True}),
        # Invalid in one field each.
        "bad-future": event("seed-future", "2099-01-01T00:00:00Z",
                            noShow={"sessionNumber": 1}),
        "bad-before-1970": event("seed-old", "1969-12-31T23:59:59Z",
                                 noShow={"sessionNumber": 1}),
        "bad-held-reversed": event(
            "seed-held", "2026-09-01T11:00:00Z",
            sessionHeld={"sessionNumber": 1,
                         "start": "2026-09-01T10:50:00Z",
                         "end": "2026-09-01T10:00:00Z"}),
        "bad-snooze-too-long": event(
            "seed-feedback-3", "2026-09-22T10:00:00Z",
            promptFeedback={"promptId": "p-0003",
                            "outcome": "OUTCOME_SNOOZED",
                            "snoozeUntil": "2027-09-22T10:00:00Z"}),
        "bad-sum": event(
            "seed-sum", "2026-09-23T10:00:00Z",
            measureRecorded={"sessionNumber": 5,
                             "instrument": "INSTRUMENT_ORS",
                             "rater": "RATER_CLIENT",
                             "items": [1, 2, 3, 4], "total": 12,
                             "hasTotal": True}),
        "bad-session-number": event("seed-session", "2026-09-23T10:00:00Z",
                                    goalsAgreed={"goalCount": 1,
                                                 "sessionNumber": 100000}),
        "bad-no-payload": event("seed-empty", "2026-09-23T10:00:00Z"),
        "bad-event-id": event("seed id with spaces", "2026-09-23T10:00:00Z",
                              noShow={"sessionNumber": 1}),
    }
    # Binary copies of the invalid ones add little: one is enough.
    for name, obj in made.items():
        binary = (not name.startswith("bad-") and name != "srs-total-only" or
                  name == "bad-held-reversed")
        seeds.append((name, json.dumps(obj), binary))
    # JSON only: the JSON parser's own refusals.
    seeds += [
        ("json-unknown-enum-number",
         '{"eventId": "seed-enum", "occurredAt": "2026-09-23T10:00:00Z", '
         '"episode": {"clientId": "c", "clinicianId": "t", "episodeId": "e"},'
         ' "episodeClosed": {"reason": 42}}', False),
        ("json-two-payloads",
         '{"eventId": "seed-2", "occurredAt": "2026-09-23T10:00:00Z", '
         '"noShow": {"sessionNumber": 1}, "goalsAgreed": {"goalCount": 1}}',
         False),
        ("json-unknown-field",
         '{"eventId": "seed-3", "occurredAt": "2026-09-23T10:00:00Z", '
         '"clientName": "x"}', False),
        ("json-truncated",
         demo_line(demo, "demo-0002")[:120], False),
        ("json-nan-items",
         '{"eventId": "seed-nan", "occurredAt": "2026-09-23T10:00:00Z", '
         '"episode": {"clientId": "c", "clinicianId": "t", "episodeId": "e"},'
         ' "measureRecorded": {"sessionNumber": 1, "instrument": '
         '"INSTRUMENT_CUSTOM", "custom": {"name": "x", "itemCount": 1, '
         '"itemMin": "-Infinity", "itemMax": "NaN", "totalMax": 1}, '
         '"items": ["NaN"]}}', False),
    ]
    for name, text, binary in seeds:
        write(os.path.join(d, name + ".json"), text + "\n")
        if binary:
            write(os.path.join(d, name + ".binpb"),
                  encode(to_text(json.loads(text))))
    # Binary only: what JSON cannot say.
    base = ('event_id: "seed-bin" occurred_at { seconds: 1788000000 } '
            'episode { client_id: "c" clinician_id: "t" episode_id: "e" } ')
    for name, text in [
        ("bin-bad-nanos", base.replace("seconds: 1788000000",
                                       "seconds: 1788000000 nanos: -1") +
         "no_show { session_number: 1 }"),
        ("bin-huge-seconds", base +
         "session_scheduled { session_number: 1 scheduled_start "
         "{ seconds: 9223372036854775807 } }"),
        ("bin-unknown-enum", base + "rupture_marker { session_number: 2 "
         "type: 7 }"),
        ("bin-custom-unknown-construct", base +
         "measure_recorded { session_number: 1 instrument: INSTRUMENT_SRS "
         "custom { construct: 9 concern_below_total: nan } "
         "items: [8, 8, 8, 8] }"),
    ]:
        write(os.path.join(d, name + ".binpb"), encode(text))
    # An unknown field (number 99, varint 1) after a valid event.
    write(os.path.join(d, "bin-unknown-field.binpb"),
          encode(to_text(made["no-show"])) + b"\x98\x06\x01")


# --- JWTs and key sets -----------------------------------------------------

CURVES = {"P-256": (ec.SECP256R1(), 32, hashes.SHA256(), "ES256", "ec256"),
          "P-384": (ec.SECP384R1(), 48, hashes.SHA384(), "ES384", "ec384")}


def ec_key(crv):
    curve = CURVES[crv][0]
    order = {"P-256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
             "P-384": int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
                          "C7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
                          16)}[crv]
    digest = hashlib.sha512(KEY_SEED + crv.encode()).digest()
    d = int.from_bytes(digest, "big") % (order - 1) + 1
    return ec.derive_private_key(d, curve)


def ec_jwk(crv, kid, alg=None):
    size = CURVES[crv][1]
    pub = ec_key(crv).public_key().public_numbers()
    jwk = {"kty": "EC", "kid": kid, "crv": crv,
           "x": b64(pub.x.to_bytes(size, "big")),
           "y": b64(pub.y.to_bytes(size, "big"))}
    if alg:
        jwk["alg"] = alg
    return jwk


def sign_es(crv, signing_input, der=False):
    _, size, digest, _, _ = CURVES[crv]
    try:
        algorithm = ec.ECDSA(digest, deterministic_signing=True)
    except TypeError:  # cryptography < 44
        algorithm = ec.ECDSA(digest)
    sig = ec_key(crv).sign(signing_input.encode(), algorithm)
    if der:
        return sig
    r, s = decode_dss_signature(sig)
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def token(header, payload, crv=None, signature=None, der=False):
    h = b64(json.dumps(header, separators=(",", ":")))
    p = b64(json.dumps(payload, separators=(",", ":")))
    if signature is None:
        signature = sign_es(crv, f"{h}.{p}", der)
    return f"{h}.{p}.{b64(signature)}"


def jwts():
    d = os.path.join(CORPUS, "jwt")
    claims = {"iss": "https://idp.example", "aud": "attune", "sub": "user-1",
              "iat": NOW - 60, "exp": NOW + 600, "jti": "jti-0001",
              "attune_tenant": "clinic-a", "scope": "events:write prompts:read"}
    es256 = {"alg": "ES256", "typ": "JWT", "kid": "ec256"}
    es384 = {"alg": "ES384", "kid": "ec384"}
    rs256 = {"alg": "RS256", "typ": "JWT", "kid": "rsa"}
    good = token(es256, claims, "P-256")
    tokens = {
        "es256-valid": good,
        "es384-valid-aud-array": token(
            es384, dict(claims, aud=["other", "attune"], jti="jti-0002",
                        scope=["events:write"], nbf=NOW - 60), "P-384"),
        "es256-expired": token(es256, dict(claims, iat=NOW - 7200,
                                           exp=NOW - 3600), "P-256"),
        "es256-wrong-audience": token(es256, dict(claims, aud="other"),
                                      "P-256"),
        "es256-too-long-lifetime": token(es256, dict(claims, exp=NOW + 86400),
                                         "P-256"),
        "es256-no-jti": token(es256, {k: v for k, v in claims.items()
                                      if k != "jti"}, "P-256"),
        "es256-issuer-not-allowed": token(es256, dict(claims,
                                                      iss="https://evil"),
                                          "P-256"),
        "es256-bad-tenant-type": token(es256, dict(claims, attune_tenant=7),
                                       "P-256"),
        "es256-der-signature": token(es256, claims, "P-256", der=True),
        "es384-on-ec256-key": token(dict(es384, kid="ec256"), claims,
                                    signature=b"\x01" * 96),
        "rs256-bad-signature": token(rs256, claims, signature=b"\x5a" * 256),
        "rs384-alg-mismatch": token(dict(rs256, alg="RS384"), claims,
                                    signature=b"\x5a" * 256),
        "rs256-any-key-short-sig": token(dict(rs256, kid="rsa-any"), claims,
                                         signature=b"\x5a" * 255),
        "unknown-kid": token(dict(es256, kid="nope"), claims,
                             signature=b"\x01" * 64),
        "alg-none": (b64('{"alg":"none","typ":"JWT"}') + "." +
                     b64(json.dumps(claims)) + "."),
        "alg-hs256": token({"alg": "HS256", "kid": "rsa"}, claims,
                           signature=b"\x00" * 32),
        "bad-typ": token(dict(es256, typ="at+jwt"), claims,
                         signature=b"\x01" * 64),
        "crit": token(dict(es256, crit=["exp"]), claims,
                      signature=b"\x01" * 64),
        "missing-kid": token({"alg": "ES256"}, claims, signature=b"\x01" * 64),
        "bad-claim-types": token(es256, dict(claims, exp="soon", iat=-5,
                                             aud=[1]),
                                 signature=b"\x01" * 64),
        "duplicate-claim": (b64('{"alg":"ES256","kid":"ec256"}') + "." +
                            b64('{"exp":1,"exp":2}') + "." + b64("sig")),
        "truncated": good[:len(good) * 2 // 3],
        "two-parts": good.rsplit(".", 1)[0],
        "padded": good + "==",
        "whitespace": good.replace(".", ". ", 1),
    }
    for name, text in tokens.items():
        write(os.path.join(d, name + ".jwt"), text)


def jwks():
    d = os.path.join(CORPUS, "jwks")
    rsa = {"kty": "RSA", "kid": "rsa", "use": "sig", "alg": "RS256",
           "e": "AQAB", "n": RSA_N}
    ec256 = ec_jwk("P-256", "ec256")
    ec384 = ec_jwk("P-384", "ec384", "ES384")
    sets = {
        "fuzz-keys": [rsa, dict(rsa, kid="rsa-any", alg=None), ec256, ec384],
        "rsa-only": [rsa],
        "ec-key-ops": [dict(ec256, key_ops=["verify"])],
        "empty": [],
        "ignored-kinds": [
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": b64(b"x" * 32)},
            dict(ec256, kid="p521", crv="P-521"),
            dict(rsa, kid="enc", use="enc"),
            dict(rsa, kid="ps", alg="PS256"),
            dict(ec256, kid="sign-only", key_ops=["sign"]), ec256],
        "bad-rsa-1032": [dict(rsa, n=RSA_N[:172])],
        "bad-duplicate-kid": [ec256, dict(ec384, kid="ec256")],
        "bad-alg-mismatch": [dict(rsa, alg="ES384")],
        "bad-alg-hs256": [dict(ec256, alg="HS256")],
        "bad-missing-kid": [dict(rsa, kid=None)],
        "bad-base64": [dict(rsa, n=RSA_N[:-4] + "+/==")],
        "bad-ec-length": [dict(ec256, x=ec256["x"][:-3])],
        "bad-ec-off-curve": [dict(ec256, y=b64(b"\x01" * 32))],
        "bad-rsa-even-modulus": [dict(rsa, n=RSA_N[:-1] + "g")],
        "bad-exponent-type": [dict(rsa, e=65537)],
    }
    for name, keys in sets.items():
        keys = [{k: v for k, v in key.items() if v is not None}
                for key in keys]
        write(os.path.join(d, name + ".json"),
              json.dumps({"keys": keys}, indent=1) + "\n")
    write(os.path.join(d, "bad-not-object.json"), '["keys"]\n')
    write(os.path.join(d, "bad-keys-object.json"), '{"keys": {"kid": "a"}}\n')
    write(os.path.join(d, "bad-key-not-object.json"), '{"keys": ["rsa"]}\n')
    write(os.path.join(d, "bad-truncated.json"),
          json.dumps({"keys": [ec256]})[:90])


if __name__ == "__main__":
    events()
    jwts()
    jwks()
