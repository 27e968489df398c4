"""Jobs: the model (a job, its host runs, states and stream records), the events that
report their changes, the runner that queues, limits, times and stops them, and the
direct fan-out of `exec`."""
