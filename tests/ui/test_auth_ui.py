"""Signing in and out of the web UI, the admin's users screen and everyone's access tokens screen, in a real
browser against a real ``cargohold serve``: every page needs a session; the session cookie is HttpOnly and
SameSite=Strict; ``next`` never leads off the site; failed sign-ins are rate limited with a clear message; a
user sees only the repositories they may use and manages only those they may manage; a deleted user is
signed out at once; a new token's secret is shown once, copies with one click, works, and stops working
when revoked. Saves screenshots of the new screens at laptop and phone widths."""

from __future__ import annotations

import base64
import re
import time
from urllib.parse import quote

from playwright.sync_api import BrowserContext, Page, expect

from tests.support.fixtures import CargoholdFactory
from tests.support.server import ADMIN_PASSWORD
from tests.ui.browser import PHONE, horizontal_overflow, screenshot, sign_in

BOB_PASSWORD = "b0b-browser-passw0rd"
BOB_NEW_PASSWORD = "b0b-changed-passw0rd"
REPOSITORIES = [
    {"name": "test", "visibility": "public", "proxies": []},
    {"name": "vault", "visibility": "private", "proxies": []},
]


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def submit_sign_in(page: Page, user: str, password: str) -> int:
    """Fill and send the password form; the status of the answer."""
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password", exact=True).fill(password)
    with page.expect_response(
        lambda r: r.url.endswith("/ui/signin") and r.request.method == "POST"
    ) as answer:
        page.get_by_role("button", name="Sign in").click()
    return answer.value.status


def test_every_page_needs_a_session_and_signing_in_and_out_works(
    cargohold_factory: CargoholdFactory, browser: BrowserContext, page: Page
) -> None:
    server = cargohold_factory(REPOSITORIES)
    for path in ("/ui/", "/ui/users", "/ui/tokens", "/ui/repositories/test", "/ui/repositories/nope/images"):
        page.goto(server.url + path)
        expect(page).to_have_url(re.compile(r"/ui/signin(\?next=.*)?$"))
    page.goto(f"{server.url}/ui/repositories/test/images?x=1")
    expect(page).to_have_url(f"{server.url}/ui/signin?next=%2Fui%2Frepositories%2Ftest%2Fimages%3Fx%3D1")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to cargohold")
    expect(page.get_by_role("link", name="Repositories")).to_have_count(0)  # no navigation before signing in
    screenshot(page, "signin-1280")

    assert submit_sign_in(page, "admin", "not-the-password") == 401
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    expect(page.get_by_label("User name")).to_have_value("admin")
    expect(page.get_by_label("Password", exact=True)).to_have_value("")
    screenshot(page, "signin-error-1280")
    assert submit_sign_in(page, "nobody", "not-the-password") == 401
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")  # the same words

    submit_sign_in(page, "admin", ADMIN_PASSWORD)
    expect(page).to_have_url(f"{server.url}/ui/repositories/test/images?x=1")  # back where they were going
    expect(page.locator("[data-signed-in]")).to_have_text("admin")
    session = next(c for c in browser.cookies() if c["name"] == "cargohold_session")
    assert session["httpOnly"]
    assert session["sameSite"] == "Strict"
    assert not session["secure"]  # the public URL is plain http here
    assert session["path"] == "/ui"
    assert time.time() + 3600 < session["expires"] < time.time() + 2 * 86400
    assert ADMIN_PASSWORD not in session["value"]

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{server.url}/ui/signin")
    expect(page.get_by_role("status")).to_contain_text("You are signed out.")
    assert not [c for c in browser.cookies() if c["name"] == "cargohold_session"]
    page.goto(f"{server.url}/ui/")
    expect(page).to_have_url(f"{server.url}/ui/signin")

    # a session value that was not signed by this server is no session
    browser.add_cookies([{**session, "value": session["value"][:-4] + "AAAA"}])
    page.goto(f"{server.url}/ui/tokens")
    expect(page).to_have_url(re.compile(r"/ui/signin\?next="))

    # next never leads away from the UI
    for target in ("https://evil.example/x", "//evil.example/x", "/\\evil.example", "/api/v1/users"):
        page.goto(f"{server.url}/ui/signin?next={quote(target, safe='')}")
        submit_sign_in(page, "admin", ADMIN_PASSWORD)
        expect(page).to_have_url(f"{server.url}/ui/")
        page.get_by_role("button", name="Sign out").click()


