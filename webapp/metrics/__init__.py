"""``/metrics``: the installation's figures for Prometheus (:mod:`ledger.metrics`), in
the text exposition format (:mod:`.exposition`). Not public: see :mod:`.routes`."""
