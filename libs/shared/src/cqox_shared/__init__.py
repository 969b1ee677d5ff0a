"""Runtime shared by every CQOx service: settings, logging, bus, database, artifacts, telemetry."""
