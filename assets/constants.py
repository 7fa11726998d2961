"""Names shared by assets, checks, jobs and schedules."""

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
# Attendance is one file per school day; partitions cover every calendar day (weekends stay
# empty), from a date before any läsår a municipality will load.
ATTENDANCE_PARTITIONS = DailyPartitionsDefinition(start_date="2024-07-01", timezone=TIMEZONE,
                                                  end_offset=1)
