from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.evaluate import MetaTestProtocol
from benchmarks.leaderboard import cited_once, table_rows, write_leaderboard
from benchmarks.results import checksum, write_result
from tests.benchmarks.conftest import document, write_document

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    for seed in range(3):
        write_document(tmp_path, seed, label="Random")
        write_document(tmp_path, seed, label="Better", offset=5.0, oracle=True)
    return tmp_path


def test_leaderboard_renders_markdown_html_and_plots(results_dir: Path, tmp_path: Path) -> None:
    report = write_leaderboard(results_dir, tmp_path / "site")
    assert report.bad == ()
    assert [(c.label, c.seeds) for c in report.cells] == [("Better", (0, 1, 2)), ("Random", (0, 1, 2))]
    names = sorted(str(p.relative_to(tmp_path / "site")) for p in report.written)
    stem = "leaderboard/unit-test__full__Navigation2D-v0__maml"
    assert names == ["leaderboard.html", "leaderboard.md", f"{stem}__returns.png", f"{stem}__training.png"]
    for path in report.written:
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 5000
    markdown = (tmp_path / "site" / "leaderboard.md").read_text()
    table = markdown.split("## unit-test")[1]
    assert "| agent | seeds | R\\_0 | R\\_1 | R\\_2 | IQM R\\_2 | gap J\\*−R\\_2 |" in table
    rows = [line for line in table.splitlines() if line.startswith(("| Random", "| Better"))]
    assert len(rows) == 2  # one row per agent, R_0..R_2 as columns
    assert rows[0].startswith("| Better | 3 | −35.50 \\[") and rows[0].endswith("| 80 | 600 |  | no target |")
    html = (tmp_path / "site" / "leaderboard.html").read_text()
    assert html.count("<tr>") == 3 + 3 and "__returns.png" in html  # the aggregate table and the experiment's


def test_table_numbers_are_the_seed_statistics(results_dir: Path, tmp_path: Path) -> None:
    report = write_leaderboard(results_dir, tmp_path / "site")
    better = next(c for c in report.cells if c.label == "Better")
    per_seed = np.array([document(s, label="Better", offset=5.0, oracle=True).meta_test.mean_returns()
                         for s in range(3)])
    assert [s.mean for s in better.returns] == pytest.approx(per_seed.mean(axis=0).tolist())
    for k, summary in enumerate(better.returns):
        assert summary.ci[0] <= per_seed[:, k].mean() <= summary.ci[1]
    assert better.gaps[0].mean == pytest.approx(-5.0 - per_seed[:, 0].mean())
    rows = table_rows(better)
    assert [r["k"] for r in rows] == ["0", "1", "2"] and rows[1]["mean"] == f"{per_seed[:, 1].mean():.2f}"
    assert next(c for c in report.cells if c.label == "Random").gaps is None


def test_bad_files_are_refused_and_named_but_the_rest_rendered(results_dir: Path, tmp_path: Path) -> None:
    tampered = sorted(results_dir.rglob("Random__*seed1.json"))[0]
    data = json.loads(tampered.read_text())
    data["meta_test"]["mean_returns"][0] = 0.0
    tampered.write_text(json.dumps(data))
    other = write_document(results_dir / "elsewhere", 3, label="Random",
                           protocol=MetaTestProtocol(adaptation_steps=2, evaluation_episodes=9, adaptation_episodes=9))
    duplicate = results_dir / "copy" / "Random__copy__seed0.json"
    duplicate.parent.mkdir()
    original = sorted(results_dir.rglob("Random__*seed0.json"))[0]
    duplicate.write_text(original.read_text())
    (results_dir / "bound.json").write_text(json.dumps({"not": "a result"}))  # other artifacts are not results
    report = write_leaderboard(results_dir, tmp_path / "site")
    bad = {path: reason for path, reason in report.bad}
    assert len(bad) == 3 and {tampered, other} < set(bad)
    repeated = (set(bad) - {tampered, other}).pop()
    assert repeated in {original, duplicate} and "repeats a seed" in bad[repeated]
    assert "checksum" in bad[tampered] and "protocol differ" in bad[other]
    random = next(c for c in report.cells if c.label == "Random")
    assert random.seeds == (0, 2)
    assert "Refused files" in (tmp_path / "site" / "leaderboard.md").read_text()


def test_checksum_ignores_only_itself() -> None:
    doc = document(0).to_document()
    assert checksum(doc) == checksum({**doc, "checksum": "anything"})
    assert checksum(doc) != checksum({**doc, "seed": 1})


def test_cells_of_another_budget_are_not_ranked_together(results_dir: Path, tmp_path: Path) -> None:
    cheap = MetaTestProtocol(adaptation_steps=2, evaluation_episodes=4, adaptation_episodes=1)
    paths = [write_document(results_dir, seed, label="Trilateration", offset=30.0, protocol=cheap) for seed in (0, 1)]
    report = write_leaderboard(results_dir, tmp_path / "site")
    bad = dict(report.bad)
    assert set(bad) == set(paths) and all("budget" in bad[p] and "'Better'" in bad[p] for p in paths)
    assert {c.label for c in report.cells} == {"Better", "Random"}
    rows = table_rows(next(c for c in report.cells if c.label == "Random"))
    assert [row["steps"] for row in rows] == ["0", "40", "80"]  # the adaptation env steps before each R_k


def test_privileged_cells_get_a_table_of_their_own(results_dir: Path, tmp_path: Path) -> None:
    for seed in range(2):
        record = document(seed, label="Exact model", offset=20.0)
        record = dataclasses.replace(record, meta_test=dataclasses.replace(record.meta_test, track="privileged"))
        write_result(results_dir / record.experiment / record.cell.filename(seed), record)
    report = write_leaderboard(results_dir, tmp_path / "site")
    assert report.bad == ()
    markdown = (tmp_path / "site" / "leaderboard.md").read_text()
    main, privileged = markdown.split("## unit-test")[1:]
    assert "| Better" in main and "| Exact model" not in main
    assert "| Exact model" in privileged and "| Better" not in privileged


def test_each_cited_table_is_named_once_with_its_rows():
    sources = {"pMeta-RL Table V (best over training), MP", "pMeta-RL Table V (best over training), PP",
               "pMeta-RL Table V (best over training), DQN*", "pMeta-RL Table V (best over training)",
               "SG-MRL Table 1", "MAML ICML'17 (docs/sources/maml.md §3)"}
    assert cited_once(sources) == [("MAML ICML'17 (docs/sources/maml.md §3)", []), ("SG-MRL Table 1", []),
                                   ("pMeta-RL Table V (best over training)", ["DQN*", "MP", "PP"])]
