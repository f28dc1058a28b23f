"""The operator's TAC allow-list file: CSV, line numbers in errors, nothing half-loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from famsim.adapters.tac_list import TacListError, load_tac_allow_list, parse_tac_allow_list

pytestmark = pytest.mark.unit


def test_rows_header_comments_and_extra_columns() -> None:
    text = "tac,maker,model\n35332211,Acme,Phone 5\n\n# watches\n86753099,Acme,Watch 2\n"
    assert parse_tac_allow_list(text).tacs == frozenset({"35332211", "86753099"})


def test_a_bad_row_is_reported_with_its_line_and_nothing_is_loaded() -> None:
    text = "35332211\n86753099\n8675309X,typo\n"
    with pytest.raises(TacListError, match=r"tacs.csv: line 3: '8675309X'"):
        parse_tac_allow_list(text, source="tacs.csv")


def test_an_empty_list_is_refused() -> None:
    with pytest.raises(TacListError, match="no TAC"):
        parse_tac_allow_list("tac\n# nothing yet\n")


def test_files_are_read_as_utf8_with_or_without_bom(tmp_path: Path) -> None:
    path = tmp_path / "tacs.csv"
    path.write_text("\ufefftac\n35332211\n", encoding="utf-8")
    assert load_tac_allow_list(path).tacs == frozenset({"35332211"})
    with pytest.raises(TacListError, match="cannot read"):
        load_tac_allow_list(tmp_path / "missing.csv")
    (tmp_path / "latin1.csv").write_bytes(b"35332211,caf\xe9\n")
    with pytest.raises(TacListError, match="not UTF-8"):
        load_tac_allow_list(tmp_path / "latin1.csv")
