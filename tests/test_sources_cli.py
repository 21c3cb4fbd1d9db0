"""``almo collapse``: arguments, printed finals, plots and JSON."""

import argparse
import json

import numpy as np
import pytest

from almo.sources import cli as sources_cli


def _parse(argv):
    sub = argparse.ArgumentParser().add_subparsers()
    return sources_cli.add_parser(sub).parse_args(argv)


def test_collapse_prints_finals_and_writes_plots(tmp_path, capsys):
    args = _parse(
        [
            "--vocab",
            "30",
            "--alpha",
            "0,0.2",
            "--n",
            "40",
            "--generations",
            "6",
            "--replicates",
            "40",
            "--grid-alpha",
            "0,0.5",
            "--grid-n",
            "20,40",
            "--grid-replicates",
            "5",
            "--almo",
            "--almo-generations",
            "2",
            "--almo-replicates",
            "1",
            "--quiet",
            "--out",
            str(tmp_path),
        ]
    )
    assert args.func is sources_cli.run
    assert sources_cli.run(args) == 0
    text = capsys.readouterr().out
    assert "theory" in text and "policies at α = 0.2" in text and "ALMO vs pooling" in text
    for name in [
        "error_vs_generation.png",
        "tail_mass.png",
        "policies.png",
        "final_error_heatmap.png",
        "almo_vs_pooling.png",
    ]:
        assert (tmp_path / name).stat().st_size > 1000, name
    summary = json.loads((tmp_path / "collapse.json").read_text())
    assert set(summary["runs"]) == {"0.0", "0.2"}
    assert np.array(summary["grid"]["final"]).shape == (2, 2)
    assert set(summary["policies"]) == {"replace", "accumulate"}
    # The printed theory column is the exact recursion at the last generation.
    from almo.sources import risk_curve, zipf

    expected = risk_curve(zipf(30, 1.1), 0.2, 40, 6)[-1]
    assert f"{expected:.4g}" in text


@pytest.mark.parametrize("model", ["gaussian", "ridge", "ngram"])
def test_collapse_other_models(tmp_path, capsys, model):
    args = _parse(
        [
            "--model",
            model,
            "--vocab",
            "4",
            "--dim",
            "2",
            "--alpha",
            "0",
            "--n",
            "30",
            "--generations",
            "3",
            "--replicates",
            "5",
            "--no-grid",
            "--quiet",
            "--policy",
            "accumulate",
            "--compare-policy",
            "replace",
            "--out",
            str(tmp_path),
        ]
    )
    assert sources_cli.run(args) == 0
    assert (tmp_path / "error_vs_generation.png").exists()
    assert "theory" not in capsys.readouterr().out


def test_collapse_rejects_bad_lists():
    with pytest.raises(SystemExit):
        _parse(["--alpha", "0,abc"])
