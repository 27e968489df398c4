"""Schedules: the model and its recurrence (cron or Azure-style frequencies), the book
that stores them, and the scheduler that fires them."""