def test_failed_sign_ins_are_rate_limited_with_a_clear_message(
    cargohold_factory: CargoholdFactory, page: Page
) -> None:
    server = cargohold_factory(REPOSITORIES)
    page.goto(f"{server.url}/ui/signin")
    statuses = []
    for _ in range(60):
        statuses.append(submit_sign_in(page, "admin", "wrong-password"))
        if statuses[-1] == 429:
            break
    assert statuses[-1] == 429, statuses
    assert set(statuses[:-1]) == {401}
    expect(page.get_by_role("alert")).to_contain_text("Too many failed sign-ins. Wait")
    screenshot(page, "signin-rate-limited-1280")
    assert submit_sign_in(page, "admin", ADMIN_PASSWORD) == 429  # even the right password waits
    expect(page.get_by_role("alert")).to_contain_text("Too many failed sign-ins")


def test_the_users_screen_and_what_a_user_may_see(
    cargohold_factory: CargoholdFactory, page: Page, second_browser: BrowserContext
) -> None:
    server = cargohold_factory(REPOSITORIES)
    sign_in(page, server.url)
    page.get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Users")
    page.get_by_label("User name").fill("bob")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_role("button", name="Add user").click()
    expect(page.locator("#password-error")).to_be_visible()
    expect(page.get_by_label("Password", exact=True)).to_have_value("")
    page.get_by_label("Password", exact=True).fill(BOB_PASSWORD)
    page.get_by_role("button", name="Add user").click()
    expect(page).to_have_url(f"{server.url}/ui/users/bob")
    expect(page.get_by_role("status")).to_contain_text("User bob created")

    bob = second_browser.new_page()
    sign_in(bob, server.url, "bob", BOB_PASSWORD)
    expect(bob.get_by_role("link", name="Users")).to_have_count(0)
    expect(bob.get_by_role("link", name="New repository")).to_have_count(0)
    expect(bob.get_by_role("link", name="test")).to_be_visible()  # public: everyone may pull
    expect(bob.get_by_role("link", name="vault")).to_have_count(0)  # private and not granted
    bob.goto(f"{server.url}/ui/repositories/vault")
    expect(bob.get_by_role("heading", level=1)).to_have_text("Not found")
    bob.goto(f"{server.url}/ui/users")
    expect(bob.get_by_role("heading", level=1)).to_have_text("Not allowed")

    page.get_by_label("Repository", exact=True).select_option("vault")
    page.get_by_label("Permission", exact=True).select_option("read")
    page.get_by_role("button", name="Grant").click()
    expect(page.get_by_role("status")).to_contain_text("bob has the read permission on vault now.")
    screenshot(page, "user-1280")

    bob.goto(f"{server.url}/ui/")
    row = bob.get_by_role("row").filter(has_text="vault")
    expect(row).to_contain_text("read only")
    row.get_by_role("link", name="vault").click()
    expect(bob.get_by_role("note")).to_contain_text("Read only.")
    expect(bob.get_by_role("link", name="Add proxy")).to_have_count(0)
    expect(bob.get_by_role("link", name="Settings")).to_have_count(0)
    screenshot(bob, "repository-read-only-1280")
    bob.goto(f"{server.url}/ui/repositories/vault/settings")
    expect(bob.get_by_role("heading", level=1)).to_have_text("Not allowed")
    token = bob.locator('input[name="csrf_token"]').first.get_attribute("value")
    assert token
    refused = bob.request.post(
        f"{server.url}/ui/repositories/vault/purge", form={"csrf_token": token}, max_redirects=0
    )
    assert refused.status == 403

    # admin of vault: now bob manages it (and only it)
    page.locator('[data-grant="vault"]').get_by_label("Permission on vault").select_option("admin")
    page.locator('[data-grant="vault"]').get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("admin permission on vault")
    bob.goto(f"{server.url}/ui/repositories/vault")
    expect(bob.get_by_role("note")).to_contain_text("Managed by the configuration file")  # what managers see
    expect(bob.get_by_role("link", name="Settings")).to_be_visible()

    page.get_by_role("switch", name="Administrator").click()
    expect(page.get_by_role("status")).to_contain_text("bob is an administrator now.")
    bob.goto(f"{server.url}/ui/")
    expect(bob.get_by_role("link", name="Users")).to_be_visible()
    page.get_by_role("switch", name="Administrator").click()
    expect(page.get_by_role("status")).to_contain_text("bob is no administrator now.")

    page.locator('[data-grant="vault"]').get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_contain_text("bob has no permission on vault now.")
    bob.goto(f"{server.url}/ui/")
    expect(bob.get_by_role("link", name="vault")).to_have_count(0)

    page.goto(f"{server.url}/ui/users")
    expect(page.locator('[data-user="bob"]')).to_contain_text("none")
    screenshot(page, "users-1280")
    page.set_viewport_size(PHONE)
    assert horizontal_overflow(page) <= 0
    screenshot(page, "users-390")
    page.goto(f"{server.url}/ui/users/bob")
    assert horizontal_overflow(page) <= 0
    screenshot(page, "user-390")
    page.set_viewport_size({"width": 1280, "height": 800})

    # a password change ends bob's sessions at once; the new password starts a new one
    changed = page.request.patch(
        f"{server.url}/api/v1/users/bob",
        data={"password": BOB_NEW_PASSWORD},
        headers={"Authorization": basic_auth("admin", ADMIN_PASSWORD)},
    )
    assert changed.status == 200
    bob.goto(f"{server.url}/ui/")
    expect(bob).to_have_url(f"{server.url}/ui/signin")
    sign_in(bob, server.url, "bob", BOB_NEW_PASSWORD)
    expect(bob.locator("[data-signed-in]")).to_have_text("bob")

    page.get_by_label("Type bob to confirm").fill("bob")
    page.get_by_role("button", name="Delete user").click()
    expect(page.get_by_role("status")).to_contain_text("User bob deleted")
    expect(page.locator('[data-user="bob"]')).to_have_count(0)
    bob.goto(f"{server.url}/ui/")
    expect(bob).to_have_url(f"{server.url}/ui/signin")  # a deleted user is signed out at once

    # an admin cannot lock themselves out here
    page.goto(f"{server.url}/ui/users/admin")
    expect(page.get_by_role("switch", name="Administrator")).to_be_disabled()
    expect(page.get_by_role("button", name="Delete user")).to_have_count(0)
    assert ADMIN_PASSWORD not in page.content()
    assert BOB_PASSWORD not in page.content()


