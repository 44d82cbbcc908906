"""A real shouzhen server in a subprocess, demo consults booked through its CLI, and Debian's
chromium driven by Playwright with fake camera and microphone: a physician at a desk and a
guardian on a phone."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.browser import csp_waits

csp_waits.install()  # the pages' CSP forbids eval: Playwright's waits must not need it

PROJECT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--no-sandbox",
    "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-quic", "--no-first-run",
]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2}
DESK = {"viewport": {"width": 1366, "height": 800}}

# Inbound RTP counters of this page's peer connection with the server.
STATS_JS = """async () => {
  const pc = window.__shouzhen && window.__shouzhen.pc;
  if (!pc) return null;
  const out = {ice: pc.iceConnectionState, audio: null, video: null};
  (await pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp") out[s.kind] = {
      packets: s.packetsReceived || 0, frames: s.framesDecoded || 0, bytes: s.bytesReceived || 0};
  });
  return out;
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    url: str
    port: int
    data_dir: Path
    admin_key: str

    def api(self, method: str, path: str, body: Any = None, *, token: str | None = None) -> Any:
        """One JSON request to the server (the admin key unless `token` is given)."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {token or self.admin_key}",
                   "Content-Type": "application/json", "Accept": "application/json"}
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                text = response.read()
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{method} {path}: {error.code} {error.read()[:500]!r}") from None
        return json.loads(text) if text else None

    def book_consult(self, specialty: str, *, birth_date: str = "2022-05-20") -> dict[str, str]:
        """A consult of any specialty, booked through the admin API for a new whitelisted
        physician (the demo consult is dermatology): its id and both join links."""
        physician = self.api("POST", "/api/physicians", {
            "licence_number": f"BR{secrets.token_hex(5)}", "name": "王医生", "department": "儿科",
            "title": "attending", "independent_practice_since": "2015-09-01",
            "internet_consults_since": "2023-03-01", "training_exam_passed_on": "2025-06-15",
            "specialties": ["growth_development", "nutrition", "dermatology"]})
        self.api("POST", f"/api/physicians/{physician['id']}/whitelist-status",
                 {"status": "active", "reason": "browser test"})
        booked = self.api("POST", "/api/consults", {
            "physician_id": physician["id"], "specialty": specialty,
            "child": {"name": "李小宝", "sex": "female", "birth_date": birth_date},
            "guardian": {"name": "李妈妈", "relationship": "mother", "phone": "13800138000"},
            "scheduled_start": datetime.now(UTC).isoformat(), "window_minutes": 120})
        links = booked["join_links"]
        return {"id": booked["consult"]["id"], "physician": links["physician"],
                "guardian": links["guardian"]}

    def book_demo_consult(self) -> dict[str, str]:
        """`shouzhen demo`: a dermatology consult for the demo physician; both join links."""
        env = {**os.environ, "SHOUZHEN_PORT": str(self.port)}
        done = subprocess.run(
            [sys.executable, "-m", "server", "--data-dir", str(self.data_dir), "demo"],
            cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60, check=True)
        physician = re.search(r"physician\b.*?(http\S+/join#\S+)", done.stdout)
        guardian = re.search(r"guardian\b.*?(http\S+/join#\S+)", done.stdout)
        assert physician and guardian, done.stdout
        return {"physician": physician.group(1), "guardian": guardian.group(1)}


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("shouzhen-browser")
    port = _free_port()
    admin_key = secrets.token_urlsafe(24)
    log = (data_dir / "server.log").open("wb")
    # A short grace period keeps a failed reconnect test from hanging for a minute.
    # A known admin key: some tests book consults through the admin API.
    env = {**os.environ, "SHOUZHEN_RECONNECT_GRACE_SECONDS": "30", "SHOUZHEN_LOG_LEVEL": "WARNING",
           "SHOUZHEN_ADMIN_KEYS": f"browser-tests:{admin_key}"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "--data-dir", str(data_dir), "serve",
         "--port", str(port)], cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited: {(data_dir / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                    if json.load(response)["status"] == "ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("server did not answer /healthz within 30 s")
            time.sleep(0.2)
        yield Server(url, port, data_dir, admin_key)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def consult(server: Server) -> dict[str, str]:
    return server.book_demo_consult()


@contextlib.asynccontextmanager
async def _chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with _chromium() as launched:
        yield launched


@pytest.fixture
async def phone_browser() -> AsyncIterator[Browser]:
    """The guardian's phone is another device: a browser process of its own. (Pages of one
    Chromium share its fake camera, which then runs at the format the first page opened it
    with: a phone reopening its camera at full resolution for a photo would not get it.)"""
    async with _chromium() as launched:
        yield launched


class Party:
    """One participant's page, with the waits and readings the tests need."""

    def __init__(self, name: str, context: BrowserContext, page: Page) -> None:
        self.name, self.context, self.page = name, context, page
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", lambda message: message.type in ("error", "warning")
                and self.errors.append(f"console {message.type}: {message.text}"))

    async def screen(self, name: str, timeout_s: float = 15) -> None:
        await self.page.wait_for_function(
            "name => window.__shouzhen && window.__shouzhen.state === name", arg=name,
            timeout=timeout_s * 1000)

    async def stats(self) -> dict[str, Any] | None:
        result: dict[str, Any] | None = await self.page.evaluate(STATS_JS)
        return result

    async def screenshot(self, name: str, *, full_page: bool = False) -> Path:
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=full_page)
        return path


