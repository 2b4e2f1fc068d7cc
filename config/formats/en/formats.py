# One date format across the admin and pages ("7 Dec 2026, 19:51"), in place of Django's
# English defaults ("Dec. 7, 2026, 7:51 p.m."), which read differently from the rest.
DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y, H:i"
TIME_FORMAT = "H:i"
SHORT_DATE_FORMAT = "j M Y"
SHORT_DATETIME_FORMAT = "j M Y, H:i"
MONTH_DAY_FORMAT = "j F"
YEAR_MONTH_FORMAT = "F Y"
