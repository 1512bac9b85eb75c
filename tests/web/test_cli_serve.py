"""`dunning-connector serve`: the scheduler runs inside it on the flag or on DUNNING_SCHEDULER."""

from __future__ import annotations

import pytest

from connector import cli


@pytest.mark.parametrize(("argv", "env", "expected"), [
    (["serve"], {}, False),
    (["serve", "--with-scheduler"], {}, True),
    (["serve"], {"DUNNING_SCHEDULER": "1"}, True),
    (["serve"], {"DUNNING_SCHEDULER": "0"}, False),
])
def test_serve_runs_the_scheduler_when_asked(monkeypatch, tmp_path, argv, env, expected):
    monkeypatch.setenv("DUNNING_MODE", "demo")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/cli.sqlite")
    monkeypatch.delenv("DUNNING_SCHEDULER", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    seen = []
    monkeypatch.setattr(cli, "_serve", lambda app, *, with_scheduler: seen.append(with_scheduler) or 0)

    assert cli.main(argv) == 0
    assert seen == [expected]
