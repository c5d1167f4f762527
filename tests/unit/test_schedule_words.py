"""Schedules in plain words: a table of expressions and what a person reads."""

from __future__ import annotations

import pytest

from tickwork.domain.schedule_words import describe_schedule

CASES = [
    # (expression, timezone, words)
    ("* * * * *", "UTC", "every minute"),
    ("*/5 * * * *", "UTC", "every 5 minutes"),
    ("*/5 * * * *", "Europe/Berlin", "every 5 minutes"),  # the zone does not matter
    ("0,20,40 * * * *", "UTC", "every 20 minutes"),
    ("15 * * * *", "UTC", "every hour at :15"),
    ("0,45 * * * *", "UTC", "every hour at :00 and :45"),
    ("@hourly", "UTC", "every hour"),
    ("0 */2 * * *", "UTC", "every 2 hours"),
    ("30 */6 * * *", "UTC", "every 6 hours at :30"),
    ("0 9 * * 1-5", "Europe/Berlin", "weekdays at 09:00, Europe/Berlin"),
    ("0 9 * * MON-FRI", "UTC", "weekdays at 09:00"),
    ("0 9,17 * * 1-5", "UTC", "weekdays at 09:00 and 17:00"),
    ("0 10 * * SAT,SUN", "UTC", "weekends at 10:00"),
    ("0 8 * * 1,3,5", "UTC", "Mondays, Wednesdays and Fridays at 08:00"),
    ("5 4 * * 7", "UTC", "Sundays at 04:05"),
    ("@weekly", "UTC", "Sundays at 00:00"),
    ("@daily", "UTC", "every day at 00:00"),
    ("0 9 * * *", "America/New_York", "every day at 09:00, America/New_York"),
    ("30 2 1 * *", "UTC", "at 02:30 on the 1st of each month"),
    ("0 0 1,15 * *", "UTC", "at 00:00 on the 1st and 15th of each month"),
    ("0 0 22,23 * *", "UTC", "at 00:00 on the 22nd and 23rd of each month"),
    ("0 6 11 * *", "UTC", "at 06:00 on the 11th of each month"),
    ("0 0 L * *", "UTC", "at 00:00 on the last day of each month"),
    ("0 18 LW * *", "UTC", "at 18:00 on the last weekday of each month"),
    ("0 0 * * 5L", "UTC", "at 00:00 on the last Friday of the month"),
    ("0 7 * * 1#2", "UTC", "at 07:00 on the 2nd Monday of the month"),
    ("@yearly", "UTC", "at 00:00 on the 1st of January"),
    ("0 12 * 3-10 *", "UTC", "every day from March to October at 12:00"),
    ("*/5 * * * 1-5", "Europe/Berlin", "every 5 minutes on weekdays, Europe/Berlin"),
    ("*/10 * * * * *", "UTC", "every 10 seconds"),
    ("every 30s", "UTC", "every 30 seconds"),
    ("every 1m", "UTC", "every minute"),
    ("every 1h30m", "UTC", "every 90 minutes"),
    ("every 2d", "UTC", "every 2 days"),
    # What does not read well is shown as written (with its zone when not UTC).
    ("*/15 9-17 * * *", "UTC", "*/15 9-17 * * *"),
    ("0 0 1 * 1", "Europe/Paris", "0 0 1 * 1, Europe/Paris"),
    ("5,10,20,25,50 * * * *", "UTC", "5,10,20,25,50 * * * *"),
    ("10 * * * * *", "UTC", "10 * * * * *"),
    ("not a schedule", "UTC", "not a schedule"),
    ("0 9 * * *", "Nowhere/Nothing", "0 9 * * *, Nowhere/Nothing"),
]


@pytest.mark.parametrize(("expression", "timezone", "words"), CASES)
def test_a_schedule_in_words(expression: str, timezone: str, words: str) -> None:
    assert describe_schedule(expression, timezone) == words
