"""Fake model servers speaking the real wire protocols on 127.0.0.1, for tests of the real clients."""

from fakes.anthropic_server import FakeAnthropic, Message
from fakes.base import ErrorReply, FakeServer, Recorded
from fakes.openai_server import Completion, FakeOpenAI

__all__ = ["Completion", "ErrorReply", "FakeAnthropic", "FakeOpenAI", "FakeServer", "Message", "Recorded"]
