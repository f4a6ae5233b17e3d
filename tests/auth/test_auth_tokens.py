"""Registry JWTs: scope parsing (names with slashes, junk dropped, never an exception), issuing, and
verification that refuses every token it did not issue unchanged and in time."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cargohold.auth.principal import Principal
from cargohold.auth.secrets import SecretBox
from cargohold.auth.tokens import RegistryTokens, RequestedScope, parse_scopes
from cargohold.errors import UnauthorizedError

KEY = b"k" * 32
ALICE = Principal(name="alice")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def tokens(clock: Clock | None = None, key: bytes = KEY) -> RegistryTokens:
    return RegistryTokens(key, clock=clock or Clock())


# --- scopes -------------------------------------------------------------------------------------------


def test_repository_scopes_with_slashes_and_several_actions() -> None:
    assert parse_scopes(["repository:hub/library/nginx:pull,push"]) == [
        RequestedScope("repository", "hub/library/nginx", frozenset({"pull", "push"}))
    ]
    assert parse_scopes(["repository:docker.io/library/nginx:pull"])[0].name == "docker.io/library/nginx"
    assert parse_scopes(["repository(plugin):hub/x:pull"])[0].type == "repository"
    assert parse_scopes(["repository:hub/x:*"])[0].actions == frozenset({"*"})


def test_catalog_scope() -> None:
    assert parse_scopes(["registry:catalog:*"]) == [RequestedScope("registry", "catalog", frozenset({"*"}))]


def test_repeated_scopes_merge_their_actions() -> None:
    assert parse_scopes(["repository:hub/a:pull", "repository:hub/a:push", "repository:hub/b:pull"]) == [
        RequestedScope("repository", "hub/a", frozenset({"pull", "push"})),
        RequestedScope("repository", "hub/b", frozenset({"pull"})),
    ]


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "repository",
        "repository:hub/x",
        "repository::pull",
        "repository:hub/x:",
        "repository:hub/x:fly",
        "repository:Hub/X:pull",
        "repository:hub/../x:pull",
        "repository:hub/%2e%2e:pull",
        "repository:hub/x\x00:pull",
        "repository:" + "a/" * 200 + "b:pull",
        "registry:users:*",
        "registry:catalog:pull",
        "unknown:hub/x:pull",
    ],
)
def test_junk_scopes_are_dropped(junk: str) -> None:
    assert parse_scopes([junk, "repository:hub/x:pull"]) == [
        RequestedScope("repository", "hub/x", frozenset({"pull"}))
    ]


@given(st.lists(st.one_of(st.text(), st.from_regex(r"repository:[a-z0-9/:._-]{0,40}:[a-z,*]{0,20}"))))
def test_any_input_parses_without_raising_into_well_formed_scopes(raw: list[str]) -> None:
    for scope in parse_scopes(raw):
        assert scope.type in {"repository", "registry"}
        assert scope.actions
        assert scope.actions <= {"pull", "push", "delete", "*"}
        assert scope.name


@given(
    st.lists(st.from_regex(r"[a-z0-9]+(?:[._-][a-z0-9]+)*", fullmatch=True), min_size=1, max_size=5),
    st.sets(st.sampled_from(["pull", "push", "delete"]), min_size=1),
)
def test_valid_scopes_round_trip(components: list[str], actions: set[str]) -> None:
    name = "/".join(components)
    if len(name) > 255:
        return
    assert parse_scopes([f"repository:{name}:{','.join(sorted(actions))}"]) == [
        RequestedScope("repository", name, frozenset(actions))
    ]


# --- issue and verify -----------------------------------------------------------------------------------


def test_issued_token_carries_its_claims_and_verifies_to_a_scoped_principal() -> None:
    clock = Clock()
    issuer = tokens(clock)
    issued = issuer.issue(ALICE, [("hub/app", frozenset({"pull", "push"})), ("hub/none", frozenset())])
    assert issued.expires_in == 300
    assert issued.issued_at == clock.now
    claims = jwt.decode(
        issued.token,
        KEY,
        algorithms=["HS256"],
        audience="cargohold",
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    assert claims["iss"] == "cargohold"
    assert claims["sub"] == "alice"
    assert claims["exp"] - claims["iat"] == 300
    assert claims["nbf"] == claims["iat"]
    assert claims["jti"]
    assert claims["access"] == [
        {"type": "repository", "name": "hub/app", "actions": ["pull", "push"]},
        {"type": "registry", "name": "catalog", "actions": ["*"]},
    ]
    principal = issuer.verify(issued.token)
    assert principal == Principal(
        name="alice", token_scopes=frozenset({("hub/app", "pull"), ("hub/app", "push")})
    )
    assert not principal.is_admin


def test_anonymous_token_has_an_empty_subject() -> None:
    issuer = tokens()
    principal = issuer.verify(issuer.issue(Principal(name=None), [("hub/app", frozenset({"pull"}))]).token)
    assert principal.anonymous
    assert principal.token_scopes == frozenset({("hub/app", "pull")})


def test_each_token_is_distinct() -> None:
    issuer = tokens()
    assert issuer.issue(ALICE, []).token != issuer.issue(ALICE, []).token


def test_expired_and_not_yet_valid_tokens_are_refused() -> None:
    clock = Clock()
    issuer = tokens(clock)
    token = issuer.issue(ALICE, []).token
    clock.now += timedelta(seconds=300 + 6)
    with pytest.raises(UnauthorizedError) as expired:
        issuer.verify(token)
    assert expired.value.detail == {"reason": "expired"}
    clock.now -= timedelta(seconds=2 * 300)
    future = issuer.issue(ALICE, []).token
    clock.now -= timedelta(seconds=60)
    with pytest.raises(UnauthorizedError):
        tokens(clock).verify(future)


def test_key_comes_from_the_secret_box(tmp_path: object) -> None:
    from pathlib import Path

    box = SecretBox.load_or_create(Path(str(tmp_path)), None)
    first, second = RegistryTokens.from_secrets(box), RegistryTokens.from_secrets(box)
    token = first.issue(ALICE, []).token
    assert second.verify(token).name == "alice"
    other = RegistryTokens.from_secrets(SecretBox.load_or_create(Path(str(tmp_path)) / "other", None))
    with pytest.raises(UnauthorizedError):
        other.verify(token)


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _claims(issuer: RegistryTokens) -> dict[str, object]:
    token = issuer.issue(ALICE, [("hub/app", frozenset({"pull"}))]).token
    decoded: dict[str, object] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def test_alg_none_and_other_algorithms_are_refused() -> None:
    issuer = tokens()
    claims = _claims(issuer)
    unsigned = _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(claims) + "."
    with pytest.raises(UnauthorizedError):
        issuer.verify(unsigned)
    hs512 = jwt.encode(claims, KEY * 2, algorithm="HS512")
    with pytest.raises(UnauthorizedError):
        issuer.verify(hs512)


@pytest.mark.parametrize(
    "change",
    [
        {"sub": "root"},
        {"aud": "someone-else"},
        {"iss": "someone-else"},
        {"exp": 4_102_444_800},
        {"access": [{"type": "repository", "name": "hub/app", "actions": ["pull", "push", "delete"]}]},
    ],
)
def test_modified_claims_under_the_original_signature_are_refused(change: dict[str, object]) -> None:
    issuer = tokens()
    header, _, signature = issuer.issue(ALICE, [("hub/app", frozenset({"pull"}))]).token.split(".")
    with pytest.raises(UnauthorizedError):
        issuer.verify(f"{header}.{_b64({**_claims(issuer), **change})}.{signature}")


@pytest.mark.parametrize(
    "change",
    [
        {"aud": "someone-else"},
        {"iss": "someone-else"},
        {"access": "everything"},
        {"access": [{"type": "repository", "name": 3, "actions": ["pull"]}]},
        {"access": [{"type": "repository", "name": "x", "actions": [1]}]},
        {"access": [{"type": "repository", "name": "x", "actions": "pull"}]},
        {"access": [["repository", "x", "pull"]]},
        {"sub": 42},
        {"jti": None},
        {"exp": "never"},
        {"iat": True},
    ],
)
def test_claims_of_the_wrong_audience_issuer_or_shape_are_refused_even_when_signed(
    change: dict[str, object],
) -> None:
    issuer = tokens()
    with pytest.raises(UnauthorizedError):
        issuer.verify(jwt.encode({**_claims(issuer), **change}, KEY, algorithm="HS256"))


@pytest.mark.parametrize("missing", ["iss", "aud", "sub", "iat", "nbf", "exp", "jti", "access"])
def test_every_claim_is_required(missing: str) -> None:
    issuer = tokens()
    claims = {k: v for k, v in _claims(issuer).items() if k != missing}
    with pytest.raises(UnauthorizedError):
        issuer.verify(jwt.encode(claims, KEY, algorithm="HS256"))


@given(st.binary(min_size=32, max_size=64).filter(lambda key: key != KEY))
def test_a_token_signed_with_any_other_key_is_refused(other_key: bytes) -> None:
    issuer = tokens()
    forged = jwt.encode(_claims(issuer), other_key, algorithm="HS256")
    with pytest.raises(UnauthorizedError):
        issuer.verify(forged)


@given(st.data())
def test_any_change_to_a_token_is_refused(data: st.DataObject) -> None:
    issuer = tokens()
    token = issuer.issue(ALICE, [("hub/app", frozenset({"pull"}))]).token
    position = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    )
    tampered = token[:position] + replacement + token[position + 1 :]
    if tampered == token:
        return
    try:
        principal = issuer.verify(tampered)
    except UnauthorizedError:
        return
    # Base64url's last character may carry unused bits: a change there can decode to the same bytes.
    assert principal == issuer.verify(token)


@given(st.text(max_size=300))
def test_garbage_is_refused_with_the_domain_error(garbage: str) -> None:
    with pytest.raises(UnauthorizedError):
        tokens().verify(garbage)


def test_oversized_token_is_refused_unread() -> None:
    with pytest.raises(UnauthorizedError):
        tokens().verify("a" * 10_000)


def test_a_token_verified_before_still_expires_and_its_tampered_copies_stay_invalid() -> None:
    clock = Clock()
    registry = tokens(clock)
    token = registry.issue(ALICE, [("hub/app", frozenset({"pull"}))]).token
    assert registry.verify(token).name == "alice"
    assert registry.verify(token).name == "alice"  # the second use is answered from what was checked
    header, payload, signature = token.split(".")
    with pytest.raises(UnauthorizedError):
        registry.verify(f"{header}.{payload}.{signature[:-2]}AA")
    clock.now += timedelta(hours=1)
    with pytest.raises(UnauthorizedError) as expired:
        registry.verify(token)
    assert expired.value.detail == {"reason": "expired"}
