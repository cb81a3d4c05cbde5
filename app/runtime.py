"""What the channels of one ``python main.py run`` share (each channel's ``start_x(rt)``
registers its messenger, loops, web routes and clean-up here)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.routing import BaseRoute

from app.host import App
from dialogs.kernel.dispatcher import Dispatcher

Loop = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


@dataclass
class Runtime:
    """What the channels of one ``run`` share: the app, the stop signal, loops and routes."""

    app: App
    stop: asyncio.Event
    dispatcher: Dispatcher
    loops: list[tuple[str, Loop]] = field(default_factory=list)
    routes: list[BaseRoute] = field(default_factory=list)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    wants_web: bool = False

    def wake_dispatcher(self) -> None:
        """New intents are in the outbox: deliver now instead of at the next poll."""
        self.dispatcher.wakeup.set()

    def add_loop(self, name: str, loop: Loop) -> None:
        self.loops.append((name, loop))

    def add_routes(self, routes: list[BaseRoute]) -> None:
        """Extra web routes; adding any starts the web server."""
        self.routes.extend(routes)
        self.wants_web = True

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        self.closers.append(closer)


class ChannelHost(Protocol):
    """The part of :class:`Runtime` a channel's ``start_x`` uses (tests pass a smaller one)."""

    app: App

    @property
    def dispatcher(self) -> Dispatcher: ...

    def add_routes(self, routes: list[BaseRoute]) -> None: ...

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None: ...
