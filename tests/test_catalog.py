"""The Contact ID and SIA catalogues: the shipped tables, their ranking rules, the lookup API."""

from __future__ import annotations

import csv
import io
from importlib import resources

import pytest

from centinela.receiver import catalog
from centinela.receiver.catalog import CatalogError, CodeInfo

# fire, gas, holdup, heat, medical, panic, emergency, sprinkler
LIFE_SAFETY_SIA_FAMILIES = "FGHKMPQS"


def shipped_rows(name: str) -> tuple[list[str], list[dict[str, str]]]:
    """The raw CSV as installed with the package, read with nothing but the csv module."""
    text = resources.files("centinela.receiver").joinpath("catalogs").joinpath(name).read_bytes()
    reader = csv.DictReader(io.StringIO(text.decode("utf-8"), newline=""), strict=True)
    rows = list(reader)
    return list(reader.fieldnames or []), rows


@pytest.mark.parametrize(
    ("name", "columns"),
    [
        ("contact_id.csv", ["code", "priority", "number", "category", "es", "en"]),
        ("sia.csv", ["code", "priority", "number", "category", "restore_of", "es", "en"]),
    ],
)
def test_every_shipped_row_parses_with_the_csv_module(name: str, columns: list[str]) -> None:
    header, rows = shipped_rows(name)
    assert header == columns
    for row in rows:
        assert None not in row, f"{row['code']}: too many fields"
        assert all(value is not None for value in row.values()), f"{row['code']}: too few fields"
        assert int(row["priority"]) in catalog.PRIORITY_LEVELS, row["code"]
        assert row["number"] in {"zone", "user", "none"}, row["code"]
        assert row["category"] in catalog.CATEGORIES, row["code"]
        assert row["es"].strip() and row["en"].strip(), row["code"]
    codes = [row["code"] for row in rows]
    assert len(codes) == len(set(codes)), "codes must be unique"
    assert codes == sorted(codes), "keep the table in code order"


def test_spanish_text_survives_as_utf8() -> None:
    _, rows = shipped_rows("contact_id.csv")
    by_code = {row["code"]: row for row in rows}
    assert by_code["120"]["es"] == "Pánico"
    assert by_code["100"]["es"] == "Emergencia médica"


def test_tables_are_complete_enough() -> None:
    cid = catalog.all_codes("cid")
    sia = catalog.all_codes("sia")
    assert len(cid) >= 150
    assert len(sia) >= 250
    assert all(info.family == "cid" and len(info.code) == 3 and info.code.isdigit() for info in cid)
    assert all(info.family == "sia" and len(info.code) == 2 and info.code.isupper() for info in sia)
    # each section of the Contact ID standard is represented
    sections = {info.code[:2] for info in cid}
    for section in ("10", "11", "12", "13", "14", "15", "20", "30", "32", "33", "35", "37", "38",
                    "40", "41", "42", "45", "52", "57", "60", "61", "62", "63", "64"):
        assert section in sections, section


