"""Domain errors carry a code, an English template and params; `localize` renders them in a language."""

from qoima.platform.errors import (Conflict, DomainError, InsufficientStock, InvalidTransition, NotFound,
                                   RowErrors, ValidationError, localize, localize_row, problem_body, row_error)

RU = {"cannot move order from '%(from_status)s' to '%(to_status)s'":
      "нельзя перевести заказ из «%(from_status)s» в «%(to_status)s»",
      "Picking": "Сборка", "Out for delivery": "У курьера",
      "quantity must be at most %(max)s": "количество — не больше %(max)s",
      "not enough stock: %(lines)s": "не хватает товара: %(lines)s",
      "%(sku)s: need %(needed)s, available %(available)s": "%(sku)s: нужно %(needed)s, есть %(available)s"}
LABELS = {"from_status": {"out_for_delivery": "Out for delivery"}, "to_status": {"picking": "Picking"}}


def test_message_is_the_formatted_english_template_and_code_params_are_kept():
    e = ValidationError("quantity must be at most %(max)s", field="quantity", code="stock.quantity_too_big", max=10)
    assert (e.message, str(e), e.code, e.params, e.field) == (
        "quantity must be at most 10", "quantity must be at most 10", "stock.quantity_too_big", {"max": 10},
        "quantity")
    assert localize(e, lambda m: RU.get(m, m)) == "количество — не больше 10"


def test_default_code_derives_from_the_class():
    assert NotFound("no such thing").code == "not_found.not_found"
    assert Conflict("x").code == "conflict.conflict"
    assert DomainError("plain text with 100% and no params").message == "plain text with 100% and no params"


def test_codes_among_params_are_translated_through_labels():
    e = InvalidTransition("out_for_delivery", "picking")
    assert e.code == "orders.invalid_transition"
    assert e.message == "cannot move order from 'out_for_delivery' to 'picking'"
    assert localize(e, lambda m: RU.get(m, m), LABELS) == "нельзя перевести заказ из «У курьера» в «Сборка»"


def test_an_untranslated_template_falls_back_to_english():
    e = ValidationError("something new: %(x)s", code="x.new", x=5)
    assert localize(e, lambda m: RU.get(m, m)) == "something new: 5"


def test_composite_messages_are_localized_piece_by_piece():
    e = InsufficientStock([{"sku": "A-1", "needed": 3, "available": 1}])
    assert e.message == "not enough stock: A-1: need 3, available 1"
    assert localize(e, lambda m: RU.get(m, m)) == "не хватает товара: A-1: нужно 3, есть 1"
    row = row_error(4, "quantity", ValidationError("quantity must be at most %(max)s", code="q", max=7))
    assert row["code"] == "q" and row["params"] == {"max": 7}
    assert localize_row(row, lambda m: RU.get(m, m)) == "количество — не больше 7"
    rows = RowErrors([row])
    assert rows.message == "1 invalid row(s): line 4: quantity: quantity must be at most 7"


def test_problem_body_keeps_english_detail_and_adds_code_and_params():
    body = problem_body(InvalidTransition("new", "shipped"))
    assert body["detail"] == "cannot move order from 'new' to 'shipped'"
    assert body["code"] == "orders.invalid_transition"
    assert body["params"] == {"from_status": "new", "to_status": "shipped"}
    assert body["from_status"] == "new" and body["status"] == 409 and body["field"] == "status"
    shortage = problem_body(InsufficientStock([{"sku": "A", "needed": 2, "available": 0}]))
    assert shortage["shortfalls"] == [{"sku": "A", "needed": 2, "available": 0}]
    assert "shortfalls" not in shortage["params"]
