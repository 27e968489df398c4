"""Webhook intake: the webhook listener runs in its own process, next to the engine.

Why a separate process: a webhook flood must not slow the engine's event loop, which
also fires schedules (within a second of their time) and runs jobs, and one Python
event loop cannot both answer HTTP at the rate of a bare aiohttp server and create,
store and run a job per request. So the engine binds the listening socket and starts
an intake worker on it (`worker.py`); the worker checks each request, appends it to a
durable journal (`journal.py`) and answers 202 with the new job's id; the engine
(`process.py` supervises the worker) turns journal lines into jobs.

Nothing acknowledged is lost: the 202 follows the journal line's fdatasync, the engine
deletes a journal file only once every job in it is durable in the store, and at start
it imports whatever a crash left behind.
"""