def test_the_tokens_screen_shows_a_new_secret_once_and_a_revoked_token_stops_working(
    cargohold_factory: CargoholdFactory, browser: BrowserContext, page: Page
) -> None:
    server = cargohold_factory(REPOSITORIES)
    browser.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    sign_in(page, server.url)
    page.get_by_role("link", name="Access tokens").click()
    expect(page.get_by_role("heading", level=2, name="No access tokens yet")).to_be_visible()
    screenshot(page, "tokens-empty-1280")

    page.get_by_label("Name", exact=True).fill("laptop")
    page.get_by_label("Expires after").select_option("30")
    page.get_by_role("button", name="Create token").click()
    field = page.get_by_label("New access token")
    secret = field.input_value()
    assert re.fullmatch(r"cgh_[A-Za-z0-9_-]{43}", secret), secret
    expect(page.get_by_text("not shown again")).to_be_visible()
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("[data-copy-label]")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    row = page.locator('[data-token="laptop"]')
    expect(row).to_contain_text("active")
    screenshot(page, "tokens-created-1280")
    page.set_viewport_size(PHONE)
    assert horizontal_overflow(page) <= 0
    screenshot(page, "tokens-created-390")
    page.set_viewport_size({"width": 1280, "height": 800})

    page.get_by_label("Name", exact=True).fill("laptop")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#name-error")).to_contain_text("already have a token with this name")

    page.goto(f"{server.url}/ui/tokens")
    assert secret not in page.content()  # shown once: never again

    # the token signs in (alone, or as the password)
    page.get_by_role("button", name="Sign out").click()
    sign_in_with_token(page, secret)
    expect(page.locator("[data-signed-in]")).to_have_text("admin")
    screenshot(page, "repositories-signed-in-with-token-1280")
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, server.url, "admin", secret)

    page.goto(f"{server.url}/ui/tokens")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator('[data-token="laptop"]').get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_contain_text("Access token laptop revoked")
    expect(page.locator('[data-token="laptop"]')).to_contain_text("revoked")
    expect(page.locator('[data-token="laptop"]').get_by_role("button", name="Revoke")).to_have_count(0)
    screenshot(page, "tokens-1280")
    page.set_viewport_size(PHONE)
    assert horizontal_overflow(page) <= 0
    screenshot(page, "tokens-390")

    page.get_by_role("button", name="Sign out").click()
    sign_in_with_token(page, secret)
    expect(page.get_by_role("alert")).to_have_text("That access token does not work.")
    page.get_by_role("link", name="Password").click()
    assert submit_sign_in(page, "admin", secret) == 401  # nor as a password
    screenshot(page, "signin-390")


def sign_in_with_token(page: Page, secret: str) -> None:
    page.get_by_role("link", name="Access token").click()
    page.get_by_label("Access token").fill(secret)
    page.get_by_role("button", name="Sign in").click()