@pytest.mark.parametrize(
    ("family", "code", "priority", "number", "category", "es", "en"),
    [
        ("cid", "100", 1, "zone", "medical", "Emergencia médica", "Medical emergency"),
        ("cid", "110", 1, "zone", "fire", "Incendio", "Fire alarm"),
        ("cid", "120", 1, "zone", "panic", "Pánico", "Panic alarm"),
        ("cid", "121", 1, "user", "panic", "Coacción", "Duress"),
        ("cid", "130", 2, "zone", "burglary", "Robo", "Burglary"),
        ("cid", "137", 2, "zone", "burglary", "Sabotaje", "Tamper"),
        ("cid", "162", 1, "zone", "gas", "Monóxido de carbono detectado", 
         "Carbon monoxide detected"),
        ("cid", "200", 4, "zone", "supervisory", "Supervisión de incendio", "Fire supervisory"),
        ("cid", "301", 3, "none", "trouble", "Falla de CA", "AC loss"),
        ("cid", "302", 3, "none", "trouble", "Batería baja", "Low system battery"),
        ("cid", "354", 4, "none", "supervisory", "Falla al comunicar evento",
         "Failure to communicate event"),
        ("cid", "384", 3, "zone", "trouble", "Batería baja de sensor inalámbrico",
         "RF low battery"),
        ("cid", "401", 5, "user", "openclose", "Apertura/cierre por usuario", "Open/close by user"),
        ("cid", "570", 4, "zone", "bypass", "Zona anulada", "Zone/sensor bypass"),
        ("cid", "601", 6, "none", "test", "Prueba manual", "Manual test report"),
        ("cid", "602", 6, "none", "test", "Prueba periódica", "Periodic test report"),
        ("cid", "607", 6, "user", "test", "Modo de prueba de caminata", "Walk test mode"),
        ("sia", "BA", 2, "zone", "burglary", "Robo", "Burglary alarm"),
        ("sia", "FA", 1, "zone", "fire", "Incendio", "Fire alarm"),
        ("sia", "PA", 1, "zone", "panic", "Pánico", "Panic alarm"),
        ("sia", "MA", 1, "zone", "medical", "Emergencia médica", "Medical alarm"),
        ("sia", "HA", 1, "zone", "panic", "Asalto", "Holdup alarm"),
        ("sia", "GA", 1, "zone", "gas", "Alarma de gas", "Gas alarm"),
        ("sia", "OP", 5, "user", "openclose", "Apertura", "Opening report"),
        ("sia", "CL", 5, "user", "openclose", "Cierre", "Closing report"),
        ("sia", "RP", 6, "none", "test", "Prueba automática", "Automatic test"),
        ("sia", "RX", 6, "user", "test", "Prueba manual", "Manual test"),
        ("sia", "AT", 3, "none", "trouble", "Falla de CA", "AC trouble"),
        ("sia", "YT", 3, "none", "trouble", "Batería baja", "System battery trouble"),
        ("sia", "XX", 4, "none", "supervisory", "Falta de prueba", "Fail to test"),
        ("sia", "BB", 4, "zone", "bypass", "Zona de robo anulada", "Burglary bypass"),
    ],
)
def test_well_known_codes(
    family: catalog.Family, code: str, priority: int, number: str, category: str, es: str, en: str
) -> None:
    info = catalog.lookup(family, code)
    assert info is not None
    assert (info.priority, info.number, info.category) == (priority, number, category)
    assert info.description() == es
    assert info.description("es") == es
    assert info.description("en") == en
    assert catalog.describe(family, code, "en") == en


@pytest.mark.parametrize(
    ("restore", "alarm"),
    [
        ("BR", "BA"), ("BH", "BA"), ("FR", "FA"), ("FH", "FA"), ("PR", "PA"), ("MR", "MA"),
        ("HR", "HA"), ("GR", "GA"), ("KR", "KA"), ("WR", "WA"), ("SR", "SA"), ("TR", "TA"),
        ("UR", "UA"), ("ZR", "ZA"), ("QR", "QA"), ("AR", "AT"), ("YR", "YT"), ("LR", "LT"),
        ("XR", "XT"), ("BU", "BB"), ("FJ", "FT"), ("FV", "FS"), ("YK", "YS"), ("NR", "NT"),
    ],
)
def test_sia_restores_pair_with_their_alarm(restore: str, alarm: str) -> None:
    assert alarm in catalog.restored_codes("sia", restore)
    assert alarm in catalog.lookup("sia", restore).restore_of  # type: ignore[union-attr]


def test_ac_restoral_only_restores_ac_trouble() -> None:
    assert catalog.restored_codes("sia", "AR") == ("AT",)
    assert catalog.restored_codes("sia", "BR") == ("BA", "BT", "BS")


def test_every_restore_of_names_an_existing_code_of_another_kind() -> None:
    sia = {info.code: info for info in catalog.all_codes("sia")}
    restores = [info for info in sia.values() if info.restore_of]
    assert len(restores) >= 60
    for info in restores:
        for target in info.restore_of:
            assert target in sia, f"{info.code} -> {target}"
            assert target != info.code
            assert not sia[target].restore_of, f"{target} is itself a restore"


def test_restorals_are_low_for_life_safety_and_info_otherwise() -> None:
    """The rule in catalog.py: level-1 alarm restorals stay visible at 5, all others are 6."""
    sia = {info.code: info for info in catalog.all_codes("sia")}
    for info in sia.values():
        if not info.restore_of:
            continue
        restored = [sia[target] for target in info.restore_of]
        expected = 5 if any(target.priority == 1 for target in restored) else 6
        assert info.priority == expected, info.code
        assert all(info.priority >= target.priority for target in restored), info.code


