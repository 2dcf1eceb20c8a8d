"""Profiles: selection by argument, environment variable and machine default."""
import pytest
import torch

from inpaintlib.profiles import PROFILES, get_profile


def test_three_profiles_with_growing_sizes():
    assert list(PROFILES) == ["quick", "workshop", "paper"]
    q, w, p = (PROFILES[n] for n in PROFILES)
    assert q.image_size == 64 and w.image_size == 256 and p.image_size == 256
    assert q.max_steps < w.max_steps and p.max_steps is None
    assert q.width < 1 and w.width == 1 and p.width == 1


def test_argument_wins_over_environment(monkeypatch):
    monkeypatch.setenv("INPAINTLIB_PROFILE", "paper")
    assert get_profile("workshop").name == "workshop"
    assert get_profile().name == "paper"


def test_environment_is_case_insensitive(monkeypatch):
    monkeypatch.setenv("INPAINTLIB_PROFILE", " Quick ")
    assert get_profile().name == "quick"


def test_machine_default(monkeypatch):
    monkeypatch.delenv("INPAINTLIB_PROFILE", raising=False)
    assert get_profile().name == ("workshop" if torch.cuda.is_available() else "quick")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_profile().name == "workshop"


def test_unknown_profile_names_valid_ones(monkeypatch):
    with pytest.raises(ValueError, match="quick, workshop, paper"):
        get_profile("huge")
    monkeypatch.setenv("INPAINTLIB_PROFILE", "nope")
    with pytest.raises(ValueError, match="INPAINTLIB_PROFILE"):
        get_profile()


def test_with_returns_modified_copy():
    q = get_profile("quick")
    q2 = q.with_(max_steps=3)
    assert q2.max_steps == 3 and q.max_steps != 3
    assert "quick" in str(q) and "64px" in str(q)
