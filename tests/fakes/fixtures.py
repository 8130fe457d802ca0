"""pytest fixtures for the fake model servers (loaded for every test by ``pytest_plugins`` in conftest).

- ``fake_anthropic`` / ``fake_openai``: a started server, stopped after the test.
- ``anthropic_env`` / ``openai_env``: those servers wired in through the real environment variables
  (``ANTHROPIC_API_KEY`` + ``ANTHROPIC_BASE_URL``, ``OPENAI_API_KEY`` + ``OPENAI_BASE_URL``), set with
  monkeypatch and also returned as a dict for ``resolve_model(..., environ=...)``.
- ``allow_model_requests``: lifts conftest's ``ALLOW_MODEL_REQUESTS = False`` for one test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic_ai.models import override_allow_model_requests

from fakes.anthropic_server import FakeAnthropic
from fakes.openai_server import FakeOpenAI

ANTHROPIC_TEST_KEY = "sk-ant-fake-key-for-tests"
OPENAI_TEST_KEY = "sk-fake-key-for-tests"


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def anthropic_env(fake_anthropic: FakeAnthropic, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {"ANTHROPIC_API_KEY": ANTHROPIC_TEST_KEY, "ANTHROPIC_BASE_URL": fake_anthropic.url}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def openai_env(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {"OPENAI_API_KEY": OPENAI_TEST_KEY, "OPENAI_BASE_URL": fake_openai.base_url}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def allow_model_requests() -> Iterator[None]:
    with override_allow_model_requests(True):
        yield
