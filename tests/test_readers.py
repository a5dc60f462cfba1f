"""Tests of pyramid.read and pyramid.write: round trips through the four formats, the
conversions a reader must get right (ids as text, ``None`` as a training level, SPSS value
labels), and a clear InputError for every kind of bad file."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from pyramid.cli import main
from pyramid.data.readers import SUPPORTED_EXTENSIONS, read, write
from pyramid.data.validate import validate
from pyramid.errors import DataWarning, InputError, ValidationError

DATA = Path(__file__).parent / "data" / "observations_small.csv"
FORMATS = list(SUPPORTED_EXTENSIONS)


@pytest.fixture(scope="module")
def good() -> pd.DataFrame:
    return validate(read(DATA))


# --------------------------------------------------------------------------------------------
# round trips
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ext", FORMATS)
def test_round_trip(good, tmp_path, ext):
    path = write(good, tmp_path / f"obs{ext}")
    back = validate(read(path))
    pd.testing.assert_frame_equal(back, good)
    assert back["worker"].iloc[0] == "0111"  # leading zeros survive every format


@pytest.mark.parametrize("ext", FORMATS)
def test_round_trip_cli(good, tmp_path, ext, capsys):
    path = write(good, tmp_path / f"obs{ext}")
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("valid")


def test_rsw2017_reference_data_validates_from_every_format(tmp_path, capsys):
    """Issue 2's acceptance test: `pyramid validate` exits 0 on load_rsw2017() written to CSV,
    Excel and SPSS (and Parquet)."""
    datasets = pytest.importorskip("pyramid.datasets", reason="load_rsw2017 not there yet")
    df = validate(datasets.load_rsw2017())
    for ext in FORMATS:
        path = write(df, tmp_path / f"rsw2017{ext}")
        assert main(["validate", str(path)]) == 0, capsys.readouterr().err
        out = capsys.readouterr().out
        assert out.rstrip().endswith("valid") and f"{len(df)} observations" in out
        pd.testing.assert_frame_equal(validate(read(path)), df.reset_index(drop=True))


def test_write_sav_labels_and_measures(good, tmp_path):
    path = write(good, tmp_path / "obs.sav")
    raw, meta = pyreadstat.read_sav(str(path))
    assert meta.variable_value_labels["training"] == {
        1.0: "none", 2.0: "other", 3.0: "mla", 4.0: "programme",
    }
    assert meta.variable_measure["training"] == "ordinal"
    assert meta.variable_measure["group"] == "nominal"
    assert meta.column_names_to_labels["empathy"] == "empathy score, whole number 1-5"
    assert raw["training"].iloc[0] == 1.0  # 'none' is stored as code 1
    assert raw["worker"].iloc[0] == "0111"


# --------------------------------------------------------------------------------------------
# what a reader must get right
# --------------------------------------------------------------------------------------------
def test_csv_ids_text_and_none_is_a_level(tmp_path):
    path = tmp_path / "obs.csv"
    path.write_text(
        "Observation,worker,unit,authority,training,empathy\n"
        "007,0012,1,2,None,3\n"
        "008,0013,1,2,NA,\n"
    )
    df = read(path)
    assert df["Observation"].tolist() == ["007", "008"]
    assert df["worker"].tolist() == ["0012", "0013"]
    assert df["unit"].tolist() == ["1", "1"]
    assert df["training"].iloc[0] == "None"  # pandas' default would make it missing
    assert pd.isna(df["training"].iloc[1])
    assert validate(df.iloc[:1])["training"].tolist() == ["none"]


@pytest.mark.parametrize("sep", [";", "\t"])
def test_csv_delimiter_detected(good, tmp_path, sep):
    path = tmp_path / "obs.csv"
    good.to_csv(path, sep=sep, index=False)
    df = read(path)
    assert df.attrs["read"]["delimiter"] == sep
    pd.testing.assert_frame_equal(validate(df), good)


def test_csv_byte_order_mark_and_encoding(good, tmp_path):
    path = tmp_path / "bom.csv"
    good.to_csv(path, index=False, encoding="utf-8-sig")
    assert read(path).columns[0] == "observation"
    latin = tmp_path / "latin.csv"
    latin.write_bytes("observation,notes\no1,Jos\xe9\n".encode("cp1252"))
    with pytest.raises(InputError, match=r"line 2 is not valid utf-8-sig text \(byte 0xe9"):
        read(latin)
    assert read(latin, encoding="cp1252")["notes"].item() == "José"
    with pytest.raises(InputError, match="unknown encoding 'klingon'"):
        read(latin, encoding="klingon")


def test_excel_ids_and_none(tmp_path):
    path = tmp_path / "obs.xlsx"
    pd.DataFrame({"observation": ["007", "008"], "Worker": [12, 13], "training": ["None", "mla"]}
                 ).to_excel(path, index=False)
    df = read(path)
    assert df["observation"].tolist() == ["007", "008"]
    assert df["Worker"].tolist() == ["12", "13"]
    assert df["training"].tolist() == ["None", "mla"]


def test_excel_sheets(good, tmp_path):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as xl:
        pd.DataFrame({"read me": ["notes"]}).to_excel(xl, sheet_name="about", index=False)
        good.to_excel(xl, sheet_name="data", index=False)
    with pytest.warns(DataWarning, match=r"has 2 sheets \('about', 'data'\); read the first, "
                                          r"'about'"):
        first = read(path)
    assert list(first.columns) == ["read me"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        by_name = read(path, sheet="data")
        by_position = read(path, sheet=1)
    assert by_name.attrs["read"]["sheet"] == "data"
    pd.testing.assert_frame_equal(validate(by_name), good)
    pd.testing.assert_frame_equal(by_position, by_name)
    with pytest.raises(InputError, match=r"no sheet named 'Data'; sheets: 'about', 'data'"):
        read(path, sheet="Data")
    with pytest.raises(InputError, match=r"no sheet at position 2 \(0-based\)"):
        read(path, sheet=2)


def test_cli_sheet_option(good, tmp_path, capsys):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as xl:
        pd.DataFrame({"read me": ["notes"]}).to_excel(xl, sheet_name="about", index=False)
        good.to_excel(xl, sheet_name="data", index=False)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "warning: " in err and "read the first, 'about'" in err
    assert "required column 'observation' is missing" in err
    assert main(["validate", str(path), "--sheet", "data"]) == 0


def test_spss_value_labels_as_spss_writes_them(tmp_path):
    """A .sav as SPSS users code it: numeric codes with value labels (1-based, clinician
    1 = yes / 2 = no, labelled score points), numeric worker ids."""
    frame = pd.DataFrame({
        "observation": ["a1", "a2", "a3", "a4"],
        "worker": [7.0, 10.0, 8.0, 9.0],
        "unit": ["u1", "u1", "u1", "u2"],
        "authority": ["A", "A", "A", "B"],
        "training": [1.0, 4.0, 2.0, 3.0],
        "discussion": [3.0, np.nan, 2.0, 1.0],
        "clinician": [1.0, np.nan, 2.0, 2.0],
        "empathy": [1.0, 5.0, 3.0, 2.0],
        "site": [1.0, 2.0, 2.0, 1.0],
    })
    path = tmp_path / "spss.sav"
    pyreadstat.write_sav(frame, str(path), variable_value_labels={
        "training": {1: "No Systemic Training", 2: "Other systemic training",
                     3: "MLA systemic training", 4: "Worker on MLA development programme"},
        "discussion": {1: "Non-systemic", 2: "Green shoots", 3: "Systemic"},
        "clinician": {1: "Yes", 2: "No"},
        "empathy": {1: "poor", 5: "excellent"},
        "site": {1: "office", 2: "home"},
    })
    raw = read(path)
    assert raw.attrs["read"]["labels_applied"] == ["training", "discussion", "clinician", "site"]
    assert raw["worker"].tolist() == ["7", "10", "8", "9"]
    assert raw["empathy"].tolist() == [1.0, 5.0, 3.0, 2.0]  # score labels are not applied
    df = validate(raw)
    assert df["training"].tolist() == ["none", "programme", "other", "mla"]
    assert df["discussion"].tolist()[::2] == ["systemic", "green_shoots"]
    assert df["clinician"].tolist() == [1, pd.NA, 0, 0]
    assert df["site"].tolist() == ["office", "home", "home", "office"]


def test_spss_clinician_codes_kept_when_labels_are_not_yes_no(tmp_path):
    frame = pd.DataFrame({"observation": ["a1", "a2"], "clinician": [0.0, 1.0]})
    path = tmp_path / "spss.sav"
    pyreadstat.write_sav(frame, str(path), variable_value_labels={
        "clinician": {0: "No clinician", 1: "Clinician present"},
    })
    assert read(path)["clinician"].tolist() == [0.0, 1.0]


def test_parquet_numeric_ids_become_text(tmp_path):
    path = tmp_path / "obs.parquet"
    pd.DataFrame({"observation": [1, 2], "worker": [10.0, np.nan]}).to_parquet(path)
    df = read(path)
    assert df["observation"].tolist() == ["1", "2"]
    assert df["worker"].iloc[0] == "10" and pd.isna(df["worker"].iloc[1])


# --------------------------------------------------------------------------------------------
# bad files
# --------------------------------------------------------------------------------------------
def test_bad_extension_lists_supported(tmp_path):
    for name, hint in [("obs.json", ""), ("obs.xls", "save the workbook as .xlsx"),
                       ("obs", "")]:
        path = tmp_path / name
        path.write_text("x")
        with pytest.raises(InputError) as info:
            read(path)
        message = str(info.value)
        assert "unsupported file type" in message and hint in message
        assert ".csv (CSV), .parquet (Parquet), .xlsx (Excel workbook), .sav (SPSS" in message


def test_bad_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="nope.csv: no such file"):
        read(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="is a directory"):
        read(tmp_path)


@pytest.mark.parametrize("ext", FORMATS)
def test_bad_empty_file(tmp_path, ext):
    path = tmp_path / f"empty{ext}"
    path.write_bytes(b"")
    with pytest.raises(InputError, match=r"the file is empty \(0 bytes\)"):
        read(path)


@pytest.mark.parametrize("ext", FORMATS)
def test_bad_header_only(good, tmp_path, ext):
    path = write(good.iloc[:0], tmp_path / f"header{ext}")
    with pytest.raises(InputError, match=r"has a header \(observation, worker, .*\) but no data"):
        read(path)


def test_bad_csv_blank_lines_only(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("\n\n  \n")
    with pytest.raises(InputError, match="empty"):
        read(path)


@pytest.mark.parametrize(
    ("ext", "expected"),
    [(".parquet", "not a Parquet file"), (".xlsx", r"not an Excel workbook \(.xlsx\)"),
     (".sav", r"not an SPSS data file \(.sav\)")],
)
def test_bad_text_renamed(tmp_path, ext, expected):
    path = tmp_path / f"renamed{ext}"
    path.write_text("observation,worker\no1,w1\n")
    with pytest.raises(InputError, match=expected + r".*looks like text"):
        read(path)


def test_bad_binary_named_csv(good, tmp_path):
    xlsx = write(good, tmp_path / "obs.xlsx")
    path = tmp_path / "really_excel.csv"
    path.write_bytes(xlsx.read_bytes())
    with pytest.raises(InputError, match="not a CSV text file.*an Excel workbook"):
        read(path)
    noise = tmp_path / "noise.csv"
    noise.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(InputError, match="not a CSV text file.*a binary file"):
        read(noise)


def test_bad_format_swapped(good, tmp_path):
    sav = write(good, tmp_path / "obs.sav")
    path = tmp_path / "spss.parquet"
    path.write_bytes(sav.read_bytes())
    with pytest.raises(InputError, match="not a Parquet file.*an SPSS data file"):
        read(path)


@pytest.mark.parametrize("ext", [".parquet", ".xlsx", ".sav"])
def test_bad_truncated(good, tmp_path, ext):
    whole = write(good, tmp_path / f"whole{ext}").read_bytes()
    path = tmp_path / f"cut{ext}"
    cut = whole[: len(whole) // 2]
    path.write_bytes(cut + whole[-4:] if ext == ".parquet" else cut)  # parquet: keep the footer
    with pytest.raises(InputError, match="damaged|not a readable|cannot be read") as info:
        read(path)
    assert str(path) in str(info.value)


def test_bad_ragged_csv(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("observation,worker\no1,w1\no2,w2,extra,more\n")
    with pytest.raises(InputError, match="not a well-formed CSV file.*line 3"):
        read(path)


def test_write_errors(good, tmp_path):
    with pytest.raises(InputError, match="unsupported file type '.json'"):
        write(good, tmp_path / "obs.json")
    with pytest.raises(InputError, match="does not exist"):
        write(good, tmp_path / "no" / "obs.csv")
    with pytest.raises(InputError, match="cannot write this frame as SPSS data"):
        write(good.assign(**{"bad name!": 1}), tmp_path / "obs.sav")
    with pytest.raises(InputError, match="needs a pandas DataFrame"):
        write([1, 2], tmp_path / "obs.csv")


def test_cli_bad_files_exit_2(good, tmp_path, capsys):
    cases = {}
    renamed = tmp_path / "text.xlsx"
    renamed.write_text("a,b\n")
    cases[renamed] = "not an Excel workbook"
    header = write(good.iloc[:0], tmp_path / "header.sav")
    cases[header] = "but no data rows"
    nul = tmp_path / "nul.csv"
    nul.write_bytes(b"observation\x00,worker\n")
    cases[nul] = "not a CSV text file"
    for path, message in cases.items():
        assert main(["validate", str(path)]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def test_csv_utf16_with_byte_order_mark(good, tmp_path):
    path = tmp_path / "unicode.csv"
    good.to_csv(path, index=False, encoding="utf-16")
    df = read(path)
    assert df.attrs["read"]["encoding"] == "utf-16"
    pd.testing.assert_frame_equal(validate(df), good)


def test_csv_utf16_without_byte_order_mark_names_the_encoding(good, tmp_path, capsys):
    """Issue 22: UTF-16 without a BOM was 'a binary file', with no hint to use --encoding."""
    for enc in ("utf-16-le", "utf-16-be"):
        path = tmp_path / f"{enc}.csv"
        good.to_csv(path, index=False, encoding=enc)
        with pytest.raises(InputError, match=rf"looks like UTF-16 text without a byte-order "
                           rf"mark.*encoding='{enc}'.*CLI: --encoding {enc}"):
            read(path)
        pd.testing.assert_frame_equal(validate(read(path, encoding=enc)), good)
        assert main(["validate", str(path), "--encoding", enc]) == 0
        capsys.readouterr()


def test_id_cells_as_typed_na_dates_fractions(good, tmp_path):
    """Issue 22: 'NA' in an id column reaches validate as text (so its message can name it);
    an Excel date cell in an id column stays a date and a Parquet id 0.5 stays a number, so
    that validate refuses both with the row, instead of passing them as text."""
    csv = tmp_path / "na.csv"
    good.assign(authority=["NA"] + good["authority"].tolist()[1:]).to_csv(csv, index=False)
    raw = read(csv)
    assert raw["authority"].iloc[0] == "NA"
    assert pd.isna(raw["discussion"].iloc[5])  # NA is still missing outside the ids
    with pytest.raises(ValidationError, match=r"row 1, column 'authority': value 'NA': missing "
                       r"authority id.*'NA' is read as missing"):
        validate(raw)

    import datetime

    xlsx = tmp_path / "dates.xlsx"
    frame = good.astype({"worker": object}).reset_index(drop=True)
    frame.loc[2, "worker"] = datetime.datetime(2024, 3, 4)  # '3-4' typed in Excel
    frame.to_excel(xlsx, index=False)
    raw = read(xlsx)
    assert isinstance(raw["worker"].iloc[2], datetime.datetime)
    assert raw["worker"].iloc[0] == "0111"
    with pytest.raises(ValidationError) as info:
        validate(raw)
    assert [(p.row, p.column) for p in info.value.problems] == [(3, "worker")]
    assert "a spreadsheet turned the id into a date" in info.value.problems[0].rule

    parquet = tmp_path / "fractions.parquet"
    numbered = good.assign(observation=np.arange(len(good), dtype=float) + 1)
    numbered.loc[numbered.index[:2], "observation"] = [0.5, 1.5]
    numbered.to_parquet(parquet)
    raw = read(parquet)
    assert raw["observation"].tolist()[:3] == [0.5, 1.5, "3"]
    with pytest.raises(ValidationError) as info:
        validate(raw)
    assert [(p.row, p.value) for p in info.value.problems] == [(1, 0.5), (2, 1.5)]
    assert "which is not a whole number" in info.value.problems[0].rule


def test_sheet_position_given_as_text(good, tmp_path, capsys):
    """Issue 22: `--sheet 1` was read as a sheet named '1'; a number is a 0-based position,
    as in the API, unless a sheet has that name."""
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as xl:
        pd.DataFrame({"read me": ["notes"]}).to_excel(xl, sheet_name="about", index=False)
        good.to_excel(xl, sheet_name="data", index=False)
        pd.DataFrame({"x": [1]}).to_excel(xl, sheet_name="0", index=False)
    assert read(path, sheet="1").attrs["read"]["sheet"] == "data"
    assert read(path, sheet="0").attrs["read"]["sheet"] == "0"  # a sheet's name wins
    with pytest.raises(InputError, match=r"no sheet at position 7 \(0-based\)"):
        read(path, sheet="7")
    assert main(["validate", str(path), "--sheet", "1"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("valid")


def test_csv_leading_blank_lines(tmp_path):
    path = tmp_path / "lead.csv"
    path.write_text("\n\nobservation;worker\no1;w1\n")
    df = read(path)
    assert df.attrs["read"]["delimiter"] == ";"
    assert df["worker"].tolist() == ["w1"]


def test_bad_header_names_a_column_twice(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("observation,training,worker,training\no1,none,w1,mla\n")
    with pytest.raises(InputError, match=r"names column 'training' twice \(columns 2 and 4\)"):
        read(path)
    book = tmp_path / "dup.xlsx"
    pd.DataFrame([["observation", "training", "training"], ["o1", "none", "mla"]]).to_excel(
        book, index=False, header=False
    )
    with pytest.raises(InputError, match=r"names column 'training' twice \(columns 2 and 3\)"):
        read(book)


def test_bad_workbook_contents(tmp_path):
    import zipfile

    from openpyxl import Workbook

    other_zip = tmp_path / "archive.xlsx"
    with zipfile.ZipFile(other_zip, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(InputError, match="not a readable Excel workbook"):
        read(other_zip)
    empty = tmp_path / "empty_sheet.xlsx"
    Workbook().save(empty)
    with pytest.raises(InputError, match="sheet 'Sheet' is empty"):
        read(empty)


def _formula_book(path: Path, cached: bool) -> None:
    """A workbook whose empathy scores are formulas, saved without (or with) their values."""
    import re
    import zipfile

    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["observation", "worker", "unit", "authority", "training", "empathy"])
    for i in range(4):
        ws.append([f"o{i}", f"w{i}", "u1", "A", "none", "=1+2" if i % 2 else 4])
    wb.save(path)
    if cached:  # what Excel writes: the formula and its last result
        with zipfile.ZipFile(path) as z:
            parts = {n: z.read(n) for n in z.namelist()}
        sheet = "xl/worksheets/sheet1.xml"
        parts[sheet] = re.sub(rb"<f>1\+2</f>(<v>\s*</v>|<v/>)?", b"<f>1+2</f><v>3</v>",
                              parts[sheet])
        with zipfile.ZipFile(path, "w") as z:
            for n, data in parts.items():
                z.writestr(n, data)


def test_excel_formula_cells_without_values_are_an_error(tmp_path, capsys):
    path = tmp_path / "formulas.xlsx"
    _formula_book(path, cached=False)
    with pytest.raises(InputError, match=r"2 formula cell\(s\) without a saved value \(F3, F5\)"):
        read(path)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "F3, F5" in err and "Traceback" not in err
    _formula_book(path, cached=True)
    assert read(path)["empathy"].tolist() == [4, 3, 4, 3]
