"""`metarl-bench report --videos`: a stored meta-policy before and after adaptation, as mp4s linked
from the leaderboard page (a quick result of a light env; a MuJoCo one takes minutes here, so it is
left to the render tests of the envs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchmarks.cli import app
from benchmarks.experiments import EXPERIMENTS
from benchmarks.runner import run_experiment

pytest.importorskip("moviepy")
cli = CliRunner()


@pytest.fixture(scope="module")
def quick_result(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("results")
    run_experiment(EXPERIMENTS["maml-nav2d"], out, quick=True, progress=None)
    return out


def test_report_videos_writes_before_and_after_mp4s_linked_from_the_page(quick_result: Path, tmp_path: Path) -> None:
    result = cli.invoke(app, ["report", str(quick_result), "--out", str(tmp_path), "--videos"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "and 2 video(s)" in " ".join(result.output.split())
    stem = "maml-nav2d__quick__Navigation2D-v0__maml"
    for when in ("before", "after"):
        video = tmp_path / "leaderboard" / f"{stem}__{when}.mp4"
        assert video.read_bytes()[4:8] == b"ftyp" and video.stat().st_size > 1000  # an mp4 container
    markdown = (tmp_path / "leaderboard.md").read_text()
    assert f"(leaderboard/{stem}__before.mp4)" in markdown and f"(leaderboard/{stem}__after.mp4)" in markdown
    assert "after 1 adaptation round(s)" in markdown
    html = (tmp_path / "leaderboard.html").read_text()
    assert f"href='leaderboard/{stem}__after.mp4'" in html


def test_altered_parameters_give_no_video_and_say_why(quick_result: Path, tmp_path: Path) -> None:
    copy = tmp_path / "results"
    for path in quick_result.rglob("*"):
        if path.is_file():
            target = copy / path.relative_to(quick_result)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes() + (b"x" if path.suffix == ".pt" else b""))
    result = cli.invoke(app, ["report", str(copy), "--out", str(tmp_path / "site"), "--videos"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "no video" in text and "and 0 video(s)" in text
    assert not list((tmp_path / "site").rglob("*.mp4"))