def test_sia_families_follow_the_letter_pattern() -> None:
    """xA alarm, xB bypass (4), xU unbypass (6, restores xB), xT trouble (3), xS supervisory (4)."""
    sia = {info.code: info for info in catalog.all_codes("sia")}
    zone_families = "BFGHKMPQSTUWZ"
    for letter in zone_families:
        bypass, unbypass = sia[letter + "B"], sia[letter + "U"]
        assert (bypass.category, bypass.priority, bypass.number) == ("bypass", 4, "zone")
        assert (unbypass.category, unbypass.priority) == ("bypass", 6)
        assert unbypass.restore_of == (letter + "B",)
        trouble = sia[letter + "T"]
        assert trouble.priority == 3, trouble.code
        assert sia[letter + "J"].restore_of == (letter + "T",)
        assert sia[letter + "H"].restore_of == (letter + "A",)
        if letter not in "FT":  # FS has its own restore (FV); TS is "test start", not tamper
            assert (sia[letter + "S"].category, sia[letter + "S"].priority) == ("supervisory", 4)
    for letter in LIFE_SAFETY_SIA_FAMILIES:
        assert sia[letter + "A"].priority == 1, letter + "A"
        assert sia[letter + "R"].priority == 5, letter + "R"


def test_contact_id_groups_are_ranked_consistently() -> None:
    cid = {info.code: info for info in catalog.all_codes("cid")}
    for code in ("110", "111", "112", "113", "114", "115", "116", "117"):
        assert (cid[code].category, cid[code].priority) == ("fire", 1)
    for code in ("120", "122", "123", "124", "125"):
        assert (cid[code].category, cid[code].priority) == ("panic", 1)
    for code in ("130", "131", "132", "133", "134", "135", "136"):
        assert (cid[code].category, cid[code].priority) == ("burglary", 2)
    for code in ("200", "201", "202", "203", "204", "205", "206"):
        assert cid[code].category == "supervisory" and cid[code].priority == 4
    for info in cid.values():
        if "570" <= info.code <= "579":
            assert (info.category, info.priority) == ("bypass", 4), info.code
        if "621" <= info.code <= "624":
            assert (info.category, info.priority) == ("log", 6), info.code
        # but the exit-error alarm (374) and an unauthorised panel swap (362, like SIA AA)
        if "320" <= info.code <= "394" and info.code not in ("362", "374"):
            assert info.priority >= 3, f"{info.code}: troubles are never more than medium"
        if info.code.startswith("4") and info.category == "openclose":
            assert info.number == "user" or info.code in ("910", "911"), info.code


@pytest.mark.parametrize("family", ["cid", "sia"])
def test_troubles_are_medium_and_their_restorals_info(family: catalog.Family) -> None:
    for info in catalog.all_codes(family):
        if info.category == "trouble":
            assert info.priority == (6 if info.restore_of else 3), info.code


def test_sia_lookup_ignores_letter_case_and_padding() -> None:
    assert catalog.lookup("sia", "ba") == catalog.lookup("sia", "BA")
    assert catalog.lookup("sia", " op ") == catalog.lookup("sia", "OP")
    assert catalog.describe("sia", "fa") == "Incendio"
    assert catalog.restored_codes("sia", "br") == ("BA", "BT", "BS")


def test_cid_restore_is_the_same_code() -> None:
    assert catalog.restored_codes("cid", "130") == ("130",)
    assert catalog.restored_codes("cid", " 301 ") == ("301",)
    assert catalog.restored_codes("cid", "999") == ("999",)
    assert catalog.restored_codes("cid", None) == ()
    assert catalog.restored_codes("sia", "BA") == ()
    assert catalog.restored_codes("sia", "QQ") == ()


