"""The Dagster code location: definitions, resources, jobs, schedules, sensors, IO."""
