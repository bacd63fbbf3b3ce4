"""Per-request dependencies: everything comes from ``app.state`` (set by ``create_app``)."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from sqlalchemy.orm import Session, sessionmaker

from citywatch.api.hub import EventHub
from citywatch.api.settings import ApiSettings
from citywatch.config.root import CitywatchConfig
from citywatch.store.media import MediaStore


def get_session(request: Request) -> Iterator[Session]:
    """A database session for this request; closed when the response is done.

    Services commit or roll back their own unit of work."""
    factory: sessionmaker[Session] = request.app.state.sessions
    with factory() as session:
        yield session


def get_media(request: Request) -> MediaStore:
    media: MediaStore = request.app.state.media
    return media


def get_config(request: Request) -> CitywatchConfig:
    config: CitywatchConfig = request.app.state.config
    return config


def get_settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


def get_hub(request: Request) -> EventHub:
    hub: EventHub = request.app.state.hub
    return hub