def test_unknown_codes_get_placeholders() -> None:
    assert catalog.lookup("cid", "999") is None
    assert catalog.lookup("sia", "QQ") is None
    assert catalog.lookup("cid", "") is None
    assert catalog.describe("cid", "999") == "Código desconocido 999"
    assert catalog.describe("cid", "999", "en") == "Unknown code 999"
    assert catalog.describe("sia", "qq", "en") == "Unknown code QQ"
    assert catalog.describe("sia", None) == "Sin código"
    assert catalog.describe("cid", None, "en") == "No code"
    assert catalog.describe("cid", "   ", "en") == "No code"
    # a family the catalogue does not know is still described, not an exception
    assert catalog.describe("ademco-4+2", "13", "en") == "Unknown code 13"  # type: ignore[arg-type]


def test_unknown_code_info_is_high_so_an_operator_looks() -> None:
    info = catalog.unknown("sia", "qq")
    assert info == CodeInfo(
        family="sia", code="QQ", priority=2, number="zone", category="other", restore_of=(),
        es="Código desconocido QQ", en="Unknown code QQ",
    )
    assert catalog.unknown("cid", None).description("en") == "No code"
    assert catalog.unknown("cid", None).priority == catalog.UNKNOWN_PRIORITY == 2


def test_language_selection() -> None:
    info = catalog.lookup("cid", "602")
    assert info is not None
    assert info.description("en_US") == "Periodic test report"
    assert info.description("en-GB") == "Periodic test report"
    assert info.description("EN") == "Periodic test report"
    assert info.description("es_AR") == "Prueba periódica"
    assert info.description("pt") == "Prueba periódica"  # Spanish is the default UI language


def test_all_codes_rejects_an_unknown_family() -> None:
    with pytest.raises(ValueError):
        catalog.all_codes("dc09")  # type: ignore[arg-type]


def test_lookup_returns_the_same_loaded_objects() -> None:
    assert catalog.lookup("cid", "130") is catalog.lookup("cid", "130")
    assert catalog.lookup("cid", "130") in catalog.all_codes("cid")


GOOD_SIA = "code,priority,number,category,restore_of,es,en\nBA,2,zone,burglary,,Robo,Burglary\n"
CID_HEADER = "code,priority,number,category,es,en\n"


@pytest.mark.parametrize(
    ("family", "text", "message"),
    [
        ("sia", GOOD_SIA + "BA,2,zone,burglary,,Robo,Burglary\n", "test.csv:3: duplicate code BA"),
        ("sia", GOOD_SIA + "BR,7,zone,burglary,BA,Rest.,Restoral\n", "test.csv:3: priority 7"),
        ("sia", GOOD_SIA + "BR,x,zone,burglary,BA,Rest.,Restoral\n", "is not a number"),
        ("sia", GOOD_SIA + "BR,6,area,burglary,BA,Rest.,Restoral\n", "number 'area'"),
        ("sia", GOOD_SIA + "BR,6,zone,robbery,BA,Rest.,Restoral\n", "unknown category 'robbery'"),
        ("sia", GOOD_SIA + "BR,6,zone,burglary,BA,,Restoral\n", "both descriptions"),
        ("sia", GOOD_SIA + "BR,6,zone,burglary,BA ZZ,Rest.,Restoral\n", "unknown code(s) ZZ"),
        ("sia", GOOD_SIA + "BR,6,zone,burglary,BA,Rest.\n", "expected 7 fields"),
        ("sia", GOOD_SIA + "B1,6,zone,burglary,,Rest.,Restoral\n", "bad sia code 'B1'"),
        ("cid", CID_HEADER + "13,2,zone,burglary,Robo,Burglary\n", "bad cid code"),
        ("cid", "code,priority,number,category,restore_of,es,en\n", "columns must be"),
    ],
)
def test_a_broken_table_fails_loudly_with_its_line(
    family: catalog.Family, text: str, message: str
) -> None:
    with pytest.raises(CatalogError, match=message.replace("(", r"\(").replace(")", r"\)")):
        catalog.parse_table(family, io.StringIO(text, newline=""), source="test.csv")


def test_parse_table_reads_quoted_commas() -> None:
    text = CID_HEADER + '130,2,zone,burglary,"Robo, interior","Burglary, interior"\n'
    table = catalog.parse_table("cid", io.StringIO(text, newline=""), source="test.csv")
    assert table["130"].es == "Robo, interior"
    assert table["130"].restore_of == ()
