"""The texts the backorder fill and the stock services write are templates, so pages show them translated."""

from __future__ import annotations

import pytest

from qoima.entrypoints.web.i18n import localize_ledger_reason, localize_reason
from qoima.orders.domain import reasons
from qoima.orders.services.backorders import current_reason


@pytest.mark.parametrize("where, short, ru", [
    (["AST", "ALA"], 0, "ожидаемый товар поступил: заказ зарезервирован; отгрузка со склада AST+ALA"),
    (["ALA"], 2, "ожидаемый товар частично поступил на склад ALA; ещё ожидается: 2 шт."),
    ([], 1, "ожидаемый товар частично поступил на склад -; ещё ожидается: 1 шт.")])
def test_a_fill_reason_is_parsed_back_and_shown_in_russian(where, short, ru):
    stored = current_reason(where, short)
    assert reasons.parse(stored) is not None
    assert localize_reason(stored, "ru") == ru
    assert localize_reason(stored, "en") == stored


@pytest.mark.parametrize("stored, ru", [
    ("supplier delivery Steppe Ceramics", "поставка от поставщика Steppe Ceramics"),
    ("supplier delivery", "поставка от поставщика"), ("transfer to AST", "перемещение на склад AST"),
    ("automatic put-away", "автоматическое размещение"), ("putaway", "размещение"),
    ("count correction: typed by a user", "count correction: typed by a user"), ("", "")])
def test_ledger_reasons_of_the_services_are_translated_and_typed_ones_kept(stored, ru):
    assert localize_ledger_reason(stored, "ru") == ru
    assert localize_ledger_reason(stored, "en") == stored
