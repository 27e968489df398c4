"""The engine's record of how far it followed each routed run: what an engine started
after a crash reads to follow those runs on from the right event."""

from __future__ import annotations

from pathlib import Path

from console.workers.progress import RunProgress


def test_each_applied_event_is_readable_at_once_by_another_engine(tmp_path: Path) -> None:
    """Written while its file stays open, read as a restarted engine reads it: each
    line must have reached the OS when `record` returns (a killed engine loses none)."""
    progress = RunProgress(tmp_path)
    progress.handed_over("job1", "web1", resumed=False)
    progress.handed_over("job1", "web2", resumed=False)
    progress.record("job1", "web1", 7)
    progress.run_ended("job1", "web2")
    assert RunProgress(tmp_path).unfinished("job1") == {"web1": 7}
    progress.record("job1", "web1", 12)
    assert RunProgress(tmp_path).unfinished("job1") == {"web1": 12}


def test_the_file_goes_when_the_last_run_ended_and_stays_when_the_engine_stops(
    tmp_path: Path,
) -> None:
    progress = RunProgress(tmp_path)
    progress.handed_over("done", "web1", resumed=False)
    progress.handed_over("open", "web1", resumed=False)
    progress.record("open", "web1", 3)
    progress.run_ended("done", "web1")
    progress.close()
    restarted = RunProgress(tmp_path)
    assert not restarted.has("done")
    assert restarted.unfinished("open") == {"web1": 3}
    restarted.handed_over("open", "web1", resumed=True)  # followed on from 3
    restarted.record("open", "web1", 9)
    restarted.run_ended("open", "web1")
    assert not restarted.has("open")
    assert not any(Path(tmp_path, "worker-runs").iterdir())
