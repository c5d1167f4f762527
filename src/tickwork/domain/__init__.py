"""Pure domain model: tasks, schedules, jobs, runs and policies. No I/O, no clock, no SQL."""
