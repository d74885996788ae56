"""Reading what researchers bring: files and exports in, canonical text and records out.

Nothing here stores anything or writes a file; raw (identified) text lives only in memory.
``research_repo.services.ingest`` de-identifies what these readers return and stores it.
"""
