"""Shared test set-up: CPU only, few threads, no network."""
import os
import socket

import pytest
import torch

os.environ.setdefault("INPAINTLIB_PROFILE", "quick")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def no_network(monkeypatch):
    """Make any attempt to open a network connection fail loudly."""

    def refuse(*args, **kwargs):
        raise OSError("network access is disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return refuse
