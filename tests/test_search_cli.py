"""``almo search``: one-line errors naming the flag, defaults in --help, JSON and figures."""

import json

import pytest

from almo.cli import main

SMALL = [
    "--docs",
    "200",
    "--topics",
    "3",
    "--clusters",
    "5",
    "--budget",
    "7",
    "--candidates",
    "300",
    "--proxy-tokens",
    "1500",
    "--quiet",
]


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    out = tmp_path_factory.mktemp("search")
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        status = main(
            ["search", *SMALL, "--methods", "climb,uniform,random", "--agnostic", "--out", str(out)]
        )
    return status, buf.getvalue(), out


def test_runs_and_writes_json_and_figures(ran):
    status, text, out = ran
    assert status == 0
    assert "| climb |" in text and "| random |" in text and "agnostic" in text
    data = json.loads((out / "search.json").read_text())
    assert data["format"] == "almo-search/1"
    assert [m["method"] for m in data["methods"]] == ["climb", "uniform", "random"]
    assert [m["proxy_calls"] for m in data["methods"]] == [7, 1, 7]
    assert data["corpus"]["topics"] == 3 and data["clusters"]["k"] >= 1
    assert [r["method"] for r in data["agnostic"]["methods"]] == [
        "agnostic",
        "uniform-target",
        "single-target",
    ]
    for name in ("progress.png", "predicted.png", "weights.png"):
        assert (out / name).stat().st_size > 1000


def test_user_corpus_from_files(tmp_path, capsys):
    texts = tmp_path / "train.txt"
    target = tmp_path / "target.txt"
    texts.write_text(
        "\n".join(
            [
                "the cat sat on the mat",
                "a dog ran in the park",
                "cats and dogs",
                "the park is green",
                "dogs like parks",
            ]
            * 4
        )
    )
    target.write_text("the dog sat in the park\n")
    status = main(
        [
            "search",
            "--texts",
            str(texts),
            "--target",
            str(target),
            "--clusters",
            "3",
            "--budget",
            "7",
            "--candidates",
            "100",
            "--proxy-tokens",
            "50",
            "--methods",
            "climb,uniform",
            "--quality",
            "none",
            "--quiet",
            "--json",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert status == 0
    data = json.loads(capsys.readouterr().out)
    assert data["optimum"]["weights"] is None  # no optimum is known for a user's corpus
    assert data["settings"]["corpus"].endswith("train.txt")


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    text = capsys.readouterr().out
    for flag in ("--budget", "--rounds", "--clusters", "--n-jobs", "--predictor"):
        assert flag in text
    assert "(default: 112)" in text and "(default: 4,2,1)" in text


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--budget", "0"], "`--budget`"),
        (["--budget", "2"], "`--budget`"),
        (["--rounds", "4,x"], "`--rounds`"),
        (["--methods", "climb,grid"], "`--methods`"),
        (["--docs", "3"], "`--docs`"),
        (["--clusters", "0"], "`--clusters`"),
        (["--clusters", "500", "--docs", "100"], "`--clusters`"),
        (["--n-jobs", "0"], "`--n-jobs`"),
        (["--seed", "-2"], "`--seed`"),
        (["--low-quality", "1.5"], "`--low-quality`"),
        (["--concentration", "0"], "`--concentration`"),
        (["--texts", "missing.txt"], "`--target`"),
        (["--texts", "missing.txt", "--target", "missing.txt"], "`--texts`"),
        (["--predictor", "xgb"], "--predictor"),
    ],
)
def test_bad_flags_are_one_line_errors(args, flag, capsys, tmp_path):
    try:
        status = main(["search", *args, "--quiet", "--out", str(tmp_path / "o")])
    except SystemExit as exit_:  # argparse's own checks (choices) exit from the parser
        status = exit_.code
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert err.startswith("almo search: error:") and flag in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_out_must_be_a_folder(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["search", "--quiet", "--out", str(f)]) == 2
    assert "`--out`" in capsys.readouterr().err


def test_empty_corpus_file_is_named(tmp_path, capsys):
    (tmp_path / "e.txt").write_text("\n\n")
    (tmp_path / "t.txt").write_text("a b\n")
    status = main(
        [
            "search",
            "--texts",
            str(tmp_path / "e.txt"),
            "--target",
            str(tmp_path / "t.txt"),
            "--quiet",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert status == 2 and "`--texts`" in capsys.readouterr().err
