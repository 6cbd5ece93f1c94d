"""A grant's consent receipt as a download, for the resident's, the department's and the
office's pages (the API has its own answer, ``/api/v1/grants/{grantId}/receipt``).

Who may have it is the library's rule, asked of the chain's view (:func:`ledger.receipts.
reader_of`), and each page asks it for its own audience: anyone else gets 404, as for a grant
that does not exist, so grant ids cannot be probed.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, abort, flash, redirect
from flask_babel import get_locale
from flask_babel import gettext as _

from ledger.errors import InputError, NotFoundError, VerificationError
from ledger.receipts import ReceiptReader, build, reader_of

from .services import services


def receipt_download(grant_id: str, address: str, reader: ReceiptReader, *, back: str) -> Any:
    """The signed receipt as a JSON attachment, or 404; back to ``back`` with a message when
    the stored terms no longer hash to the chain's (no receipt that would not verify)."""
    ledger = services().ledger
    try:
        if reader_of(ledger.view, grant_id, address) != reader:
            abort(404)
    except (NotFoundError, InputError):
        abort(404)
    language = "en" if str(get_locale()) == "en" else "zh-CN"
    try:
        document = build(ledger, grant_id, signer=ledger.account(ledger.settings.anchorer), language=language)
    except NotFoundError:
        abort(404)
    except VerificationError:
        flash(_("The consent record cannot be made: this permission's stored terms do not match the chain. "
                "Please tell the subdistrict office."), "error")  # fmt: skip
        return redirect(back)
    response = Response(json.dumps(document, ensure_ascii=False, indent=2), mimetype="application/json")
    name = f"gridledger-consent-receipt-{document['evidence']['grantId'][2:14]}.json"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
