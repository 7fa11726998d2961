"""Names shared by assets, checks, jobs and schedules."""

from datetime import date

from dagster import DailyPartitionsDefinition

GROUP_SOURCES = "sources"
GROUP_PROTECTION = "protection"
GROUP_SKOLPLIKT = "skolplikt"
GROUP_FRANVARO = "franvaro"
GROUP_AVGIFTER = "avgifter"
GROUP_ATGARDSPROGRAM = "atgardsprogram"
GROUP_DELIVERY = "delivery"

CHECK_ROWS = "radrakning"
CHECK_PANDERA = "pandera"
CHECK_GX = "great_expectations"

TIMEZONE = "Europe/Stockholm"


def attendance_partitions(start: date) -> DailyPartitionsDefinition:
    """Attendance is one file per school day; partitions cover every calendar day (weekends
    stay empty) from `start`, the data dir's first attendance day
    (`skyddsnat.rules.attendance_start`), through tomorrow."""
    return DailyPartitionsDefinition(start_date=start.isoformat(), timezone=TIMEZONE,
                                     end_offset=1)
