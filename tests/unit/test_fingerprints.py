"""Error fingerprints: what varies between occurrences is normalised away, what tells errors
apart is kept."""

from __future__ import annotations

from tickwork.domain.fingerprints import fingerprint, normalise_message, top_frame

TB = """Traceback (most recent call last):
  File "/srv/app/.venv/lib/python3.12/site-packages/shop/orders.py", line 10, in run
    charge(order)
  File "/srv/app/.venv/lib/python3.12/site-packages/shop/payments.py", line 42, in charge
    raise PaymentError(f"order {order.id} declined")
shop.payments.PaymentError: order 17 declined
"""


def test_numbers_ids_and_quoted_values_become_placeholders() -> None:
    assert normalise_message("order 17 declined after 2.5s") == "order <n> declined after <n>s"
    assert (
        normalise_message("row 3f2a9c1e-0b7d-4c55-9a1e-2b3c4d5e6f70 missing")
        == "row <uuid> missing"
    )
    assert normalise_message("at 0x7f3a12 and deadbeef42") == "at <hex> and <hex>"
    assert normalise_message("key 'user:42' not in \"cache\"") == "key <str> not in <str>"
    assert normalise_message("  spaced\n  out  ") == "spaced out"
    # Words that happen to be hex letters only stay words.
    assert normalise_message("decade facade") == "decade facade"


def test_top_frame_is_the_innermost_one_relative_to_its_installation() -> None:
    assert top_frame(TB) == "shop/payments.py:charge"
    assert top_frame('  File "/app/job.py", line 3, in <module>\n') == "/app/job.py:<module>"
    assert top_frame("no frames here") is None
    assert top_frame(None) is None


def test_same_error_same_fingerprint_different_errors_apart() -> None:
    a = fingerprint("PaymentError", "order 17 declined", TB)
    b = fingerprint("PaymentError", "order 99 declined", TB.replace("line 42", "line 43"))
    assert a.fingerprint == b.fingerprint and len(a.fingerprint) == 64
    assert a.message == "order <n> declined" and a.frame == "shop/payments.py:charge"
    assert fingerprint("OtherError", "order 17 declined", TB).fingerprint != a.fingerprint
    assert fingerprint("PaymentError", "card expired", TB).fingerprint != a.fingerprint
    elsewhere = TB.replace("in charge", "in refund")
    assert fingerprint("PaymentError", "order 1 declined", elsewhere).fingerprint != a.fingerprint
    assert fingerprint(None, None, None).frame is None
