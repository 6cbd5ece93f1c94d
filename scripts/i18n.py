"""Keeps the Chinese catalogues in step with the code.

    .venv/bin/python scripts/i18n.py update   # add new messages to each area's messages.po
    .venv/bin/python scripts/i18n.py check    # list messages without a translation (exit 1 if any)
    .venv/bin/python scripts/i18n.py set AREA FILE.json   # merge {"English": "中文"} into an area

Each area (the app's shared files, and each blueprint) has its own catalogue beside it:
webapp/[<blueprint>/]translations/zh_Hans_CN/LC_MESSAGES/messages.po. Translations already
there are kept; messages no longer used are dropped.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from babel.messages.catalog import Catalog  # noqa: E402
from babel.messages.pofile import read_po, write_po  # noqa: E402

from webapp.i18n import AREAS, catalogue_path, extract, untranslated  # noqa: E402


def update(area: str) -> int:
    path = catalogue_path(area)
    old: dict[str, str] = {}
    if path.exists():
        with path.open("rb") as source:
            old = {str(m.id): str(m.string) for m in read_po(source) if m.id}
    catalog = Catalog(locale="zh_CN", project="gridledger", charset="utf-8", fuzzy=False)
    for text, places in sorted(extract(area).items()):
        catalog.add(text, old.get(text, ""), locations=places)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        write_po(out, catalog, width=120, omit_header=False, sort_output=True)
    return sum(1 for m in catalog if m.id and not m.string)


def set_translations(area: str, translations: dict[str, str]) -> int:
    """Merges translations into an area's catalogue (after ``update``); returns how many
    messages are still untranslated."""
    path = catalogue_path(area)
    with path.open("rb") as source:
        catalog = read_po(source)
    unknown = sorted(set(translations) - {str(m.id) for m in catalog if m.id})
    if unknown:
        raise SystemExit(f"not messages of {area or 'webapp'}: {unknown}")
    for message in catalog:
        if message.id and str(message.id) in translations:
            message.string = translations[str(message.id)]
    catalog.fuzzy = False
    with path.open("wb") as out:
        write_po(out, catalog, width=120, sort_output=True)
    return sum(1 for m in catalog if m.id and not m.string)


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else "check"
    if command == "set":
        import json

        area = "" if sys.argv[2] == "webapp" else sys.argv[2]
        update(area)
        left = set_translations(area, json.loads(Path(sys.argv[3]).read_text(encoding="utf-8")))
        print(f"{sys.argv[2]}: {left} untranslated")
        return 0
    missing = 0
    for area in AREAS:
        if not (Path(catalogue_path(area)).parent.parent.parent.parent.exists()):
            continue
        if command == "update":
            count = update(area)
        else:
            count = len(untranslated(area))
            for text in untranslated(area):
                print(f"{area or 'webapp'}: {text!r}")
        missing += count
        print(f"{area or 'webapp'}: {count} untranslated")
    return 1 if missing and command == "check" else 0


if __name__ == "__main__":
    sys.exit(main())
