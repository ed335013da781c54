"""BENCHMARKS.md shows the figures of benchmarks/results/*.json and no others: every table carries, just above it, a
comment naming the JSON and, one line per body row, one token per cell:

    <!-- results/attack_person.json
    - clean_ap50 recall25/clean
    -->
    | condition | AP@0.5 | recall@0.25 |
    |---|---|---|
    | CLEAN | 0.967 | 0.994 |

A token is a key path into the JSON (`/` between levels, list items by index), `-` for a cell that holds no figure
(a label, a dash), several keys joined by `,` for a cell with several figures in order ("8 / 8", "0.296 ± 0.060"),
and `*100` after a key shown as a percentage or in points. A figure matches its key when it is the JSON value
rounded to the digits shown. A table without the comment fails: no figure reaches a table unchecked."""

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "BENCHMARKS.md"
RESULTS = REPO / "benchmarks" / "results"
SOURCE = re.compile(r"<!-- (results/[\w.-]+\.json)\n(.*?)-->\n", re.S)
FIGURE = re.compile(r"[-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _value(data, path: str) -> float:
    key, _, scale = path.partition("*")
    node = data
    for part in key.split("/"):
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        raise TypeError(f"{path} is {node!r}, not a number")
    return node * (float(scale) if scale else 1)


def _matches(shown: str, value: float) -> bool:
    text = shown.replace(",", "").replace("−", "-")
    digits = len(text.partition(".")[2])
    return abs(float(text) - value) <= 0.5 * 10 ** -digits + 1e-9


def checked_tables(text: str):
    """(json name, key lines, body rows, line number) for each sourced table."""
    lines = text.splitlines()
    for match in SOURCE.finditer(text):
        start = text.count("\n", 0, match.end())
        body = []
        for line in lines[start + 2:]:  # past the header row and the |---| row
            if not line.startswith("|"):
                break
            body.append(line)
        keys = [line.split() for line in match.group(2).strip().splitlines()]
        yield match.group(1), keys, body, start + 1


def figure_errors(text: str, root: Path = RESULTS.parent) -> list[str]:
    """root: the folder the comments' results/NAME.json paths start from (benchmarks/)."""
    errors = []
    for name, key_rows, body, line_no in checked_tables(text):
        data = json.loads((root / name).read_text())
        if len(key_rows) != len(body):
            errors.append(f"line {line_no}: {len(key_rows)} key lines for {len(body)} rows")
            continue
        for row_no, (tokens, row) in enumerate(zip(key_rows, body), start=line_no + 2):
            cells = _cells(row)
            if len(tokens) != len(cells):
                errors.append(f"line {row_no}: {len(tokens)} keys for {len(cells)} cells")
                continue
            for token, cell in zip(tokens, cells):
                if token == "-":
                    continue
                shown, keys = FIGURE.findall(cell), token.split(",")
                if len(shown) != len(keys):
                    errors.append(f"line {row_no}: cell {cell!r} holds {len(shown)} figures for keys {keys}")
                    continue
                for figure, key in zip(shown, keys):
                    try:
                        value = _value(data, key)
                    except (KeyError, IndexError, ValueError, TypeError) as error:
                        errors.append(f"line {row_no}: {name} has no number at {key} ({error})")
                        continue
                    if not _matches(figure, value):
                        errors.append(f"line {row_no}: {figure} is not {name} {key} = {value}")
    return errors


def test_every_figure_in_a_table_is_its_json_value_rounded():
    errors = figure_errors(DOC.read_text())
    assert not errors, "\n".join(errors)


def test_every_table_names_its_source():
    text = DOC.read_text()
    sourced = {line_no for _, _, _, line_no in checked_tables(text)}  # each table's header row
    lines = text.splitlines()
    unsourced = [i + 1 for i, line in enumerate(lines)
                 if line.startswith("|") and (i == 0 or not lines[i - 1].startswith("|")) and i + 1 not in sourced]
    assert not unsourced, f"tables with no <!-- results/NAME.json --> comment above them, at lines {unsourced}"


def test_every_picture_is_in_the_repo():
    missing = [path for path in IMAGE.findall(DOC.read_text()) if not (REPO / path).is_file()]
    assert not missing, missing


@pytest.mark.parametrize("row, keys, fails", [
    ("| ADV | 0.121 |", "- adv_ap50", False),
    ("| ADV | 0.122 |", "- adv_ap50", True),  # 0.1214 does not round to 0.122
    ("| ADV | 12.1 % |", "- adv_ap50*100", False),
    ("| ADV | 2442 |", "- wall_clock_s", False),
    ("| ADV | 0.967 / 0.994 |", "- clean_ap50,recall25/clean", False),
    ("| ADV | 0.967 |", "- no_such_key", True),
    ("| ADV | 0.967 | 1 |", "- clean_ap50", True),  # a cell with no token
])
def test_a_wrong_or_unsourced_figure_is_caught(row, keys, fails, tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "attack_person.json").write_text(json.dumps(
        {"adv_ap50": 0.1214, "wall_clock_s": 2442.2, "clean_ap50": 0.9666, "recall25": {"clean": 0.9936}}))
    text = f"<!-- results/attack_person.json\n{keys}\n-->\n| a | b |\n|---|---|\n{row}\n"
    assert bool(figure_errors(text, tmp_path)) == fails
