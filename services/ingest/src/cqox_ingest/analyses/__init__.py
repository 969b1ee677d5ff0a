"""Analyses: start one on a stored dataset version, read its state (the read model), follow its
events, fetch its report and artifacts. `views` (routes), `service` (functions), `models` (in/out)."""