@pytest.fixture
async def physician(browser: Browser) -> AsyncIterator[Party]:
    context = await browser.new_context(locale="zh-CN", **DESK)
    yield Party("physician", context, await context.new_page())
    await context.close()


@pytest.fixture
async def guardian(phone_browser: Browser) -> AsyncIterator[Party]:
    context = await phone_browser.new_context(locale="zh-CN", **PHONE)
    yield Party("guardian", context, await context.new_page())
    await context.close()


# -- the way into a call, shared by the tests --------------------------------------------

async def wait_for(probe, predicate, timeout_s: float, what: str):
    """Poll `probe()` until `predicate(value)`; fail with the last value seen."""
    deadline = time.monotonic() + timeout_s
    value = None
    while time.monotonic() < deadline:
        value = await probe()
        if value is not None and predicate(value):
            return value
        await asyncio.sleep(0.5)
    pytest.fail(f"{what}: not reached in {timeout_s} s; last value {value!r}")


def media_flows(stats) -> bool:
    return bool(stats and stats["video"] and stats["video"]["frames"] > 0
                and stats["audio"] and stats["audio"]["packets"] > 0)


async def meet_in_call(physician, guardian, consult, *, screenshots: bool = False) -> None:
    """Both parties through the UI, up to a call with media flowing both ways."""
    await guardian.page.goto(consult["guardian"])
    await physician.page.goto(consult["physician"])
    await guardian.screen("notice")
    # The token left the address bar: a copied URL does not carry the link.
    assert "#" not in guardian.page.url
    await physician.screen("lobby")

    await guardian.page.click("#notice-accept")
    await guardian.screen("intake")
    form = guardian.page.locator(".intake-form")
    await form.locator(".site-row select").nth(0).select_option("cheek")
    await form.locator(".site-row select").nth(1).select_option("left")
    await form.get_by_label("出现多久了").fill("5")
    await form.get_by_text("瘙痒").click()
    await form.get_by_text("发热").click()
    await form.locator("textarea").first.fill("炉甘石洗剂")
    await form.locator("button[type=submit]").click()

    await guardian.screen("precheck")
    await guardian.page.click("#precheck-slot button.primary")
    await guardian.page.wait_for_function(
        "document.querySelector('#precheck-slot video').videoWidth > 0", timeout=10_000)
    await guardian.page.click("#join-button")
    await guardian.screen("waiting")

    # The physician sees who waits, and the intake as submitted, before admitting.
    await physician.page.wait_for_function(
        "!document.getElementById('admit-button').disabled", timeout=15_000)
    assert "李妈妈" in await physician.page.text_content("#lobby-waiting")
    # The intake is read again when the guardian arrives (it was empty when the lobby opened).
    await physician.page.wait_for_function(
        "document.getElementById('lobby-intake').textContent.includes('面颊')", timeout=10_000)
    intake = await physician.page.text_content("#lobby-intake")
    assert "面颊" in intake and "左侧" in intake and "瘙痒" in intake and "发热" in intake
    if screenshots:
        await guardian.screenshot("guardian-waiting-room")
        await physician.screenshot("physician-lobby")

    await physician.page.click("#admit-button")
    await physician.screen("call")
    await guardian.screen("call")
    await wait_for(physician.stats, media_flows, 20, "physician receives the guardian")
    await wait_for(guardian.stats, media_flows, 20, "guardian receives the physician")


@pytest.fixture
def meet():
    """`await meet(physician, guardian, consult)`: both through the UI into a flowing call."""
    return meet_in_call


@pytest.fixture
def poll():
    """`await poll(probe, predicate, timeout_s, what)`."""
    return wait_for
