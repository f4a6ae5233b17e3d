"""Upstream authentication pieces on their own: ``WWW-Authenticate`` parsing (examples and hypothesis),
token responses, the token cache's expiry arithmetic, and where a proxy's credentials may go.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from cargohold.errors import FailureKind, UpstreamFailedError
from cargohold.proxy.auth import (
    DEFAULT_EXPIRES_IN_S,
    Attempt,
    Scheme,
    TokenCache,
    UpstreamAuth,
    credentials_may_go_to,
    parse_token_response,
)
from cargohold.proxy.challenges import Challenge, find_challenge, parse_challenges
from cargohold.proxy.failures import Redactor

# --- challenges --------------------------------------------------------------------------------------


def test_docker_hub_challenge() -> None:
    header = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/nginx:pull"'
    )
    (challenge,) = parse_challenges([header])
    assert challenge.scheme == "bearer"
    assert challenge.params == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "repository:library/nginx:pull",
    }


def test_quoted_commas_and_escaped_quotes_stay_inside_the_value() -> None:
    header = (
        r'Bearer realm="https://r.example/token", scope="repository:samalba/my-app:pull,push", x="a\"b,c"'
    )
    (challenge,) = parse_challenges([header])
    assert challenge.get("scope") == "repository:samalba/my-app:pull,push"
    assert challenge.get("x") == 'a"b,c'


def test_several_challenges_in_one_header_and_across_headers() -> None:
    challenges = parse_challenges(
        [
            'Basic realm="basic realm, with comma", Bearer realm="https://t/x",service=svc',
            'NEGOTIATE abc123==, Digest realm="d", nonce="n"',
        ]
    )
    assert [c.scheme for c in challenges] == ["basic", "bearer", "negotiate", "digest"]
    assert challenges[0].get("realm") == "basic realm, with comma"
    assert challenges[1].params == {"realm": "https://t/x", "service": "svc"}
    assert challenges[2].token68 == "abc123=="
    assert challenges[3].params == {"realm": "d", "nonce": "n"}


def test_scheme_and_parameter_names_are_case_insensitive() -> None:
    (challenge,) = parse_challenges(['BeArEr Realm="https://t/x", SERVICE = "svc" ,Error="invalid_token"'])
    assert challenge.scheme == "bearer"
    assert challenge.get("REALM") == "https://t/x"
    assert challenge.get("service") == "svc"
    assert challenge.get("error") == "invalid_token"
    assert find_challenge([challenge], "BEARER") is challenge
    assert find_challenge([challenge], "basic") is None


def test_repeated_scope_parameters_are_joined_with_spaces() -> None:
    (challenge,) = parse_challenges(['Bearer realm="r",scope="repository:a:pull",scope="repository:b:pull"'])
    assert challenge.get("scope") == "repository:a:pull repository:b:pull"


@pytest.mark.parametrize(
    "header",
    ["", ",,,", "=", '"', 'Bearer realm="unterminated', "realm=x", "Bearer ===", "\x00\x01", "Bearer ,=,"],
)
def test_garbage_gives_few_or_no_challenges_never_an_error(header: str) -> None:
    challenges = parse_challenges([header])
    assert all(isinstance(c, Challenge) and c.scheme for c in challenges)


def test_unterminated_quote_takes_the_rest() -> None:
    (challenge,) = parse_challenges(['Bearer realm="https://t/x, service=svc'])
    assert challenge.get("realm") == "https://t/x, service=svc"


_token = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.", min_size=1, max_size=12
)
_value = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=40)


@given(st.lists(st.text(max_size=200), max_size=4))
def test_any_header_text_parses_without_raising(headers: list[str]) -> None:
    for challenge in parse_challenges(headers):
        assert challenge.scheme == challenge.scheme.lower()
        assert all(name == name.lower() for name in challenge.params)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@given(
    st.lists(
        st.tuples(_token, st.dictionaries(_token, _value, min_size=1, max_size=4)), min_size=1, max_size=3
    )
)
def test_quoted_parameters_round_trip(spec: list[tuple[str, dict[str, str]]]) -> None:
    """Challenges written with every value quoted parse back to exactly those schemes and values."""
    text = ", ".join(
        f"{scheme} " + ", ".join(f"{k}={_quote(v)}" for k, v in params.items()) for scheme, params in spec
    )
    parsed = parse_challenges([text])
    assert [c.scheme for c in parsed] == [scheme.lower() for scheme, _ in spec]
    for challenge, (_, params) in zip(parsed, spec, strict=True):
        expected: dict[str, str] = {}
        for name, value in params.items():
            key = name.lower()
            if key == "scope" and key in expected:
                expected[key] = f"{expected[key]} {value}"
            else:
                expected.setdefault(key, value)
        assert challenge.params == expected


# --- token responses ---------------------------------------------------------------------------------


def test_token_or_access_token_and_expires_in() -> None:
    assert parse_token_response(json.dumps({"token": "t1", "expires_in": 300}).encode()) == ("t1", 300.0)
    assert parse_token_response(json.dumps({"access_token": "t2"}).encode()) == ("t2", DEFAULT_EXPIRES_IN_S)
    both = {"token": "t3", "access_token": "t4", "expires_in": "soon"}
    assert parse_token_response(json.dumps(both).encode()) == ("t3", DEFAULT_EXPIRES_IN_S)
    assert parse_token_response(b'{"token": "t", "expires_in": 0}')[1] == DEFAULT_EXPIRES_IN_S


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'{"token": ""}', b'{"token": 5}', b"{}"])
def test_unusable_token_response_is_a_value_error(body: bytes) -> None:
    with pytest.raises(ValueError, match="token"):
        parse_token_response(body)


# --- token cache ---------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_is_renewed_ten_seconds_before_expiry() -> None:
    clock = Clock()
    cache = TokenCache(clock)
    cache.put(("k",), "tok", 60)
    clock.now = 49.9
    assert cache.get(("k",)) == "tok"
    clock.now = 50.0
    assert cache.get(("k",)) is None


def test_short_lived_token_is_used_for_half_its_life() -> None:
    clock = Clock()
    cache = TokenCache(clock)
    cache.put(("k",), "tok", 8)
    clock.now = 3.9
    assert cache.get(("k",)) == "tok"
    clock.now = 4.0
    assert cache.get(("k",)) is None


def test_tokens_are_kept_per_key_and_dropped_only_if_still_current() -> None:
    cache = TokenCache(Clock())
    cache.put(("a",), "ta", 60)
    cache.put(("b",), "tb", 60)
    cache.drop(("a",), "stale-value")
    assert cache.get(("a",)) == "ta"
    cache.drop(("a",), "ta")
    assert cache.get(("a",)) is None
    assert cache.get(("b",)) == "tb"


# --- where credentials may go ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("registry", "realm", "allowed"),
    [
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000/token", True),  # the registry's own origin
        ("http://127.0.0.1:5000", "http://127.0.0.1:5001/token", True),  # its own host, another port
        ("http://127.0.0.1:5000", "http://127.0.0.2:5000/token", False),  # in clear to another host
        ("http://registry.example", "http://auth.example/token", False),
        ("http://registry.example", "https://auth.example/token", True),  # https: the realm proves itself
        ("https://registry.example", "https://auth.example/token", True),
        ("https://registry.example", "http://registry.example/token", False),  # never a downgrade
    ],
)
def test_credentials_go_to_a_realm_over_https_or_in_clear_only_on_the_registrys_host(
    registry: str, realm: str, allowed: bool
) -> None:
    assert credentials_may_go_to(URL(realm), URL(registry)) is allowed


def auth(username: str | None) -> UpstreamAuth:
    password = "pw-secret" if username else None
    return UpstreamAuth(
        "up", URL("http://127.0.0.1:5000"), username=username, password=password, redact=Redactor()
    )


def test_a_plain_http_realm_on_another_host_fails_a_proxy_with_credentials() -> None:
    challenge = 'Bearer realm="http://127.0.0.2:9000/token",service="s"'
    with pytest.raises(UpstreamFailedError) as refused:
        auth("puller").unauthorized([challenge], Attempt(Scheme.NONE), "manifest a:1")
    assert refused.value.kind is FailureKind.PROTOCOL
    assert "http://127.0.0.2:9000/token is plain http" in refused.value.message
    assert "pw-secret" not in refused.value.message


def test_an_anonymous_proxy_may_still_ask_any_realm_for_a_token() -> None:
    anonymous = auth(None)
    anonymous.unauthorized(['Bearer realm="http://127.0.0.2:9000/token"'], Attempt(Scheme.NONE), "m")
