"""Waiting for a condition in a page whose Content-Security-Policy forbids eval.

Playwright's ``Page.wait_for_function`` polls inside the page with ``eval``, which the pages'
CSP (``script-src 'self'``, no ``'unsafe-eval'``) rightly refuses. ``Page.evaluate`` goes
through the DevTools protocol, which a page's CSP does not govern — so the same wait is
done here by evaluating the predicate from the test side until it holds. The pages keep
their real CSP in every browser test: a violation still shows up as a console error."""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import Page
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

POLL_S = 0.05
DEFAULT_TIMEOUT_MS = 30_000


async def wait_by_evaluating(page: Page, expression: str, *, arg: Any = None,
                             timeout: float | None = None,  # noqa: ASYNC109 (Playwright's)
                             ) -> Any:
    """``page.wait_for_function(expression, arg=…, timeout=…)`` without eval in the page."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (DEFAULT_TIMEOUT_MS if timeout is None else timeout) / 1000
    while True:
        value = await page.evaluate(expression, arg)
        if value:
            return value
        if loop.time() > deadline:
            raise PlaywrightTimeoutError(f"waiting for {expression[:120]!r} timed out")
        await asyncio.sleep(POLL_S)


def install() -> None:
    """Every Page's ``wait_for_function`` waits by evaluating (for the whole test session)."""
    async def wait_for_function(self: Page, expression: str, *, arg: Any = None,
                                timeout: float | None = None,  # noqa: ASYNC109
                                polling: Any = None) -> Any:
        return await wait_by_evaluating(self, expression, arg=arg, timeout=timeout)

    Page.wait_for_function = wait_for_function  # type: ignore[method-assign,assignment]
